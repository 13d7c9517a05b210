"""Operator actions shared by the admin API and the command line."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError

from casebridge.activities.meetings import write_meeting
from casebridge.activities.projection import write_batch
from casebridge.db import queries
from casebridge.db.models import MeetingItem
from casebridge.domain.meeting import MeetingProjection
from casebridge.domain.model import Actor, ProjectionBatch
from casebridge.workflows import CaseWorkflow

log = structlog.get_logger(__name__)


async def recompute_provisional_deadlines(
    sessions: async_sessionmaker[AsyncSession], temporal: Client, actor: Actor, concurrency: int = 20
) -> tuple[int, int]:
    """Ask every open case with a provisional deadline to recompute it on the current calendar.

    Returns (cases asked, assignments whose deadline moved)."""
    async with sessions() as session:
        case_ids = await queries.open_cases_with_provisional_deadlines(session)
    limit = asyncio.Semaphore(concurrency)

    async def one(case_id: str) -> int:
        async with limit:
            try:
                moved: int = await temporal.get_workflow_handle_for(CaseWorkflow.run, case_id).execute_update(
                    CaseWorkflow.recompute_deadlines, actor
                )
                return moved
            except RPCError as exc:  # a case that ended meanwhile has nothing to recompute
                log.warning("recompute skipped", case_id=case_id, error=str(exc))
                return 0

    moved = await asyncio.gather(*(one(case_id) for case_id in case_ids))
    return len(case_ids), sum(moved)


async def reproject_from_history(
    sessions: async_sessionmaker[AsyncSession], temporal: Client, case_id: str | None = None
) -> tuple[int, int]:
    """Rebuild the read model from the workflows' histories: every projection batch a workflow
    ever recorded (its activity input) is written again. Idempotent — events are keyed by
    (owner, seq) and rows only move forward by version — so it heals a restored or lost database.

    Returns (workflow runs read, batches written)."""
    query = "WorkflowType = 'CaseWorkflow' OR WorkflowType = 'JointMeetingWorkflow'"
    if case_id is not None:
        query = f"WorkflowId = '{case_id}'"
    runs = batches = 0
    async for execution in temporal.list_workflows(query):
        runs += 1
        history = await temporal.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        async with sessions() as session, session.begin():
            for event in history.events:
                if not event.HasField("activity_task_scheduled_event_attributes"):
                    continue
                attributes = event.activity_task_scheduled_event_attributes
                payloads = list(attributes.input.payloads)
                if attributes.activity_type.name == "project_case":
                    [batch] = await temporal.data_converter.decode(payloads, [ProjectionBatch])
                    await write_batch(session, batch)
                elif attributes.activity_type.name == "project_meeting":
                    [meeting] = await temporal.data_converter.decode(payloads, [MeetingProjection])
                    await write_meeting(session, meeting)
                else:
                    continue
                batches += 1
    return runs, batches


async def export_case(sessions: async_sessionmaker[AsyncSession], case_id: str) -> dict[str, Any] | None:
    """Everything Casebridge holds about one case, for the worker's data-access request."""
    async with sessions() as session:
        case = await queries.get_case(session, case_id)
        if case is None:
            return None
        assignments = (await queries.assignments_for(session, [case_id]))[case_id]
        events = await queries.events_for(session, case_id)
        items = list(await session.scalars(select(MeetingItem).where(MeetingItem.case_id == case_id)))

    def row(obj: object, skip: tuple[str, ...] = ()) -> dict[str, Any]:
        columns = obj.__table__.columns  # type: ignore[attr-defined]
        return {c.name: _plain(getattr(obj, c.key)) for c in columns if c.name not in skip}

    return {
        "exported_at": datetime.now(UTC).isoformat(),
        "case": row(case, skip=("search_tokens",)),
        "assignments": [row(a) for a in assignments],
        "events": [row(e) for e in events],
        "meeting_items": [row(i) for i in items],
    }


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
