"""JointMeetingWorkflow: one per joint meeting (联席会议), workflow id = meeting id.

``planned`` (the agenda assembles itself) → ``agenda_approved`` (frozen) → ``closed`` (minutes
published, undecided items carried over). Decisions reach the cases through an activity that runs
the case workflow's own ``record_decision`` update, so the case stays the owner of its assignments.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from casebridge.activities.meetings import CaseDecisionRequest, MeetingActivities, ReleaseRequest
    from casebridge.domain.meeting import (
        AddItemCommand,
        DismissCommand,
        DropCommand,
        ItemDecisionCommand,
        MeetingInput,
        MeetingMachine,
        MeetingProjection,
        MeetingSnapshot,
        MeetingState,
        MeetingStatus,
        PositionCommand,
        ReorderCommand,
        TopicCommand,
    )
    from casebridge.domain.model import Actor
    from casebridge.workflows.case import PROJECTION_TIMEOUT, rejecting

PROJECTION_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=30))
# A case that refuses the decision (withdrawn meanwhile, say) will refuse it again: do not retry.
CASE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=["InvalidTransition", "NotFound", "Forbidden", "InvalidInput", "UnknownDepartment"],
)


@dataclass
class MeetingWorkflowInput:
    meeting: MeetingInput | None = None
    state: MeetingState | None = None


def _reraise_case_refusal(error: ActivityError) -> ApplicationError:
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return ApplicationError(str(cause), *cause.details, type=cause.type, non_retryable=True)
    return ApplicationError("个案暂不可用 / the case could not be reached", type="Unavailable", non_retryable=True)


@workflow.defn
class JointMeetingWorkflow:
    @workflow.init
    def __init__(self, args: MeetingWorkflowInput) -> None:
        if args.state is not None:
            self.machine = MeetingMachine(args.state)
        else:
            assert args.meeting is not None
            self.machine = MeetingMachine.plan(args.meeting, workflow.now())
        self._lock = asyncio.Lock()
        self._carried = False

    @workflow.run
    async def run(self, args: MeetingWorkflowInput) -> str:
        await self._project()
        await workflow.wait_condition(
            lambda: (
                self.machine.state.status is MeetingStatus.CLOSED
                and self._carried
                and workflow.all_handlers_finished()
                and not self.machine.outbox
            )
        )
        return self.machine.state.status.value

    async def _project(self) -> None:
        async with self._lock:
            while self.machine.outbox:
                events = list(self.machine.outbox)
                await workflow.execute_activity_method(
                    MeetingActivities.project_meeting,
                    MeetingProjection(self.machine.snapshot(), events),
                    start_to_close_timeout=PROJECTION_TIMEOUT,
                    retry_policy=PROJECTION_RETRY,
                )
                del self.machine.outbox[: len(events)]

    async def _apply(self, action: Callable[[], object]) -> MeetingSnapshot:
        with rejecting():
            action()
        await self._project()
        return self.machine.snapshot()

    @workflow.query
    def snapshot(self) -> MeetingSnapshot:
        return self.machine.snapshot()

    @workflow.update
    async def opened(self) -> MeetingSnapshot:
        await self._project()
        return self.machine.snapshot()

    # --- the agenda -------------------------------------------------------------------------

    @workflow.update
    async def add_item(self, cmd: AddItemCommand) -> MeetingSnapshot:
        return await self._apply(lambda: self.machine.add_item(cmd, workflow.now()))

    @add_item.validator
    def _validate_add_item(self, cmd: AddItemCommand) -> None:
        with rejecting():
            self.machine.check_add_item(cmd)

    @workflow.update
    async def submit_position(self, cmd: PositionCommand) -> MeetingSnapshot:
        return await self._apply(lambda: self.machine.submit_position(cmd, workflow.now()))

    @submit_position.validator
    def _validate_position(self, cmd: PositionCommand) -> None:
        with rejecting():
            self.machine.check_position(cmd)

    @workflow.update
    async def reorder(self, cmd: ReorderCommand) -> MeetingSnapshot:
        return await self._apply(lambda: self.machine.reorder(cmd, workflow.now()))

    @reorder.validator
    def _validate_reorder(self, cmd: ReorderCommand) -> None:
        with rejecting():
            self.machine.check_reorder(cmd)

    @workflow.update
    async def drop_item(self, cmd: DropCommand) -> MeetingSnapshot:
        with rejecting():
            item = self.machine.check_drop(cmd)
        if item.case_id is not None:
            try:
                await workflow.execute_activity_method(
                    MeetingActivities.release_case,
                    ReleaseRequest(item.case_id, self.machine.state.id, cmd.reason, cmd.actor),
                    start_to_close_timeout=timedelta(seconds=60),
                    retry_policy=CASE_RETRY,
                )
            except ActivityError as error:
                raise _reraise_case_refusal(error) from error
        return await self._apply(lambda: self.machine.drop(cmd, workflow.now()))

    @drop_item.validator
    def _validate_drop(self, cmd: DropCommand) -> None:
        with rejecting():
            self.machine.check_drop(cmd)

    @workflow.update
    async def accept_topic(self, cmd: TopicCommand) -> MeetingSnapshot:
        return await self._apply(lambda: self.machine.accept_topic(cmd, workflow.now()))

    @accept_topic.validator
    def _validate_accept_topic(self, cmd: TopicCommand) -> None:
        with rejecting():
            self.machine.check_accept_topic(cmd)

    @workflow.update
    async def dismiss_proposal(self, cmd: DismissCommand) -> MeetingSnapshot:
        return await self._apply(lambda: self.machine.dismiss(cmd, workflow.now()))

    @dismiss_proposal.validator
    def _validate_dismiss(self, cmd: DismissCommand) -> None:
        with rejecting():
            self.machine.check_dismiss(cmd)

    @workflow.update
    async def approve_agenda(self, actor: Actor) -> MeetingSnapshot:
        return await self._apply(lambda: self.machine.approve(actor, workflow.now()))

    @approve_agenda.validator
    def _validate_approve(self, actor: Actor) -> None:
        with rejecting():
            self.machine.check_approve(actor)

    # --- decisions and closing ------------------------------------------------------------

    @workflow.update
    async def record_decision(self, cmd: ItemDecisionCommand) -> MeetingSnapshot:
        with rejecting():
            item = self.machine.check_decide(cmd)
        if item.case_id is not None:
            try:
                await workflow.execute_activity_method(
                    MeetingActivities.apply_case_decision,
                    CaseDecisionRequest(
                        item.case_id,
                        self.machine.state.id,
                        cmd.actor,
                        cmd.decision,
                        cmd.lead_department,
                        cmd.assist_departments,
                        cmd.resolve_within,
                    ),
                    start_to_close_timeout=timedelta(seconds=60),
                    retry_policy=CASE_RETRY,
                )
            except ActivityError as error:
                raise _reraise_case_refusal(error) from error
        return await self._apply(lambda: self.machine.decide(cmd, workflow.now()))

    @record_decision.validator
    def _validate_decision(self, cmd: ItemDecisionCommand) -> None:
        with rejecting():
            self.machine.check_decide(cmd)

    @workflow.update
    async def close(self, actor: Actor) -> MeetingSnapshot:
        await self._apply(lambda: self.machine.close(actor, workflow.now()))
        # The next meeting is planned now; undecided cases go onto its agenda.
        next_meeting = await workflow.execute_activity_method(
            MeetingActivities.carry_over,
            self.machine.snapshot(),
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=PROJECTION_RETRY,
        )
        self.machine.record_carry_over(next_meeting, workflow.now())
        self._carried = True
        await self._project()
        return self.machine.snapshot()

    @close.validator
    def _validate_close(self, actor: Actor) -> None:
        with rejecting():
            self.machine.check_close(actor)
