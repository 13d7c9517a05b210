"""The case aggregate: every rule about what may happen to a case, and the events it leaves.

``CaseMachine`` wraps a ``CaseState``. Each action has a ``check_*`` that raises a domain error and
changes nothing (workflow update validators call these) and a method that checks again, mutates
and appends events to ``outbox``. Deadline schedules are computed outside (by an activity) and
passed in, so nothing here touches a calendar, a clock or the network.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from casebridge.domain import clock
from casebridge.domain.durations import parse_duration
from casebridge.domain.errors import (
    Forbidden,
    InvalidDuration,
    InvalidInput,
    InvalidTransition,
    NotFound,
    UnknownDepartment,
)
from casebridge.domain.model import (
    ACTIVE_ASSIGNMENT_STATUSES,
    SYSTEM_ACTOR,
    Actor,
    Assignment,
    AssignmentRole,
    AssignmentStatus,
    AssignmentView,
    CaseInput,
    CaseSnapshot,
    CaseState,
    CaseStatus,
    EscalationTrigger,
    Event,
    ExtensionRequest,
    Schedule,
    ScheduleRequest,
    SuspensionRequest,
)
from casebridge.domain.transitions import check_assignment_transition, check_case_transition

A = AssignmentStatus
OPEN_FOR_WORK = (CaseStatus.IN_PROGRESS, CaseStatus.ESCALATED)


def canonical_duration(text: str) -> str:
    """The duration in its canonical form; raises ``InvalidInput`` (422) when it does not parse."""
    try:
        return str(parse_duration(text))
    except InvalidDuration as exc:
        raise InvalidInput(f"时限格式不正确：{text}", str(exc)) from exc


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class CaseMachine:
    def __init__(self, state: CaseState) -> None:
        self.state = state
        self.outbox: list[Event] = []

    # --- construction -----------------------------------------------------------------------

    @classmethod
    def open(cls, case: CaseInput, now: datetime) -> CaseMachine:
        state = CaseState(
            id=case.id,
            status=CaseStatus.IN_PROGRESS,
            category=case.category,
            title=case.title,
            description=case.description,
            worker=case.worker,
            policy=case.policy,
            departments_known=list(case.departments_known),
            created_at=now,
            updated_at=now,
            station=case.station,
            counterparty=case.counterparty,
            amount_claimed=case.amount_claimed,
            channel=case.channel,
            external_id=case.external_id,
        )
        machine = cls(state)
        machine._emit(
            "case.created",
            now,
            case.created_by,
            category=case.category,
            title=case.title,
            worker_name=case.worker.name,
            station=case.station,
            counterparty=case.counterparty,
            amount_claimed=case.amount_claimed,
            policy=case.policy.category,
            channel=case.channel,
            external_id=case.external_id,
        )
        return machine

    def initial_routes(self, requested: list[str] | None) -> list[tuple[str, AssignmentRole]]:
        """The officer's departments (first leads) or, without them, the policy's routing."""
        if requested:
            return [(requested[0], AssignmentRole.LEAD)] + [(d, AssignmentRole.ASSIST) for d in requested[1:]]
        policy = self.state.policy
        return [(policy.lead, AssignmentRole.LEAD)] + [(d, AssignmentRole.ASSIST) for d in policy.assist]

    # --- helpers ----------------------------------------------------------------------------

    def _emit(self, type_: str, at: datetime, actor: str, **data: Any) -> Event:
        event = Event(seq=self.state.next_seq, type=type_, at=at, actor=actor, data=data)
        self.state.next_seq += 1
        self.state.updated_at = at
        self.outbox.append(event)
        return event

    def assignment(self, department: str) -> Assignment:
        for item in self.state.assignments:
            if item.department == department:
                return item
        raise NotFound(f"本案没有 {department} 的派单任务", f"this case has no assignment for {department}")

    def _find(self, department: str) -> Assignment | None:
        return next((a for a in self.state.assignments if a.department == department), None)

    def _require_open_for_work(self) -> None:
        if self.state.status not in OPEN_FOR_WORK:
            raise InvalidTransition(
                f"个案状态为 {self.state.status.value}，不能再办理派单任务",
                f"the case is {self.state.status.value}; its assignments can no longer be worked on",
            )

    @staticmethod
    def _require_actor_department(actor: Actor, department: str) -> None:
        if actor.role == "department" and actor.department != department:
            raise Forbidden("只能办理本单位的派单任务", "a department may act only on its own assignment")

    def _set_status(self, target: CaseStatus) -> None:
        check_case_transition(self.state.status, target)
        self.state.status = target

    def schedule_request(self, department: str, now: datetime, resolve_within: str | None = None) -> ScheduleRequest:
        """The deadline computation a fresh assignment for ``department`` needs."""
        policy = self.state.policy
        return ScheduleRequest(
            issued_at=now,
            ack_within=policy.ack_within,
            resolve_within=resolve_within or policy.resolve_within,
            escalate_after_overdue=policy.escalate_after_overdue,
        )

    @staticmethod
    def reschedule_request(assignment: Assignment, extra_extension: str | None = None) -> ScheduleRequest:
        """The same assignment's deadlines again (after an extension, or a calendar update)."""
        extensions = list(assignment.extensions) + ([extra_extension] if extra_extension else [])
        return ScheduleRequest(
            issued_at=assignment.issued_at,
            ack_within=assignment.ack_within,
            resolve_within=assignment.resolve_within,
            escalate_after_overdue=assignment.escalate_after_overdue,
            extensions=extensions,
        )

    # --- routing ----------------------------------------------------------------------------

    def check_route(self, department: str, role: AssignmentRole) -> None:
        self._require_open_for_work()
        if department not in self.state.departments_known:
            raise UnknownDepartment(
                f"未知单位 {department}（可选：{', '.join(self.state.departments_known)}）",
                f"unknown department {department!r} (known: {', '.join(self.state.departments_known)})",
            )
        existing = self._find(department)
        if existing is not None and existing.status in ACTIVE_ASSIGNMENT_STATUSES:
            raise InvalidTransition(
                f"{department} 已有办理中的派单任务", f"{department} already has an open assignment on this case"
            )
        if role is AssignmentRole.LEAD:
            lead = next(
                (
                    a
                    for a in self.state.assignments
                    if a.role is AssignmentRole.LEAD
                    and a.status in ACTIVE_ASSIGNMENT_STATUSES
                    and a.department != department
                ),
                None,
            )
            if lead is not None:
                raise InvalidTransition(
                    f"本案已有牵头单位 {lead.department}", f"{lead.department} already leads this case"
                )

    def issue(
        self,
        department: str,
        role: AssignmentRole,
        schedule: Schedule,
        now: datetime,
        actor: str,
        *,
        issued_at: datetime | None = None,
        supervised: bool = False,
        resolve_within: str | None = None,
        meeting_id: str | None = None,
    ) -> Assignment:
        """Issue (or reissue) an assignment. ``issued_at`` is the instant its deadlines were
        computed from — both clocks count from it, so it must be the schedule request's instant."""
        policy = self.state.policy
        assignment = Assignment(
            department=department,
            role=role,
            status=A.PENDING_ACK,
            issued_at=issued_at or now,
            ack_within=policy.ack_within,
            resolve_within=resolve_within or policy.resolve_within,
            warn_at=list(policy.warn_at),
            escalate_after_overdue=policy.escalate_after_overdue,
            schedule=schedule,
            supervised=supervised,
        )
        existing = self._find(department)
        if existing is not None:
            self.state.assignments[self.state.assignments.index(existing)] = assignment
        else:
            self.state.assignments.append(assignment)
        data: dict[str, Any] = {
            "department": department,
            "role": role.value,
            "issued_at": _iso(issued_at or now),
            "ack_due_at": _iso(schedule.ack_due_at),
            "due_at": _iso(schedule.due_at),
            "provisional": schedule.provisional,
            "supervised": supervised,
            "reissued": existing is not None,
        }
        if meeting_id:
            data["meeting_id"] = meeting_id
        self._emit("assignment.issued", now, actor, **data)
        return assignment

    # --- department actions -----------------------------------------------------------------

    def check_acknowledge(self, actor: Actor, department: str) -> Assignment:
        self._require_actor_department(actor, department)
        self._require_open_for_work()
        assignment = self.assignment(department)
        check_assignment_transition(department, assignment.status, A.ACKNOWLEDGED)
        return assignment

    def acknowledge(self, actor: Actor, department: str, now: datetime) -> None:
        assignment = self.check_acknowledge(actor, department)
        assignment.status = A.ACKNOWLEDGED
        assignment.acknowledged_at = now
        on_time = now <= clock.ack_due_at(assignment)
        self._emit("assignment.acknowledged", now, actor.username, department=department, on_time=on_time)

    def check_return(self, actor: Actor, department: str) -> Assignment:
        self._require_actor_department(actor, department)
        self._require_open_for_work()
        assignment = self.assignment(department)
        check_assignment_transition(department, assignment.status, A.RETURNED)
        return assignment

    def return_assignment(self, actor: Actor, department: str, reason: str, now: datetime) -> None:
        assignment = self.check_return(actor, department)
        self._stop_clock(assignment, now)
        assignment.status = A.RETURNED
        assignment.extension_request = None
        assignment.suspension_request = None
        count = self.state.returns.get(department, 0) + 1
        self.state.returns[department] = count
        self._emit("assignment.returned", now, actor.username, department=department, reason=reason, count=count)
        self._end_waits_on(department, now, f"{department} returned its assignment")
        if count >= 2 and self.state.status is CaseStatus.IN_PROGRESS:
            self._escalate(
                EscalationTrigger.RETURNED_TWICE,
                f"{department} 第 {count} 次退回：{reason}",
                now,
                SYSTEM_ACTOR,
                department=department,
            )

    def check_progress(self, actor: Actor, department: str) -> Assignment:
        self._require_actor_department(actor, department)
        self._require_open_for_work()
        assignment = self.assignment(department)
        if assignment.status is not A.ACKNOWLEDGED:
            raise InvalidTransition(
                "请先签收再报告进展" if assignment.status is A.PENDING_ACK else "该派单任务已结束",
                f"progress can be reported on an acknowledged assignment; this one is {assignment.status.value}",
            )
        return assignment

    def report_progress(self, actor: Actor, department: str, note: str, now: datetime) -> None:
        self.check_progress(actor, department)
        self._emit("assignment.progress_reported", now, actor.username, department=department, note=note)

    def check_complete(self, actor: Actor, department: str) -> Assignment:
        self._require_actor_department(actor, department)
        self._require_open_for_work()
        assignment = self.assignment(department)
        check_assignment_transition(department, assignment.status, A.COMPLETED)
        return assignment

    def complete(self, actor: Actor, department: str, outcome: str, now: datetime) -> None:
        assignment = self.check_complete(actor, department)
        self._stop_clock(assignment, now)
        assignment.status = A.COMPLETED
        assignment.completed_at = now
        assignment.outcome = outcome
        assignment.extension_request = None
        assignment.suspension_request = None
        on_time = now <= clock.due_at(assignment)
        self._emit("assignment.completed", now, actor.username, department=department, outcome=outcome, on_time=on_time)
        self._end_waits_on(department, now, f"{department} completed")

    def _end_waits_on(self, department: str, now: datetime, because: str) -> None:
        """Suspensions that waited on this department end by themselves; requests to wait for
        it are moot and are closed, so they cannot block a later request."""
        for other in self.state.assignments:
            if other.suspended_since is not None and other.suspended_until_department == department:
                self._resume(other, now, SYSTEM_ACTOR, because=because)
            request = other.suspension_request
            if request is not None and request.until_department == department:
                other.suspension_request = None
                self._emit(
                    "assignment.suspension_rejected",
                    now,
                    SYSTEM_ACTOR,
                    department=other.department,
                    because=because,
                )

    # --- extensions -------------------------------------------------------------------------

    def check_request_extension(self, actor: Actor, department: str) -> Assignment:
        self._require_actor_department(actor, department)
        self._require_open_for_work()
        assignment = self.assignment(department)
        if assignment.status not in ACTIVE_ASSIGNMENT_STATUSES:
            raise InvalidTransition("该派单任务已结束，不能申请延期", "the assignment is no longer open")
        if assignment.extension_request is not None:
            raise InvalidTransition("已有待审批的延期申请", "an extension request is already waiting for a decision")
        return assignment

    def request_extension(self, actor: Actor, department: str, duration: str, reason: str, now: datetime) -> None:
        assignment = self.check_request_extension(actor, department)
        assignment.extension_request = ExtensionRequest(canonical_duration(duration), reason, actor.username, now)
        self._emit(
            "assignment.extension_requested",
            now,
            actor.username,
            department=department,
            duration=assignment.extension_request.duration,
            reason=reason,
        )

    def check_decide_extension(self, department: str) -> Assignment:
        self._require_open_for_work()
        assignment = self.assignment(department)
        if assignment.extension_request is None:
            raise InvalidTransition("没有待审批的延期申请", "there is no extension request to decide")
        return assignment

    def decide_extension(self, actor: Actor, department: str, approved: bool, schedule: Any, now: datetime) -> None:
        assignment = self.check_decide_extension(department)
        request = assignment.extension_request
        assert request is not None
        assignment.extension_request = None
        if not approved:
            self._emit(
                "assignment.extension_rejected", now, actor.username, department=department, duration=request.duration
            )
            return
        assert schedule is not None, "an approved extension needs its new schedule"
        previous = clock.due_at(assignment)
        assignment.extensions.append(request.duration)
        assignment.schedule = schedule
        self._clear_flags_after_move(assignment, now)
        self._emit(
            "assignment.extension_approved",
            now,
            actor.username,
            department=department,
            duration=request.duration,
            previous_due_at=_iso(previous),
            due_at=_iso(clock.due_at(assignment)),
            provisional=schedule.provisional,
        )

    # --- suspension -------------------------------------------------------------------------

    def check_suspend(self, actor: Actor, department: str, until_department: str | None) -> Assignment:
        self._require_actor_department(actor, department)
        self._require_open_for_work()
        assignment = self.assignment(department)
        if assignment.status not in ACTIVE_ASSIGNMENT_STATUSES:
            raise InvalidTransition("该派单任务已结束，不能中止时限", "the assignment is no longer open")
        if assignment.suspended_since is not None:
            raise InvalidTransition("时限已中止", "the assignment's clock is already suspended")
        if assignment.suspension_request is not None:
            raise InvalidTransition("已有待审批的中止申请", "a suspension request is already waiting for a decision")
        if until_department is not None:
            if until_department not in self.state.departments_known:
                raise UnknownDepartment(f"未知单位 {until_department}", f"unknown department {until_department!r}")
            if until_department == department:
                raise InvalidInput("不能等待本单位自己", "an assignment cannot wait for its own department")
            awaited = self._find(until_department)
            if awaited is None or awaited.status not in ACTIVE_ASSIGNMENT_STATUSES:
                raise InvalidTransition(
                    f"{until_department} 在本案没有办理中的派单任务",
                    f"{until_department} has no open assignment on this case to wait for",
                )
        return assignment

    def suspend(self, actor: Actor, department: str, reason: str, until_department: str | None, now: datetime) -> None:
        """From the officer the clock stops at once; from the department it is a request."""
        assignment = self.check_suspend(actor, department, until_department)
        if actor.role == "officer":
            self._suspend(assignment, reason, until_department, now, actor.username)
            return
        assignment.suspension_request = SuspensionRequest(reason, until_department, actor.username, now)
        self._emit(
            "assignment.suspension_requested",
            now,
            actor.username,
            department=department,
            reason=reason,
            until_department=until_department,
        )

    def check_decide_suspension(self, department: str, approved: bool = True) -> Assignment:
        self._require_open_for_work()
        assignment = self.assignment(department)
        if assignment.suspension_request is None:
            raise InvalidTransition("没有待审批的中止申请", "there is no suspension request to decide")
        until = assignment.suspension_request.until_department
        if approved and until is not None:
            awaited = self._find(until)
            if awaited is None or awaited.status not in ACTIVE_ASSIGNMENT_STATUSES:
                raise InvalidTransition(
                    f"{until} 已没有办理中的派单任务，无需中止",
                    f"{until} no longer has an open assignment to wait for",
                )
        return assignment

    def decide_suspension(self, actor: Actor, department: str, approved: bool, now: datetime) -> None:
        assignment = self.check_decide_suspension(department, approved)
        request = assignment.suspension_request
        assert request is not None
        assignment.suspension_request = None
        if approved:
            self._suspend(assignment, request.reason, request.until_department, now, actor.username)
        else:
            self._emit("assignment.suspension_rejected", now, actor.username, department=department)

    def _suspend(
        self, assignment: Assignment, reason: str, until_department: str | None, now: datetime, actor: str
    ) -> None:
        assignment.suspended_since = now
        assignment.suspension_reason = reason
        assignment.suspended_until_department = until_department
        self._emit(
            "assignment.suspended",
            now,
            actor,
            department=assignment.department,
            reason=reason,
            until_department=until_department,
        )

    def check_resume(self, actor: Actor, department: str) -> Assignment:
        self._require_actor_department(actor, department)
        self._require_open_for_work()
        assignment = self.assignment(department)
        if assignment.suspended_since is None:
            raise InvalidTransition("时限未中止，无需恢复", "the assignment's clock is not suspended")
        return assignment

    def resume(self, actor: Actor, department: str, now: datetime) -> None:
        assignment = self.check_resume(actor, department)
        self._resume(assignment, now, actor.username, because="resumed")

    def _resume(self, assignment: Assignment, now: datetime, actor: str, because: str) -> None:
        since = assignment.suspended_since
        assert since is not None
        paused = max((now - since).total_seconds(), 0.0)
        assignment.suspended_seconds += paused
        assignment.suspended_since = None
        assignment.suspended_until_department = None
        assignment.suspension_reason = None
        self._emit(
            "assignment.resumed",
            now,
            actor,
            department=assignment.department,
            because=because,
            suspended_seconds=paused,
            ack_due_at=_iso(clock.ack_due_at(assignment)),
            due_at=_iso(clock.due_at(assignment)),
        )

    def _stop_clock(self, assignment: Assignment, now: datetime) -> None:
        """An assignment that ends while suspended keeps the suspended time it had."""
        if assignment.suspended_since is not None:
            assignment.suspended_seconds += max((now - assignment.suspended_since).total_seconds(), 0.0)
            assignment.suspended_since = None
            assignment.suspended_until_department = None

    # --- deadlines --------------------------------------------------------------------------

    def _clear_flags_after_move(self, assignment: Assignment, now: datetime) -> None:
        """A deadline that moved later (extension, calendar) is no longer overdue if not yet due."""
        if assignment.resolve_overdue and clock.due_at(assignment) > now:
            assignment.resolve_overdue = False
            assignment.escalated_for = [d for d in assignment.escalated_for if d != "resolve"]
        if assignment.ack_overdue and clock.ack_due_at(assignment) > now:
            assignment.ack_overdue = False
            assignment.escalated_for = [d for d in assignment.escalated_for if d != "ack"]

    def recomputable(self) -> list[Assignment]:
        """Open assignments whose deadlines were computed without calendar data."""
        return [a for a in self.state.assignments if a.status in ACTIVE_ASSIGNMENT_STATUSES and a.schedule.provisional]

    def apply_recomputed(self, department: str, schedule: Schedule, now: datetime, actor: str = SYSTEM_ACTOR) -> bool:
        assignment = self.assignment(department)
        old = assignment.schedule
        if (old.ack_due_at, old.due_at, old.provisional) == (
            schedule.ack_due_at,
            schedule.due_at,
            schedule.provisional,
        ) and old.resolve_escalate_at == schedule.resolve_escalate_at:
            return False
        previous_due = clock.due_at(assignment)
        assignment.schedule = schedule
        self._clear_flags_after_move(assignment, now)
        self._emit(
            "assignment.deadline_recomputed",
            now,
            actor,
            department=department,
            previous_due_at=_iso(previous_due),
            due_at=_iso(clock.due_at(assignment)),
            ack_due_at=_iso(clock.ack_due_at(assignment)),
            provisional=schedule.provisional,
        )
        return True

    def next_trigger_at(self) -> datetime | None:
        if self.state.status not in OPEN_FOR_WORK:
            return None
        instants = [t.at for a in self.state.assignments for t in clock.pending_triggers(a)]
        return min(instants, default=None)

    def fire_due(self, now: datetime) -> None:
        """Fire every warning, overdue flag and escalation whose instant has come, in order."""
        while self.state.status in OPEN_FOR_WORK:
            due = sorted(
                (t for a in self.state.assignments for t in clock.pending_triggers(a) if t.at <= now),
                key=lambda t: (t.at, t.department, t.deadline.value, t.kind.value),
            )
            if not due:
                return
            self._fire(due[0], now)

    def _fire(self, trigger: clock.Trigger, now: datetime) -> None:
        assignment = self.assignment(trigger.department)
        at = now  # when it was recorded; the instant it was due is in the data
        if trigger.kind is clock.TriggerKind.WARNING:
            assignment.warned.append(trigger.warning_key)
            self._emit(
                "assignment.warning",
                at,
                SYSTEM_ACTOR,
                department=trigger.department,
                deadline=trigger.deadline.value,
                fraction=trigger.fraction,
                due_at=_iso(
                    clock.ack_due_at(assignment) if trigger.deadline.value == "ack" else clock.due_at(assignment)
                ),
            )
        elif trigger.kind is clock.TriggerKind.OVERDUE:
            if trigger.deadline.value == "ack":
                assignment.ack_overdue = True
            else:
                assignment.resolve_overdue = True
            self._emit(
                "assignment.overdue",
                at,
                SYSTEM_ACTOR,
                department=trigger.department,
                deadline=trigger.deadline.value,
                due_at=_iso(trigger.at),
            )
        else:
            assignment.escalated_for.append(trigger.deadline.value)
            if self.state.status is CaseStatus.IN_PROGRESS:
                self._escalate(
                    EscalationTrigger.OVERDUE,
                    f"{trigger.department} 超期未{'签收' if trigger.deadline.value == 'ack' else '办结'}",
                    at,
                    SYSTEM_ACTOR,
                    department=trigger.department,
                    deadline=trigger.deadline.value,
                )

    # --- case actions -----------------------------------------------------------------------

    def check_escalate(self) -> None:
        check_case_transition(self.state.status, CaseStatus.ESCALATED)

    def escalate(self, actor: Actor, reason: str, now: datetime) -> None:
        self.check_escalate()
        self._escalate(EscalationTrigger.OFFICER, reason, now, actor.username)

    def _escalate(self, trigger: EscalationTrigger, reason: str, now: datetime, actor: str, **extra: Any) -> None:
        self._set_status(CaseStatus.ESCALATED)
        self.state.meeting_id = None
        self.state.escalation_reason = reason
        self._emit("case.escalated", now, actor, trigger=trigger.value, reason=reason, **extra)

    def check_resolve(self) -> None:
        check_case_transition(self.state.status, CaseStatus.RESOLVED)
        open_ = [a.department for a in self.state.assignments if a.status in ACTIVE_ASSIGNMENT_STATUSES]
        if open_:
            raise InvalidTransition(
                f"以下单位的派单任务尚未办结：{', '.join(open_)}",
                f"assignments still open: {', '.join(open_)}",
            )

    def resolve(self, actor: Actor, summary: str, amount_recovered: str | None, now: datetime) -> None:
        self.check_resolve()
        self._set_status(CaseStatus.RESOLVED)
        self.state.resolution_summary = summary
        if amount_recovered is not None:
            self.state.amount_recovered = amount_recovered
        self._emit("case.resolved", now, actor.username, summary=summary, amount_recovered=amount_recovered)

    def check_feedback(self) -> None:
        if self.state.status is not CaseStatus.RESOLVED:
            raise InvalidTransition(
                "只有已办结的个案才能记录回访",
                f"feedback is recorded on a resolved case; this one is {self.state.status}",
            )

    def record_feedback(self, actor: Actor, satisfied: bool, comment: str | None, now: datetime) -> None:
        self.check_feedback()
        self._emit("case.feedback_recorded", now, actor.username, satisfied=satisfied, comment=comment)
        if satisfied:
            self._set_status(CaseStatus.CLOSED)
            self._emit("case.closed", now, actor.username)
        else:
            self._set_status(CaseStatus.IN_PROGRESS)
            self._emit("case.reopened", now, actor.username, comment=comment)

    def check_withdraw(self) -> None:
        check_case_transition(self.state.status, CaseStatus.WITHDRAWN)

    def withdraw(self, actor: Actor, reason: str, now: datetime) -> None:
        self.check_withdraw()
        for assignment in self.state.assignments:
            self._stop_clock(assignment, now)
        self._set_status(CaseStatus.WITHDRAWN)
        self._emit("case.withdrawn", now, actor.username, reason=reason)

    # --- the joint meeting seam -------------------------------------------------------------

    def check_add_to_agenda(self, meeting_id: str) -> bool:
        """True when there is something to do; adding the same meeting twice is a no-op."""
        if self.state.status is not CaseStatus.ESCALATED:
            raise InvalidTransition("只有已提请的个案才能列入议题", "only an escalated case can join an agenda")
        return self.state.meeting_id != meeting_id

    def add_to_agenda(self, actor: Actor, meeting_id: str, now: datetime) -> None:
        if self.check_add_to_agenda(meeting_id):
            self.state.meeting_id = meeting_id
            self._emit("case.added_to_agenda", now, actor.username, meeting_id=meeting_id)

    def needs_agenda(self) -> bool:
        return self.state.status is CaseStatus.ESCALATED and self.state.meeting_id is None

    def last_escalation_reason(self) -> str:
        return self.state.escalation_reason or "提请联席会议"

    def check_leave_agenda(self, meeting_id: str) -> None:
        if self.state.status is not CaseStatus.ESCALATED or self.state.meeting_id != meeting_id:
            raise InvalidTransition(
                f"本案不在会议 {meeting_id} 的议程上", f"the case is not on the agenda of meeting {meeting_id}"
            )

    def leave_agenda(self, actor: Actor, meeting_id: str, reason: str, now: datetime) -> None:
        self.check_leave_agenda(meeting_id)
        self._set_status(CaseStatus.IN_PROGRESS)
        self.state.meeting_id = None
        self._emit("case.removed_from_agenda", now, actor.username, meeting_id=meeting_id, reason=reason)

    def check_record_decision(self, meeting_id: str, lead: str, assist: list[str]) -> None:
        if self.state.status is not CaseStatus.ESCALATED:
            raise InvalidTransition("个案不在联席会议议程上", "the case is not waiting for a meeting decision")
        if self.state.meeting_id != meeting_id:
            raise InvalidTransition(
                f"本案不在会议 {meeting_id} 的议程上", f"the case is not on the agenda of meeting {meeting_id}"
            )
        for department in [lead, *assist]:
            if department not in self.state.departments_known:
                raise UnknownDepartment(f"未知单位 {department}", f"unknown department {department!r}")
        if lead in assist or len(set(assist)) != len(assist):
            raise InvalidInput("配合单位重复或与牵头单位相同", "assisting departments repeat or include the lead")

    def record_decision(
        self,
        actor: Actor,
        meeting_id: str,
        decision: str,
        schedules: dict[str, Schedule],
        lead: str,
        assist: list[str],
        resolve_within: str,
        now: datetime,
        issued_at: datetime | None = None,
    ) -> None:
        """Reissue the named departments' assignments as supervised work; leave the others."""
        self.check_record_decision(meeting_id, lead, assist)
        self._emit(
            "case.decision_recorded",
            now,
            actor.username,
            meeting_id=meeting_id,
            decision=decision,
            lead_department=lead,
            assist_departments=assist,
            resolve_within=resolve_within,
        )
        for department, role in [(lead, AssignmentRole.LEAD)] + [(d, AssignmentRole.ASSIST) for d in assist]:
            previous = self._find(department)
            if previous is not None:
                self._stop_clock(previous, now)
            if role is AssignmentRole.LEAD:
                for other in self.state.assignments:
                    if other.role is AssignmentRole.LEAD and other.department != lead:
                        other.role = AssignmentRole.ASSIST
            self.issue(
                department,
                role,
                schedules[department],
                now,
                actor.username,
                issued_at=issued_at,
                supervised=True,
                resolve_within=resolve_within,
                meeting_id=meeting_id,
            )
        self._set_status(CaseStatus.IN_PROGRESS)

    # --- views ------------------------------------------------------------------------------

    def snapshot(self) -> CaseSnapshot:
        views = [self._view(a) for a in self.state.assignments]
        open_dues = [v.due_at for v in views if v.status in ("pending_ack", "acknowledged")]
        state = self.state
        return CaseSnapshot(
            id=state.id,
            version=state.next_seq - 1,
            status=state.status.value,
            category=state.category,
            title=state.title,
            description=state.description,
            worker=state.worker,
            station=state.station,
            counterparty=state.counterparty,
            amount_claimed=state.amount_claimed,
            amount_recovered=state.amount_recovered,
            created_at=state.created_at,
            updated_at=state.updated_at,
            due_at=min(open_dues, default=None),
            meeting_id=state.meeting_id,
            assignments=views,
            channel=state.channel,
            external_id=state.external_id,
        )

    def _view(self, a: Assignment) -> AssignmentView:
        return AssignmentView(
            department=a.department,
            role=a.role.value,
            status=a.status.value,
            issued_at=a.issued_at,
            ack_due_at=clock.ack_due_at(a),
            due_at=clock.due_at(a),
            provisional=a.schedule.provisional,
            warning=clock.is_warning(a),
            overdue=clock.is_overdue(a),
            suspended=a.suspended_since is not None,
            supervised=a.supervised,
            extension_requested=a.extension_request is not None,
            suspension_requested=a.suspension_request is not None,
            returns=self.state.returns.get(a.department, 0),
            acknowledged_at=a.acknowledged_at,
            completed_at=a.completed_at,
        )
