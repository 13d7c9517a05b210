"""A meeting's decision reaches its case through an activity; a retried attempt of that activity
must not apply the decision twice, nor be refused because the first attempt already applied it."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from casebridge.activities.meetings import CaseDecisionRequest, MeetingActivities
from casebridge.calendar_source import load_calendar
from casebridge.domain.model import CaseTextCommand
from casebridge.workflows import CaseWorkflow
from tests.support import OFFICER, SHANGHAI, courier, default_policy, new_case_id, running_worker
from tests.workflows.test_case_workflow import event_types

pytestmark = pytest.mark.timeout(120)


async def test_a_retried_decision_attempt_gets_the_first_answer(
    time_env: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with running_worker(time_env.client, sessions) as cases:
        handle, _ = await cases.open(courier(new_case_id(), default_policy()))
        escalated = await handle.execute_update(CaseWorkflow.escalate, CaseTextCommand(OFFICER, "部门间无法协调"))
        assert escalated.meeting_id, "the escalated case joins a planned meeting"
        policy = default_policy()
        activities = MeetingActivities(
            sessions,
            lambda: time_env.client,
            cases.task_queue,
            policy.meeting_interval,
            {code: d.name for code, d in policy.departments.items()},
            lambda: load_calendar(None),
            SHANGHAI,
        )
        request = CaseDecisionRequest(
            escalated.id,
            escalated.meeting_id,
            OFFICER,
            "人社局牵头办结",
            "hrss",
            ["justice"],
            "10 working days",
        )
        env = ActivityEnvironment()
        # Two attempts of one activity: same meeting, run and activity id (Temporal's retry).
        env.info = dataclasses.replace(
            env.info, workflow_id=escalated.meeting_id, workflow_run_id="run-1", activity_id="7", attempt=1
        )
        await env.run(activities.apply_case_decision, request)
        env.info = dataclasses.replace(env.info, attempt=2)
        await env.run(activities.apply_case_decision, request)  # answered, not refused

        snap = await handle.query(CaseWorkflow.snapshot)
        assert snap.status == "in_progress"
        types = await event_types(sessions, snap.id)
        assert types.count("case.decision_recorded") == 1, types
