"""Payload and state dataclasses shared by workflows, activities and the API.

Everything here is plain data that Temporal's JSON converter can carry: str, int, float, bool,
aware datetimes, lists and nested dataclasses. All of a case's state lives in ``CaseState`` so a
continue-as-new can carry it whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class CaseStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


OPEN_CASE_STATUSES = frozenset({CaseStatus.IN_PROGRESS, CaseStatus.ESCALATED, CaseStatus.RESOLVED})


class AssignmentStatus(StrEnum):
    PENDING_ACK = "pending_ack"
    ACKNOWLEDGED = "acknowledged"
    COMPLETED = "completed"
    RETURNED = "returned"


ACTIVE_ASSIGNMENT_STATUSES = frozenset({AssignmentStatus.PENDING_ACK, AssignmentStatus.ACKNOWLEDGED})


class AssignmentRole(StrEnum):
    LEAD = "lead"
    ASSIST = "assist"


class DeadlineKind(StrEnum):
    ACK = "ack"
    RESOLVE = "resolve"


class EscalationTrigger(StrEnum):
    OFFICER = "officer"
    OVERDUE = "overdue"
    RETURNED_TWICE = "returned_twice"


SYSTEM_ACTOR = "system"


@dataclass
class Worker:
    name: str
    phone: str
    occupation: str | None = None
    platform: str | None = None


@dataclass
class CategoryPolicy:
    """The part of the policy a case lives by; copied into the case when it starts."""

    category: str
    lead: str
    assist: list[str]
    ack_within: str
    resolve_within: str
    warn_at: list[float]
    escalate_after_overdue: str
    label: str = ""


@dataclass
class Event:
    seq: int
    type: str
    at: datetime
    actor: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScheduleRequest:
    """Everything a deadline computation needs; the answer is recorded in workflow history."""

    issued_at: datetime
    ack_within: str
    resolve_within: str
    escalate_after_overdue: str
    extensions: list[str] = field(default_factory=list)


@dataclass
class Schedule:
    """Deadline instants on the working-day calendar, before any suspended time is added."""

    ack_due_at: datetime
    due_at: datetime
    ack_escalate_at: datetime
    resolve_escalate_at: datetime
    provisional: bool


@dataclass
class ExtensionRequest:
    duration: str
    reason: str
    requested_by: str
    requested_at: datetime


@dataclass
class SuspensionRequest:
    reason: str
    until_department: str | None
    requested_by: str
    requested_at: datetime


@dataclass
class Assignment:
    department: str
    role: AssignmentRole
    status: AssignmentStatus
    issued_at: datetime
    ack_within: str
    resolve_within: str
    warn_at: list[float]
    escalate_after_overdue: str
    schedule: Schedule
    supervised: bool = False
    extensions: list[str] = field(default_factory=list)
    suspended_seconds: float = 0.0
    suspended_since: datetime | None = None
    suspension_reason: str | None = None
    suspended_until_department: str | None = None
    extension_request: ExtensionRequest | None = None
    suspension_request: SuspensionRequest | None = None
    warned: list[str] = field(default_factory=list)
    ack_overdue: bool = False
    resolve_overdue: bool = False
    escalated_for: list[str] = field(default_factory=list)
    acknowledged_at: datetime | None = None
    completed_at: datetime | None = None
    outcome: str | None = None


@dataclass
class CaseInput:
    """What the API hands to a new CaseWorkflow."""

    id: str
    category: str
    title: str
    description: str
    worker: Worker
    policy: CategoryPolicy
    departments_known: list[str]
    created_by: str
    station: str | None = None
    counterparty: str | None = None
    amount_claimed: str | None = None
    departments: list[str] | None = None
    # How the case came in: "station" (a case officer at a station), "hotline" (12345), "open311".
    channel: str = "station"
    external_id: str | None = None


@dataclass
class CaseState:
    id: str
    status: CaseStatus
    category: str
    title: str
    description: str
    worker: Worker
    policy: CategoryPolicy
    departments_known: list[str]
    created_at: datetime
    updated_at: datetime
    station: str | None = None
    counterparty: str | None = None
    amount_claimed: str | None = None
    amount_recovered: str | None = None
    channel: str = "station"
    external_id: str | None = None
    assignments: list[Assignment] = field(default_factory=list)
    returns: dict[str, int] = field(default_factory=dict)
    meeting_id: str | None = None
    escalation_reason: str | None = None
    resolution_summary: str | None = None
    next_seq: int = 1
    # The updates applied most recently, by update id, with what each answered; carried across
    # continue-as-new so that an update retried onto the new run is answered, not applied again.
    answered: list[AnsweredUpdate] = field(default_factory=list)


@dataclass
class AssignmentView:
    """An assignment as the read model and the API show it (effective deadlines, flags)."""

    department: str
    role: str
    status: str
    issued_at: datetime
    ack_due_at: datetime
    due_at: datetime
    provisional: bool
    warning: bool
    overdue: bool
    suspended: bool
    supervised: bool
    extension_requested: bool
    suspension_requested: bool
    returns: int
    acknowledged_at: datetime | None
    completed_at: datetime | None


@dataclass
class CaseSnapshot:
    """The projection rows of one case at a given event ``version`` (its last seq)."""

    id: str
    version: int
    status: str
    category: str
    title: str
    description: str
    worker: Worker
    station: str | None
    counterparty: str | None
    amount_claimed: str | None
    amount_recovered: str | None
    created_at: datetime
    updated_at: datetime
    due_at: datetime | None
    meeting_id: str | None
    assignments: list[AssignmentView]
    channel: str = "station"
    external_id: str | None = None


@dataclass
class CaseChange:
    """The part of a snapshot that actions change; the rest is fixed when the case opens."""

    version: int
    status: str
    amount_recovered: str | None
    updated_at: datetime
    due_at: datetime | None
    meeting_id: str | None
    assignments: list[AssignmentView]


@dataclass
class AnsweredUpdate:
    """An update the case applied: its id and its answer (a snapshot, kept as the change it made,
    or the count ``recompute_deadlines`` returned)."""

    id: str
    change: CaseChange | None = None
    count: int | None = None


@dataclass
class ProjectionBatch:
    case: CaseSnapshot
    events: list[Event]


# --- update payloads -------------------------------------------------------------------------


@dataclass
class Actor:
    username: str
    role: str
    department: str | None = None


@dataclass
class RouteCommand:
    actor: Actor
    department: str
    role: AssignmentRole


@dataclass
class DepartmentCommand:
    """acknowledge / resume and other actions that carry no text."""

    actor: Actor
    department: str


@dataclass
class TextCommand:
    """return (reason), progress (note), complete (outcome)."""

    actor: Actor
    department: str
    text: str


@dataclass
class ExtensionCommand:
    actor: Actor
    department: str
    duration: str
    reason: str


@dataclass
class DecisionCommand:
    actor: Actor
    department: str
    approved: bool


@dataclass
class SuspendCommand:
    actor: Actor
    department: str
    reason: str
    until_department: str | None = None


@dataclass
class CaseTextCommand:
    """escalate / withdraw (reason)."""

    actor: Actor
    text: str


@dataclass
class ResolveCommand:
    actor: Actor
    summary: str
    amount_recovered: str | None = None


@dataclass
class FeedbackCommand:
    actor: Actor
    satisfied: bool
    comment: str | None = None


@dataclass
class AgendaCommand:
    """The joint meeting puts the case on its agenda (seam for the meeting workflow)."""

    actor: Actor
    meeting_id: str


@dataclass
class MeetingDecisionCommand:
    actor: Actor
    meeting_id: str
    decision: str
    lead_department: str
    assist_departments: list[str]
    resolve_within: str


@dataclass
class LeaveAgendaCommand:
    """The meeting dropped the case from its agenda: back to in progress, with the reason."""

    actor: Actor
    meeting_id: str
    reason: str


@dataclass
class PlaceRequest:
    """Put an escalated case on the earliest planned meeting's agenda (planning one if none)."""

    case_id: str
    reason: str
    carried_from: str | None = None
