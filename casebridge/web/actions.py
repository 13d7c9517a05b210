"""What a user may do on a case now, and doing it.

Availability is decided by the domain's own rules: the read-model rows are turned back into a
``CaseState`` and each action's ``CaseMachine.check_*`` is asked — the same checks the workflow's
update validators run. The workflow stays the judge: an action shown here can still be refused
(another user acted first), and then the reason is shown next to the form.

Doing an action calls the JSON API's route function for it, so validation (the API's pydantic
schemas), permission checks, the Temporal update and the read-your-write all follow one code path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from casebridge.api.deps import require_roles
from casebridge.api.routes import cases as api
from casebridge.api.schemas import (
    CaseOut,
    DecisionIn,
    ExtensionIn,
    FeedbackIn,
    NoteIn,
    OutcomeIn,
    ReasonIn,
    ResolveIn,
    RouteIn,
    SuspendIn,
)
from casebridge.api.security import CurrentUserInfo
from casebridge.api.state import AppState
from casebridge.db.models import Assignment as AssignmentRow
from casebridge.db.models import Case, CaseEvent
from casebridge.domain.case import CaseMachine
from casebridge.domain.errors import DomainError
from casebridge.domain.model import (
    Actor,
    Assignment,
    AssignmentRole,
    AssignmentStatus,
    CaseState,
    CaseStatus,
    CategoryPolicy,
    ExtensionRequest,
    Schedule,
    SuspensionRequest,
    Worker,
)


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str  # translation key
    kind: str = "textarea"  # textarea | text | select | bool | amount
    required: bool = True


@dataclass
class Call:
    case_id: str
    department: str
    body: Any
    user: CurrentUserInfo
    state: AppState
    session: AsyncSession
    temporal: Client


@dataclass(frozen=True)
class ActionSpec:
    key: str
    label: str
    schema: type[BaseModel] | None
    perform: Callable[[Call], Awaitable[CaseOut]]
    fields: tuple[FieldSpec, ...] = ()
    officer_only: bool = False  # the API's `Officer` dependency: enforced here, since we call the function
    per_assignment: bool = False


REASON = FieldSpec("reason", "fld.reason")

SPECS: dict[str, ActionSpec] = {
    spec.key: spec
    for spec in (
        ActionSpec(
            "acknowledge",
            "act.acknowledge",
            None,
            lambda c: api.acknowledge(c.case_id, c.department, c.user, c.state, c.session, c.temporal),
            per_assignment=True,
        ),
        ActionSpec(
            "complete",
            "act.complete",
            OutcomeIn,
            lambda c: api.complete(c.case_id, c.department, c.body, c.user, c.state, c.session, c.temporal),
            (FieldSpec("outcome", "fld.outcome"),),
            per_assignment=True,
        ),
        ActionSpec(
            "progress",
            "act.progress",
            NoteIn,
            lambda c: api.progress(c.case_id, c.department, c.body, c.user, c.state, c.session, c.temporal),
            (FieldSpec("note", "fld.note"),),
            per_assignment=True,
        ),
        ActionSpec(
            "extension",
            "act.extension",
            ExtensionIn,
            lambda c: api.request_extension(c.case_id, c.department, c.body, c.user, c.state, c.session, c.temporal),
            (FieldSpec("duration", "fld.duration", "text"), REASON),
            per_assignment=True,
        ),
        ActionSpec(
            "suspend",
            "act.suspend",
            SuspendIn,
            lambda c: api.suspend(c.case_id, c.department, c.body, c.user, c.state, c.session, c.temporal),
            (REASON, FieldSpec("until_department", "fld.until_department", "select", required=False)),
            per_assignment=True,
        ),
        ActionSpec(
            "resume",
            "act.resume",
            None,
            lambda c: api.resume(c.case_id, c.department, c.user, c.state, c.session, c.temporal),
            per_assignment=True,
        ),
        ActionSpec(
            "return",
            "act.return",
            ReasonIn,
            lambda c: api.return_assignment(c.case_id, c.department, c.body, c.user, c.state, c.session, c.temporal),
            (REASON,),
            per_assignment=True,
        ),
        ActionSpec(
            "decide_extension",
            "act.decide_extension",
            DecisionIn,
            lambda c: api.decide_extension(c.case_id, c.department, c.body, c.user, c.state, c.session, c.temporal),
            (FieldSpec("approved", "fld.approved", "bool"),),
            officer_only=True,
            per_assignment=True,
        ),
        ActionSpec(
            "decide_suspension",
            "act.decide_suspension",
            DecisionIn,
            lambda c: api.decide_suspension(c.case_id, c.department, c.body, c.user, c.state, c.session, c.temporal),
            (FieldSpec("approved", "fld.approved", "bool"),),
            officer_only=True,
            per_assignment=True,
        ),
        ActionSpec(
            "route",
            "act.route",
            RouteIn,
            lambda c: api.route(c.case_id, c.body, c.user, c.state, c.session, c.temporal),
            (FieldSpec("department", "fld.department", "select"), FieldSpec("role", "fld.role", "select")),
            officer_only=True,
        ),
        ActionSpec(
            "escalate",
            "act.escalate",
            ReasonIn,
            lambda c: api.escalate(c.case_id, c.body, c.user, c.state, c.session, c.temporal),
            (REASON,),
            officer_only=True,
        ),
        ActionSpec(
            "resolve",
            "act.resolve",
            ResolveIn,
            lambda c: api.resolve(c.case_id, c.body, c.user, c.state, c.session, c.temporal),
            (
                FieldSpec("summary", "fld.summary"),
                FieldSpec("amount_recovered", "fld.amount_recovered", "amount", False),
            ),
            officer_only=True,
        ),
        ActionSpec(
            "feedback",
            "act.feedback",
            FeedbackIn,
            lambda c: api.feedback(c.case_id, c.body, c.user, c.state, c.session, c.temporal),
            (FieldSpec("satisfied", "fld.satisfied", "bool"), FieldSpec("comment", "fld.comment", required=False)),
            officer_only=True,
        ),
        ActionSpec(
            "withdraw",
            "act.withdraw",
            ReasonIn,
            lambda c: api.withdraw(c.case_id, c.body, c.user, c.state, c.session, c.temporal),
            (REASON,),
            officer_only=True,
        ),
    )
}


@dataclass
class Available:
    """An action the user may take now, with what its form offers."""

    spec: ActionSpec
    department: str = ""
    options: dict[str, list[str]] = field(default_factory=dict)  # select field → allowed values
    info: dict[str, Any] = field(default_factory=dict)  # e.g. the pending request being decided
    label: str | None = None

    @property
    def key(self) -> str:
        return f"{self.spec.key}:{self.department}" if self.department else self.spec.key

    @property
    def title(self) -> str:
        return self.label or self.spec.label


def pending_requests(events: list[CaseEvent]) -> dict[tuple[str, str], dict[str, Any]]:
    """The details of extension and suspension requests still waiting, by (kind, department): the
    read model flags that one waits; the timeline says what it asks for."""
    pending: dict[tuple[str, str], dict[str, Any]] = {}
    closing = {
        "extension": ("assignment.extension_approved", "assignment.extension_rejected"),
        "suspension": ("assignment.suspended", "assignment.suspension_rejected"),
    }
    for event in events:
        department = str(event.data.get("department", ""))
        if event.type == "assignment.extension_requested":
            pending[("extension", department)] = {**event.data, "by": event.actor, "at": event.at}
        elif event.type == "assignment.suspension_requested":
            pending[("suspension", department)] = {**event.data, "by": event.actor, "at": event.at}
        elif event.type in ("assignment.issued", "assignment.returned", "assignment.completed"):
            pending.pop(("extension", department), None)
            pending.pop(("suspension", department), None)
        else:
            for kind, types in closing.items():
                if event.type in types:
                    pending.pop((kind, department), None)
    return pending


def shadow_state(
    case: Case, rows: list[AssignmentRow], events: list[CaseEvent], departments_known: list[str]
) -> CaseState:
    """The case as the domain sees it, rebuilt from the read model: enough for every ``check_*``."""
    pending = pending_requests(events)
    assignments = []
    for row in rows:
        extension = pending.get(("extension", row.department), {})
        suspension = pending.get(("suspension", row.department), {})
        at = row.issued_at
        assignments.append(
            Assignment(
                department=row.department,
                role=AssignmentRole(row.role),
                status=AssignmentStatus(row.status),
                issued_at=row.issued_at,
                ack_within="",
                resolve_within="",
                warn_at=[],
                escalate_after_overdue="",
                schedule=Schedule(row.ack_due_at, row.due_at, row.ack_due_at, row.due_at, row.provisional),
                supervised=row.supervised,
                suspended_since=at if row.suspended else None,
                extension_request=ExtensionRequest(str(extension.get("duration", "")), "", "", at)
                if row.extension_requested
                else None,
                suspension_request=SuspensionRequest("", suspension.get("until_department"), "", at)
                if row.suspension_requested
                else None,
                acknowledged_at=row.acknowledged_at,
                completed_at=row.completed_at,
            )
        )
    placeholder = CategoryPolicy(case.category, "", [], "1 day", "1 day", [], "1 day")
    return CaseState(
        id=case.id,
        status=CaseStatus(case.status),
        category=case.category,
        title=case.title,
        description=case.description,
        worker=Worker(case.worker_name, case.worker_phone),
        policy=placeholder,
        departments_known=list(departments_known),
        created_at=case.created_at,
        updated_at=case.updated_at,
        assignments=assignments,
        returns={row.department: row.returns for row in rows},
        meeting_id=case.meeting_id,
        next_seq=case.version + 1,
    )


def _allowed(check: Callable[..., object], *args: Any, **kwargs: Any) -> bool:
    try:
        check(*args, **kwargs)
    except DomainError:
        return False
    return True


def available_actions(
    case: Case,
    rows: list[AssignmentRow],
    events: list[CaseEvent],
    user: CurrentUserInfo,
    departments_known: list[str],
) -> list[Available]:
    machine = CaseMachine(shadow_state(case, rows, events, departments_known))
    actor = Actor(user.username, user.role, user.department)
    pending = pending_requests(events)
    found: list[Available] = []
    active = [r.department for r in rows if r.status in ("pending_ack", "acknowledged")]

    def add(key: str, department: str = "", **extra: Any) -> None:
        found.append(Available(SPECS[key], department, **extra))

    if user.role == "department" and user.department in {r.department for r in rows}:
        own = user.department or ""
        checks: list[tuple[str, Callable[[Actor, str], object]]] = [
            ("acknowledge", machine.check_acknowledge),
            ("complete", machine.check_complete),
            ("progress", machine.check_progress),
            ("extension", machine.check_request_extension),
            ("suspend", lambda actor, department: machine.check_suspend(actor, department, None)),
            ("resume", machine.check_resume),
            ("return", machine.check_return),
        ]
        for key, check in checks:
            if _allowed(check, actor, own):
                options = {}
                label = None
                if key == "suspend":
                    label = "act.suspend_request"
                    options["until_department"] = [d for d in active if _allowed(machine.check_suspend, actor, own, d)]
                found.append(Available(SPECS[key], own, options, label=label))
    elif user.role == "officer":
        for row in rows:
            code = row.department
            if _allowed(machine.check_decide_extension, code):
                add("decide_extension", code, info=pending.get(("extension", code), {}))
            if _allowed(machine.check_decide_suspension, code, approved=False):
                approvable = _allowed(machine.check_decide_suspension, code, approved=True)
                add(
                    "decide_suspension",
                    code,
                    info=pending.get(("suspension", code), {}),
                    options={"approved": ["true", "false"] if approvable else ["false"]},
                )
            if _allowed(machine.check_suspend, actor, code, None):
                waits = [d for d in active if _allowed(machine.check_suspend, actor, code, d)]
                add("suspend", code, options={"until_department": waits})
            if _allowed(machine.check_resume, actor, code):
                add("resume", code)
        routable = [d for d in departments_known if _allowed(machine.check_route, d, AssignmentRole.ASSIST)]
        if routable:
            roles = ["assist"]
            if any(_allowed(machine.check_route, d, AssignmentRole.LEAD) for d in routable):
                roles.insert(0, "lead")
            add("route", options={"department": routable, "role": roles})
        for key, case_check in (
            ("resolve", machine.check_resolve),
            ("feedback", machine.check_feedback),
            ("escalate", machine.check_escalate),
            ("withdraw", machine.check_withdraw),
        ):
            if _allowed(case_check):
                add(key)
    return found


def form_data(spec: ActionSpec, values: dict[str, str]) -> dict[str, Any]:
    """Form strings → the JSON body the API schema expects (booleans, omitted optional fields)."""
    data: dict[str, Any] = {}
    for spec_field in spec.fields:
        raw = values.get(spec_field.name)
        if raw is None or (raw.strip() == "" and not spec_field.required):
            continue
        if spec_field.kind == "bool":
            data[spec_field.name] = {"true": True, "false": False}.get(raw, raw)
        else:
            data[spec_field.name] = raw
    return data


async def perform(
    spec: ActionSpec,
    case_id: str,
    department: str,
    body: BaseModel | None,
    user: CurrentUserInfo,
    state: AppState,
    session: AsyncSession,
    temporal: Client,
) -> CaseOut:
    if spec.officer_only:
        require_roles("officer")(user)
    return await spec.perform(Call(case_id, department, body, user, state, session, temporal))


def deadline_of(row: AssignmentRow) -> datetime:
    return row.ack_due_at if row.status == "pending_ack" else row.due_at
