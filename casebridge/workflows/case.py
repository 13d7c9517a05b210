"""CaseWorkflow: one per case, workflow id = case id. The source of truth for the case.

Deterministic: it drives the pure ``CaseMachine``; deadlines come from an activity and are
recorded; timers are ``wait_condition`` timeouts, never polling. Human actions are updates whose
validators reject an illegal action before anything is recorded; each update returns only after
its events are projected, so the API reads its own writes.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Concatenate, ParamSpec, TypeVar, cast

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from casebridge.activities.deadlines import DeadlineActivities
    from casebridge.activities.meetings import MeetingActivities
    from casebridge.activities.projection import ProjectionActivities
    from casebridge.domain.case import CaseMachine, canonical_duration
    from casebridge.domain.errors import DomainError
    from casebridge.domain.model import (
        Actor,
        AgendaCommand,
        AnsweredUpdate,
        CaseChange,
        CaseInput,
        CaseSnapshot,
        CaseState,
        CaseStatus,
        CaseTextCommand,
        DecisionCommand,
        DepartmentCommand,
        ExtensionCommand,
        FeedbackCommand,
        LeaveAgendaCommand,
        MeetingDecisionCommand,
        PlaceRequest,
        ProjectionBatch,
        ResolveCommand,
        RouteCommand,
        Schedule,
        ScheduleRequest,
        SuspendCommand,
        TextCommand,
    )

T = TypeVar("T")
P = ParamSpec("P")
Answer = TypeVar("Answer", CaseSnapshot, int)

SCHEDULE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    # A duration that does not parse can never succeed; everything else (I/O) is worth retrying.
    non_retryable_error_types=["InvalidDuration", "CalendarScanLimitExceeded"],
)
PROJECTION_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
# One transaction of a few rows takes milliseconds; the timeout is how long a projection lost with
# a killed worker holds up its case (and the action waiting on it) before it is retried elsewhere.
# Only the options of the recorded commands change with it, which replay does not compare.
PROJECTION_TIMEOUT = timedelta(seconds=10)
PLACEMENT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
TERMINAL = (CaseStatus.CLOSED, CaseStatus.WITHDRAWN)
# Cases escalated before the joint meeting existed did not join an agenda by themselves.
JOIN_AGENDA_PATCH = "join-agenda-on-escalation"
AGENDA_WAIT = timedelta(seconds=20)
# The server deduplicates update ids within a run only. An update completed in the workflow task
# that continues as new can have its caller's wait aborted and retried by the client onto the new
# run (temporalio/temporal#6375), so the case remembers the updates it applied, across runs, and
# answers a retry with what it answered the first time. Only updates in flight at the hand-over
# can be retried onto the new run (the server admits 10 at once per workflow by default), so a
# few hundred is a wide margin; each costs 1.1-1.6 KB of carried state with 2-3 assignments
# (about 300 KB in all, under the server's 512 KiB payload warning; the test checks it).
ANSWER_RETRIES_PATCH = "answer-retried-updates"
# Deadlines are computed by a local activity: in the worker that runs the workflow task, inside
# that task, so routing a new case costs no trip through the server's matching service per
# department. It only reads the calendar, so running it again after a lost task is harmless.
# Projection stays an ordinary activity on purpose: it writes the read model, and a local
# activity's writes would outlive a workflow task the server then discards (an update's
# speculative task, a worker crash before completion) -- events the case never recorded, which
# test_history_bounds's race found at once. Histories recorded before this replay as they ran.
LOCAL_SCHEDULE_PATCH = "local-deadline-activity"
ANSWERS_KEPT = 200


@dataclass
class CaseWorkflowInput:
    case: CaseInput | None = None
    # Set when the workflow continues as new: the state it carries on with.
    state: CaseState | None = None


@contextmanager
def rejecting() -> Iterator[None]:
    """Turn a domain error into an ApplicationError the caller sees (and Temporal matches by name)."""
    try:
        yield
    except DomainError as exc:
        raise ApplicationError(str(exc), exc.zh, exc.en, type=type(exc).__name__, non_retryable=True) from exc


def applied_once(
    handler: Callable[Concatenate[CaseWorkflow, P], Awaitable[Answer]],
) -> Callable[Concatenate[CaseWorkflow, P], Awaitable[Answer]]:
    """An update handler applied once per update id for the life of the case: a retry of an
    update already applied, in this run or an earlier one, gets its first answer again."""

    @functools.wraps(handler)
    async def apply_once(self: CaseWorkflow, /, *args: P.args, **kwargs: P.kwargs) -> Answer:
        earlier = self._answered_before()
        # Patched: a history recorded before this check applied such a retry again; replay it so.
        if earlier is not None and workflow.patched(ANSWER_RETRIES_PATCH):
            return cast(Answer, self._answer_again(earlier))
        answer = await handler(self, *args, **kwargs)
        self._remember(answer)
        return answer

    return apply_once


def unless_answered(
    validator: Callable[Concatenate[CaseWorkflow, P], None],
) -> Callable[Concatenate[CaseWorkflow, P], None]:
    """A validator that lets a retry of an applied update through: the state it checked has moved
    on (an acknowledged assignment cannot be acknowledged again), but the retry is answered, not
    applied, and its caller must hear that it succeeded."""

    @functools.wraps(validator)
    def validate(self: CaseWorkflow, /, *args: P.args, **kwargs: P.kwargs) -> None:
        if self._answered_before() is None:
            validator(self, *args, **kwargs)

    return validate


@workflow.defn
class CaseWorkflow:
    @workflow.init
    def __init__(self, args: CaseWorkflowInput) -> None:
        if args.state is not None:
            self.machine = CaseMachine(args.state)
            self._opened = True
        else:
            assert args.case is not None
            self.machine = CaseMachine.open(args.case, workflow.now())
            self._opened = False
        self._requested = args.case.departments if args.case is not None else None
        self._projection_lock = asyncio.Lock()
        self._wake = False
        self._placing: asyncio.Task[None] | None = None

    # --- the main loop: initial routing, then durable timers until the case ends --------------

    @workflow.run
    async def run(self, args: CaseWorkflowInput) -> str:
        if not self._opened:
            for department, role in self.machine.initial_routes(self._requested):
                request = self.machine.schedule_request(department, workflow.now())
                schedule = await self._schedule(request)
                self.machine.issue(
                    department, role, schedule, workflow.now(), self._creator(args), issued_at=request.issued_at
                )
            self._opened = True
        await self._project()
        while True:
            if self.machine.state.status in TERMINAL:
                await workflow.wait_condition(
                    lambda: workflow.all_handlers_finished() and not self.machine.outbox and self._placing is None
                )
                return self.machine.state.status.value
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(
                    lambda: workflow.all_handlers_finished() and not self.machine.outbox and self._placing is None
                )
                workflow.continue_as_new(CaseWorkflowInput(state=self.machine.state))
            if self.machine.needs_agenda() and self._placing is None and workflow.patched(JOIN_AGENDA_PATCH):
                # In the background, so deadlines keep firing however long the placement takes.
                self._placing = asyncio.create_task(self._join_agenda())
            next_at = self.machine.next_trigger_at()
            self._wake = False
            if next_at is None or next_at > workflow.now():
                timeout = None if next_at is None else next_at - workflow.now()
                try:
                    await workflow.wait_condition(lambda: self._wake, timeout=timeout)
                except TimeoutError:
                    pass
            self.machine.fire_due(workflow.now())
            await self._project()

    @staticmethod
    def _creator(args: CaseWorkflowInput) -> str:
        return args.case.created_by if args.case is not None else "system"

    async def _schedule(self, request: ScheduleRequest) -> Schedule:
        if workflow.patched(LOCAL_SCHEDULE_PATCH):
            return await workflow.execute_local_activity_method(
                DeadlineActivities.compute_schedule,
                request,
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=SCHEDULE_RETRY,
            )
        return await workflow.execute_activity_method(
            DeadlineActivities.compute_schedule,
            request,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=SCHEDULE_RETRY,
        )

    async def _join_agenda(self) -> None:
        """An escalated case goes onto the earliest planned joint meeting's agenda, once."""
        request = PlaceRequest(self.machine.state.id, self.machine.last_escalation_reason())
        meeting_id = await workflow.execute_activity_method(
            MeetingActivities.place_on_agenda,
            request,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=PLACEMENT_RETRY,
        )
        if self.machine.needs_agenda():  # a decision or a withdrawal may have come meanwhile
            self.machine.add_to_agenda(Actor("system", "system"), meeting_id, workflow.now())
        self._placing = None
        self._wake = True
        await self._project()

    async def _project(self) -> None:
        """Write pending events and the current snapshot to the read model, in order."""
        async with self._projection_lock:
            while self.machine.outbox:
                events = list(self.machine.outbox)
                snapshot = self.machine.snapshot()
                await workflow.execute_activity_method(
                    ProjectionActivities.project_case,
                    ProjectionBatch(case=snapshot, events=events),
                    start_to_close_timeout=PROJECTION_TIMEOUT,
                    retry_policy=PROJECTION_RETRY,
                )
                del self.machine.outbox[: len(events)]

    # --- each update applied once (see ANSWER_RETRIES_PATCH) ------------------------------------

    def _answered_before(self) -> AnsweredUpdate | None:
        info = workflow.current_update_info()
        if info is None:
            return None
        return next((a for a in self.machine.state.answered if a.id == info.id), None)

    def _remember(self, answer: CaseSnapshot | int) -> None:
        info = workflow.current_update_info()
        assert info is not None, "only update handlers remember their answers"
        if isinstance(answer, CaseSnapshot):
            change = CaseChange(
                version=answer.version,
                status=answer.status,
                amount_recovered=answer.amount_recovered,
                updated_at=answer.updated_at,
                due_at=answer.due_at,
                meeting_id=answer.meeting_id,
                assignments=answer.assignments,
            )
            remembered = AnsweredUpdate(info.id, change=change)
        else:
            remembered = AnsweredUpdate(info.id, count=answer)
        answered = self.machine.state.answered
        answered.append(remembered)
        del answered[:-ANSWERS_KEPT]

    def _answer_again(self, earlier: AnsweredUpdate) -> CaseSnapshot | int:
        if earlier.change is None:
            assert earlier.count is not None
            return earlier.count
        change = earlier.change
        return replace(
            self.machine.snapshot(),
            version=change.version,
            status=change.status,
            amount_recovered=change.amount_recovered,
            updated_at=change.updated_at,
            due_at=change.due_at,
            meeting_id=change.meeting_id,
            assignments=change.assignments,
        )

    async def _apply(self, action: Callable[[], None]) -> CaseSnapshot:
        with rejecting():
            action()
        self._wake = True
        await self._project()
        return self.machine.snapshot()

    # --- reads ----------------------------------------------------------------------------

    @workflow.query
    def snapshot(self) -> CaseSnapshot:
        return self.machine.snapshot()

    @workflow.update
    async def opened(self) -> CaseSnapshot:
        """Returns once the case has been routed and projected (the API's create waits on it)."""
        await workflow.wait_condition(lambda: self._opened)
        await self._project()
        return self.machine.snapshot()

    # --- officer: routing -------------------------------------------------------------------

    @workflow.update
    @applied_once
    async def route(self, cmd: RouteCommand) -> CaseSnapshot:
        request = self.machine.schedule_request(cmd.department, workflow.now())
        schedule = await self._schedule(request)

        def route() -> None:
            # Checked again: another update may have routed the department while we computed.
            self.machine.check_route(cmd.department, cmd.role)
            self.machine.issue(
                cmd.department, cmd.role, schedule, workflow.now(), cmd.actor.username, issued_at=request.issued_at
            )

        return await self._apply(route)

    @route.validator
    @unless_answered
    def _validate_route(self, cmd: RouteCommand) -> None:
        with rejecting():
            self.machine.check_route(cmd.department, cmd.role)

    # --- department actions ---------------------------------------------------------------

    @workflow.update
    @applied_once
    async def acknowledge(self, cmd: DepartmentCommand) -> CaseSnapshot:
        return await self._apply(lambda: self.machine.acknowledge(cmd.actor, cmd.department, workflow.now()))

    @acknowledge.validator
    @unless_answered
    def _validate_acknowledge(self, cmd: DepartmentCommand) -> None:
        with rejecting():
            self.machine.check_acknowledge(cmd.actor, cmd.department)

    @workflow.update
    @applied_once
    async def return_assignment(self, cmd: TextCommand) -> CaseSnapshot:
        return await self._apply(
            lambda: self.machine.return_assignment(cmd.actor, cmd.department, cmd.text, workflow.now())
        )

    @return_assignment.validator
    @unless_answered
    def _validate_return(self, cmd: TextCommand) -> None:
        with rejecting():
            self.machine.check_return(cmd.actor, cmd.department)

    @workflow.update
    @applied_once
    async def report_progress(self, cmd: TextCommand) -> CaseSnapshot:
        return await self._apply(
            lambda: self.machine.report_progress(cmd.actor, cmd.department, cmd.text, workflow.now())
        )

    @report_progress.validator
    @unless_answered
    def _validate_progress(self, cmd: TextCommand) -> None:
        with rejecting():
            self.machine.check_progress(cmd.actor, cmd.department)

    @workflow.update
    @applied_once
    async def complete(self, cmd: TextCommand) -> CaseSnapshot:
        return await self._apply(lambda: self.machine.complete(cmd.actor, cmd.department, cmd.text, workflow.now()))

    @complete.validator
    @unless_answered
    def _validate_complete(self, cmd: TextCommand) -> None:
        with rejecting():
            self.machine.check_complete(cmd.actor, cmd.department)

    # --- extensions -----------------------------------------------------------------------

    @workflow.update
    @applied_once
    async def request_extension(self, cmd: ExtensionCommand) -> CaseSnapshot:
        return await self._apply(
            lambda: self.machine.request_extension(cmd.actor, cmd.department, cmd.duration, cmd.reason, workflow.now())
        )

    @request_extension.validator
    @unless_answered
    def _validate_request_extension(self, cmd: ExtensionCommand) -> None:
        with rejecting():
            self.machine.check_request_extension(cmd.actor, cmd.department)
            canonical_duration(cmd.duration)

    @workflow.update
    @applied_once
    async def decide_extension(self, cmd: DecisionCommand) -> CaseSnapshot:
        schedule: Schedule | None = None
        if cmd.approved:
            with rejecting():
                assignment = self.machine.check_decide_extension(cmd.department)
            request = assignment.extension_request
            assert request is not None
            schedule = await self._schedule(CaseMachine.reschedule_request(assignment, request.duration))
        return await self._apply(
            lambda: self.machine.decide_extension(cmd.actor, cmd.department, cmd.approved, schedule, workflow.now())
        )

    @decide_extension.validator
    @unless_answered
    def _validate_decide_extension(self, cmd: DecisionCommand) -> None:
        with rejecting():
            self.machine.check_decide_extension(cmd.department)

    # --- suspension -----------------------------------------------------------------------

    @workflow.update
    @applied_once
    async def suspend(self, cmd: SuspendCommand) -> CaseSnapshot:
        return await self._apply(
            lambda: self.machine.suspend(cmd.actor, cmd.department, cmd.reason, cmd.until_department, workflow.now())
        )

    @suspend.validator
    @unless_answered
    def _validate_suspend(self, cmd: SuspendCommand) -> None:
        with rejecting():
            self.machine.check_suspend(cmd.actor, cmd.department, cmd.until_department)

    @workflow.update
    @applied_once
    async def decide_suspension(self, cmd: DecisionCommand) -> CaseSnapshot:
        return await self._apply(
            lambda: self.machine.decide_suspension(cmd.actor, cmd.department, cmd.approved, workflow.now())
        )

    @decide_suspension.validator
    @unless_answered
    def _validate_decide_suspension(self, cmd: DecisionCommand) -> None:
        with rejecting():
            self.machine.check_decide_suspension(cmd.department, cmd.approved)

    @workflow.update
    @applied_once
    async def resume(self, cmd: DepartmentCommand) -> CaseSnapshot:
        return await self._apply(lambda: self.machine.resume(cmd.actor, cmd.department, workflow.now()))

    @resume.validator
    @unless_answered
    def _validate_resume(self, cmd: DepartmentCommand) -> None:
        with rejecting():
            self.machine.check_resume(cmd.actor, cmd.department)

    # --- officer: case actions ------------------------------------------------------------

    @workflow.update
    @applied_once
    async def escalate(self, cmd: CaseTextCommand) -> CaseSnapshot:
        await self._apply(lambda: self.machine.escalate(cmd.actor, cmd.text, workflow.now()))
        # Answer with the meeting the case joined, when that is quick (it normally is).
        try:
            await workflow.wait_condition(lambda: not self.machine.needs_agenda(), timeout=AGENDA_WAIT)
        except TimeoutError:
            pass
        await self._project()
        return self.machine.snapshot()

    @escalate.validator
    @unless_answered
    def _validate_escalate(self, cmd: CaseTextCommand) -> None:
        with rejecting():
            self.machine.check_escalate()

    @workflow.update
    @applied_once
    async def resolve(self, cmd: ResolveCommand) -> CaseSnapshot:
        return await self._apply(
            lambda: self.machine.resolve(cmd.actor, cmd.summary, cmd.amount_recovered, workflow.now())
        )

    @resolve.validator
    @unless_answered
    def _validate_resolve(self, cmd: ResolveCommand) -> None:
        with rejecting():
            self.machine.check_resolve()

    @workflow.update
    @applied_once
    async def record_feedback(self, cmd: FeedbackCommand) -> CaseSnapshot:
        return await self._apply(
            lambda: self.machine.record_feedback(cmd.actor, cmd.satisfied, cmd.comment, workflow.now())
        )

    @record_feedback.validator
    @unless_answered
    def _validate_feedback(self, cmd: FeedbackCommand) -> None:
        with rejecting():
            self.machine.check_feedback()

    @workflow.update
    @applied_once
    async def withdraw(self, cmd: CaseTextCommand) -> CaseSnapshot:
        return await self._apply(lambda: self.machine.withdraw(cmd.actor, cmd.text, workflow.now()))

    @withdraw.validator
    @unless_answered
    def _validate_withdraw(self, cmd: CaseTextCommand) -> None:
        with rejecting():
            self.machine.check_withdraw()

    # --- the joint meeting seam -------------------------------------------------------------

    @workflow.update
    @applied_once
    async def add_to_agenda(self, cmd: AgendaCommand) -> CaseSnapshot:
        return await self._apply(lambda: self.machine.add_to_agenda(cmd.actor, cmd.meeting_id, workflow.now()))

    @add_to_agenda.validator
    @unless_answered
    def _validate_add_to_agenda(self, cmd: AgendaCommand) -> None:
        with rejecting():
            self.machine.check_add_to_agenda(cmd.meeting_id)

    @workflow.update
    @applied_once
    async def leave_agenda(self, cmd: LeaveAgendaCommand) -> CaseSnapshot:
        return await self._apply(
            lambda: self.machine.leave_agenda(cmd.actor, cmd.meeting_id, cmd.reason, workflow.now())
        )

    @leave_agenda.validator
    @unless_answered
    def _validate_leave_agenda(self, cmd: LeaveAgendaCommand) -> None:
        with rejecting():
            self.machine.check_leave_agenda(cmd.meeting_id)

    @workflow.update
    @applied_once
    async def record_decision(self, cmd: MeetingDecisionCommand) -> CaseSnapshot:
        issued_at = workflow.now()
        schedules = {}
        for department in [cmd.lead_department, *cmd.assist_departments]:
            request = self.machine.schedule_request(department, issued_at, cmd.resolve_within)
            schedules[department] = await self._schedule(request)
        return await self._apply(
            lambda: self.machine.record_decision(
                cmd.actor,
                cmd.meeting_id,
                cmd.decision,
                schedules,
                cmd.lead_department,
                cmd.assist_departments,
                cmd.resolve_within,
                workflow.now(),
                issued_at,
            )
        )

    @record_decision.validator
    @unless_answered
    def _validate_record_decision(self, cmd: MeetingDecisionCommand) -> None:
        with rejecting():
            self.machine.check_record_decision(cmd.meeting_id, cmd.lead_department, cmd.assist_departments)
            canonical_duration(cmd.resolve_within)

    # --- calendar updates -----------------------------------------------------------------

    @workflow.update
    @applied_once
    async def recompute_deadlines(self, actor: Actor) -> int:
        """Recompute provisional deadlines after the calendar gained data; returns how many moved."""
        moved = 0
        for assignment in self.machine.recomputable():
            schedule = await self._schedule(CaseMachine.reschedule_request(assignment))
            if self.machine.apply_recomputed(assignment.department, schedule, workflow.now(), actor.username):
                moved += 1
        self._wake = True
        await self._project()
        return moved
