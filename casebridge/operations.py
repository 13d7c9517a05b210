"""Operator actions shared by the admin API and the command line."""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError

from casebridge.db import queries
from casebridge.domain.model import Actor
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
