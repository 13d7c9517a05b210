"""An assignment's clocks: effective deadlines, suspended time, and the triggers that fire.

The calendar arithmetic happens once, in an activity, and is recorded as a ``Schedule``. Here it
is only shifted by suspended time and turned into the instants at which warnings, overdue flags
and escalations are due — plain arithmetic on recorded values, so it is safe in workflow code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from casebridge.domain.model import Assignment, AssignmentStatus, DeadlineKind


class TriggerKind(StrEnum):
    WARNING = "warning"
    OVERDUE = "overdue"
    ESCALATE = "escalate"


@dataclass(frozen=True)
class Trigger:
    at: datetime
    department: str
    kind: TriggerKind
    deadline: DeadlineKind
    fraction: float = 0.0

    @property
    def warning_key(self) -> str:
        return f"{self.deadline}:{self.fraction:g}"


def suspended_total(assignment: Assignment, now: datetime) -> timedelta:
    """Suspended time so far, including a suspension still running."""
    total = timedelta(seconds=assignment.suspended_seconds)
    if assignment.suspended_since is not None:
        total += max(now - assignment.suspended_since, timedelta(0))
    return total


def _shift(assignment: Assignment) -> timedelta:
    # Only finished suspensions move the recorded deadlines; a running one is added on resume.
    return timedelta(seconds=assignment.suspended_seconds)


def ack_due_at(assignment: Assignment) -> datetime:
    return assignment.schedule.ack_due_at + _shift(assignment)


def due_at(assignment: Assignment) -> datetime:
    return assignment.schedule.due_at + _shift(assignment)


def escalate_at(assignment: Assignment, deadline: DeadlineKind) -> datetime:
    base = (
        assignment.schedule.ack_escalate_at if deadline is DeadlineKind.ACK else assignment.schedule.resolve_escalate_at
    )
    return base + _shift(assignment)


def _clock_running(assignment: Assignment, deadline: DeadlineKind) -> bool:
    if assignment.suspended_since is not None:
        return False
    if deadline is DeadlineKind.ACK:
        return assignment.status is AssignmentStatus.PENDING_ACK
    return assignment.status in (AssignmentStatus.PENDING_ACK, AssignmentStatus.ACKNOWLEDGED)


def is_overdue(assignment: Assignment) -> bool:
    return (assignment.ack_overdue and _clock_applies(assignment, DeadlineKind.ACK)) or (
        assignment.resolve_overdue and _clock_applies(assignment, DeadlineKind.RESOLVE)
    )


def _clock_applies(assignment: Assignment, deadline: DeadlineKind) -> bool:
    if deadline is DeadlineKind.ACK:
        return assignment.status is AssignmentStatus.PENDING_ACK
    return assignment.status in (AssignmentStatus.PENDING_ACK, AssignmentStatus.ACKNOWLEDGED)


def pending_triggers(assignment: Assignment) -> list[Trigger]:
    """Every trigger of this assignment that has not fired yet, in no particular order."""
    triggers: list[Trigger] = []
    for deadline in (DeadlineKind.ACK, DeadlineKind.RESOLVE):
        if not _clock_running(assignment, deadline):
            continue
        due = ack_due_at(assignment) if deadline is DeadlineKind.ACK else due_at(assignment)
        window = due - assignment.issued_at - _shift(assignment)
        overdue = assignment.ack_overdue if deadline is DeadlineKind.ACK else assignment.resolve_overdue
        if not overdue:
            for fraction in assignment.warn_at:
                trigger = Trigger(
                    assignment.issued_at + _shift(assignment) + window * fraction,
                    assignment.department,
                    TriggerKind.WARNING,
                    deadline,
                    fraction,
                )
                if trigger.warning_key not in assignment.warned:
                    triggers.append(trigger)
            triggers.append(Trigger(due, assignment.department, TriggerKind.OVERDUE, deadline))
        elif deadline.value not in assignment.escalated_for:
            triggers.append(
                Trigger(escalate_at(assignment, deadline), assignment.department, TriggerKind.ESCALATE, deadline)
            )
    return triggers


def is_warning(assignment: Assignment) -> bool:
    """A warning stands while its clock still runs and has not yet gone overdue."""
    for deadline, overdue in (
        (DeadlineKind.ACK, assignment.ack_overdue),
        (DeadlineKind.RESOLVE, assignment.resolve_overdue),
    ):
        prefix = f"{deadline.value}:"
        if (
            _clock_applies(assignment, deadline)
            and not overdue
            and any(key.startswith(prefix) for key in assignment.warned)
        ):
            return True
    return False
