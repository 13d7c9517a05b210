"""The read-model writer against a real PostgreSQL: one transaction, idempotent, never backwards."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from casebridge.activities.projection import ProjectionActivities
from casebridge.db.models import Assignment, Case, CaseEvent
from casebridge.domain.case import CaseMachine
from casebridge.domain.model import ProjectionBatch, Schedule
from tests.support import courier, default_policy, dept, new_case_id

pytestmark = pytest.mark.timeout(60)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def schedule() -> Schedule:
    return Schedule(
        NOW + timedelta(days=1), NOW + timedelta(days=60), NOW + timedelta(days=8), NOW + timedelta(days=67), False
    )


def drain(machine: CaseMachine) -> ProjectionBatch:
    batch = ProjectionBatch(case=copy.deepcopy(machine.snapshot()), events=list(machine.outbox))
    machine.outbox.clear()
    return batch


async def counts(sessions: async_sessionmaker[AsyncSession], case_id: str) -> tuple[int, int, str, int]:
    async with sessions() as session:
        events = await session.scalar(select(func.count()).where(CaseEvent.case_id == case_id))
        assignments = await session.scalar(select(func.count()).where(Assignment.case_id == case_id))
        case = await session.get(Case, case_id)
        assert case is not None
        return int(events or 0), int(assignments or 0), case.status, case.version


async def test_projection_is_idempotent_and_never_goes_backwards(sessions: async_sessionmaker[AsyncSession]) -> None:
    project = ProjectionActivities(sessions).project_case
    machine = CaseMachine.open(courier(new_case_id(), default_policy()), NOW)
    for department, role in machine.initial_routes(None):
        machine.issue(department, role, schedule(), NOW, "officer")
    first = drain(machine)
    machine.acknowledge(dept("hrss"), "hrss", NOW + timedelta(hours=1))
    second = drain(machine)
    case_id = machine.state.id

    await project(first)
    await project(first)  # a retried activity
    assert await counts(sessions, case_id) == (3, 2, "in_progress", 3)

    await project(second)
    await project(first)  # an older batch arriving late must not roll the case back
    await project(second)
    assert await counts(sessions, case_id) == (4, 2, "in_progress", 4)
    async with sessions() as session:
        hrss = await session.get(Assignment, (case_id, "hrss"))
        assert hrss is not None and hrss.status == "acknowledged"
        seqs = list(
            await session.scalars(select(CaseEvent.seq).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq))
        )
    assert seqs == [1, 2, 3, 4]
