"""CaseWorkflow on the time-skipping test server, projecting into a real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from casebridge.db.models import CaseEvent
from casebridge.domain.model import DepartmentCommand, TextCommand
from casebridge.workflows import CaseWorkflow
from tests.support import OFFICER, courier, default_policy, dept, new_case_id, running_worker

pytestmark = pytest.mark.timeout(120)


async def event_types(sessions: async_sessionmaker[AsyncSession], case_id: str) -> list[str]:
    async with sessions() as session:
        rows = await session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq))
        events = list(rows)
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), "seq must be gapless"
    return [e.type for e in events]


async def test_courier_is_routed_by_policy_and_acknowledged(
    time_env: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with running_worker(time_env.client, sessions) as cases:
        handle, snap = await cases.open(courier(new_case_id(), default_policy()))
        assert [(a.department, a.role, a.status) for a in snap.assignments] == [
            ("hrss", "lead", "pending_ack"),
            ("justice", "assist", "pending_ack"),
        ]
        snap = await handle.execute_update(CaseWorkflow.acknowledge, DepartmentCommand(dept("hrss"), "hrss"))
        assert snap.assignments[0].status == "acknowledged"
        with pytest.raises(WorkflowUpdateFailedError) as failed:
            await handle.execute_update(CaseWorkflow.acknowledge, DepartmentCommand(dept("hrss"), "hrss"))
        assert isinstance(failed.value.cause, ApplicationError)
        assert failed.value.cause.type == "InvalidTransition"
        types = await event_types(sessions, snap.id)
        assert types == ["case.created", "assignment.issued", "assignment.issued", "assignment.acknowledged"]


async def test_missed_acknowledgement_goes_overdue_then_escalates(
    time_env: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with running_worker(time_env.client, sessions) as cases:
        handle, snap = await cases.open(courier(new_case_id(), default_policy()))
        await handle.execute_update(CaseWorkflow.acknowledge, DepartmentCommand(dept("hrss"), "hrss"))
        # justice never acknowledges: 1 working day, then 5 more working days overdue.
        await time_env.sleep(timedelta(days=12))
        snap = await handle.query(CaseWorkflow.snapshot)
        assert snap.status == "escalated"
        justice = next(a for a in snap.assignments if a.department == "justice")
        assert justice.overdue and justice.status == "pending_ack"
        types = await event_types(sessions, snap.id)
        assert "assignment.overdue" in types
        assert types.index("assignment.overdue") < types.index("case.escalated")
        # The worker can still be helped: justice returns it, HR completes, officer resolves.
        await handle.execute_update(
            CaseWorkflow.return_assignment, TextCommand(dept("justice"), "justice", "不属于法律援助范围")
        )
        _ = OFFICER
