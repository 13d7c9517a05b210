"""The seed scenarios whose histories are saved for replay. Each drives a case as people would."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from casebridge.domain.meeting import ItemDecisionCommand, PositionCommand
from casebridge.domain.model import (
    AgendaCommand,
    CaseTextCommand,
    DecisionCommand,
    DepartmentCommand,
    ExtensionCommand,
    FeedbackCommand,
    MeetingDecisionCommand,
    ResolveCommand,
    SuspendCommand,
    TextCommand,
)
from casebridge.workflows import CaseWorkflow, JointMeetingWorkflow
from tests.support import LEADER, OFFICER, CaseRunner, courier, default_policy, dept, hazard, truck_driver

Handle = WorkflowHandle[CaseWorkflow, str]


async def courier_paid_and_closed(env: WorkflowEnvironment, cases: CaseRunner) -> Handle:
    handle, _ = await cases.open(courier("CB-REPLAY-COURIER", default_policy()))
    for code in ("hrss", "justice"):
        await handle.execute_update(CaseWorkflow.acknowledge, DepartmentCommand(dept(code), code))
    await handle.execute_update(CaseWorkflow.report_progress, TextCommand(dept("hrss"), "hrss", "已约谈企业"))
    await handle.execute_update(
        CaseWorkflow.request_extension, ExtensionCommand(dept("hrss"), "hrss", "10 working days", "企业账目复杂")
    )
    await handle.execute_update(CaseWorkflow.decide_extension, DecisionCommand(OFFICER, "hrss", True))
    for code in ("justice", "hrss"):
        await handle.execute_update(CaseWorkflow.complete, TextCommand(dept(code), code, "已办结"))
    await handle.execute_update(CaseWorkflow.resolve, ResolveCommand(OFFICER, "欠薪全额追回", "36000.00"))
    await handle.execute_update(CaseWorkflow.record_feedback, FeedbackCommand(OFFICER, False, "还差加班费"))
    await handle.execute_update(CaseWorkflow.resolve, ResolveCommand(OFFICER, "加班费也已追回", "38000.00"))
    await handle.execute_update(CaseWorkflow.record_feedback, FeedbackCommand(OFFICER, True, None))
    return handle


async def truck_driver_stalls_and_meeting_decides(env: WorkflowEnvironment, cases: CaseRunner) -> Handle:
    handle, _ = await cases.open(truck_driver("CB-REPLAY-TRUCK", default_policy()))
    await handle.execute_update(CaseWorkflow.acknowledge, DepartmentCommand(dept("traffic"), "traffic"))
    await handle.execute_update(CaseWorkflow.acknowledge, DepartmentCommand(dept("hrss"), "hrss"))
    await handle.execute_update(
        CaseWorkflow.suspend, SuspendCommand(dept("hrss"), "hrss", "等待事故责任认定", "traffic")
    )
    await handle.execute_update(CaseWorkflow.decide_suspension, DecisionCommand(OFFICER, "hrss", True))
    await env.sleep(timedelta(days=90))  # traffic's finding never comes: overdue, then escalation
    await handle.execute_update(CaseWorkflow.add_to_agenda, AgendaCommand(OFFICER, "M-REPLAY-1"))
    await handle.execute_update(
        CaseWorkflow.record_decision,
        MeetingDecisionCommand(
            LEADER, "M-REPLAY-1", "交警十日内出具认定，人社同步启动工伤认定", "traffic", ["hrss"], "10 working days"
        ),
    )
    await handle.execute_update(CaseWorkflow.acknowledge, DepartmentCommand(dept("traffic"), "traffic"))
    await handle.execute_update(CaseWorkflow.complete, TextCommand(dept("traffic"), "traffic", "认定货主全责"))
    return handle


async def hazard_withdrawn(env: WorkflowEnvironment, cases: CaseRunner) -> Handle:
    handle, _ = await cases.open(hazard("CB-REPLAY-HAZARD", default_policy()))
    await env.sleep(timedelta(hours=3))
    await handle.execute_update(CaseWorkflow.return_assignment, TextCommand(dept("traffic"), "traffic", "属物业管理"))
    await handle.execute_update(CaseWorkflow.withdraw, CaseTextCommand(OFFICER, "物业已处置"))
    return handle


async def joint_meeting_decides(env: WorkflowEnvironment, cases: CaseRunner) -> list[WorkflowHandle[Any, Any]]:
    """The case escalates, joins a meeting planned for it, the leader decides; both histories."""
    handle, _ = await cases.open(truck_driver("CB-REPLAY-MEETING", default_policy()))
    snapshot = await handle.execute_update(CaseWorkflow.escalate, CaseTextCommand(OFFICER, "责任争议，无法协调"))
    assert snapshot.meeting_id is not None
    meeting = env.client.get_workflow_handle_for(JointMeetingWorkflow.run, snapshot.meeting_id)
    await meeting.execute_update(
        JointMeetingWorkflow.submit_position,
        PositionCommand(dept("traffic"), "CB-REPLAY-MEETING", "traffic", "需鉴定后认定"),
    )
    await meeting.execute_update(JointMeetingWorkflow.approve_agenda, LEADER)
    await meeting.execute_update(
        JointMeetingWorkflow.record_decision,
        ItemDecisionCommand(LEADER, "CB-REPLAY-MEETING", "交警十日内认定", "traffic", ["hrss"], "10 working days"),
    )
    await meeting.execute_update(JointMeetingWorkflow.close, LEADER)
    return [handle, meeting]


Scenario = Callable[[WorkflowEnvironment, CaseRunner], Awaitable[Handle | list[WorkflowHandle[Any, Any]]]]

SCENARIOS: dict[str, Scenario] = {
    "courier_paid_and_closed": courier_paid_and_closed,
    "truck_driver_stalls_and_meeting_decides": truck_driver_stalls_and_meeting_decides,
    "hazard_withdrawn": hazard_withdrawn,
    "joint_meeting_decides": joint_meeting_decides,
}
