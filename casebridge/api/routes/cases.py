"""Cases and assignments: reads come from PostgreSQL, writes go to the case's workflow."""

from __future__ import annotations

import hashlib
import secrets
from contextvars import ContextVar
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response, status
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from casebridge.api.deps import CurrentUser, Officer, PolicyDep, SessionDep, StateDep, TemporalDep
from casebridge.api.errors import within
from casebridge.api.present import can_see, case_out, event_out
from casebridge.api.schemas import (
    CaseCreate,
    CaseList,
    CaseOut,
    DecisionIn,
    EventOut,
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
from casebridge.db import queries
from casebridge.db.models import Case
from casebridge.domain.errors import InvalidTransition, NotFound, UnknownCategory, UnknownDepartment
from casebridge.domain.model import (
    Actor,
    AssignmentRole,
    CaseInput,
    CaseTextCommand,
    DecisionCommand,
    DepartmentCommand,
    ExtensionCommand,
    FeedbackCommand,
    ResolveCommand,
    RouteCommand,
    SuspendCommand,
    TextCommand,
    Worker,
)
from casebridge.workflows import CaseWorkflow, CaseWorkflowInput

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])

UPDATE_TIMEOUT = timedelta(seconds=60)  # an escalation waits up to 20 s for its agenda
TERMINAL = ("closed", "withdrawn")
ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: people read these ids out on the phone


def new_case_id(username: str, idempotency_key: str | None) -> str:
    if idempotency_key is None:
        body = "".join(secrets.choice(ID_ALPHABET) for _ in range(10))
    else:
        digest = hashlib.sha256(f"{username}\0{idempotency_key}".encode()).digest()
        body = "".join(ID_ALPHABET[b % len(ID_ALPHABET)] for b in digest[:10])
    return f"CB-{body}"


def actor(user: CurrentUserInfo) -> Actor:
    return Actor(user.username, user.role, user.department)


def not_found(case_id: str) -> NotFound:
    return NotFound(f"没有编号为 {case_id} 的个案", f"no case {case_id}")


async def render(state: StateDep, session: SessionDep, case_id: str, user: CurrentUserInfo) -> CaseOut:
    session.expire_all()
    case = await queries.get_case(session, case_id)
    if case is None or not can_see(user, case):
        raise not_found(case_id)
    assignments = await queries.assignments_for(session, [case.id])
    return case_out(case, assignments[case.id], user, state.tz)


async def visible_case(session: SessionDep, case_id: str, user: CurrentUserInfo) -> Case:
    case = await queries.get_case(session, case_id) if len(case_id) <= 32 else None
    if case is None or not can_see(user, case):
        raise not_found(case_id)
    return case


# An action retried with the same Idempotency-Key (after a timeout, a 503 or a cut connection) is
# the same Temporal update id: the case answers it with its first answer instead of applying the
# action again (CaseWorkflow.applied_once, across continue-as-new too). Scoped by case, action and
# user, so one key cannot stand for two different actions.
_action_key: ContextVar[str | None] = ContextVar("action_idempotency_key", default=None)


async def remember_action_key(
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=200,
            pattern=r"^[\x21-\x7e]+$",
            description="retry an action safely: the same key applies it at most once",
        ),
    ] = None,
) -> None:
    _action_key.set(idempotency_key)


ACTION_KEY = Depends(remember_action_key)


def action_update_id(case_id: str, update: Any, user: CurrentUserInfo) -> str | None:
    key = _action_key.get()
    if key is None:
        return None
    name = getattr(update, "__name__", str(update))
    digest = hashlib.sha256(f"{case_id}\0{name}\0{user.username}\0{key}".encode()).hexdigest()[:32]
    return f"action-{digest}"


async def run_update(
    state: StateDep,
    session: SessionDep,
    temporal: TemporalDep,
    user: CurrentUserInfo,
    case_id: str,
    update: Any,
    cmd: Any,
) -> CaseOut:
    case = await visible_case(session, case_id, user)
    if case.status in TERMINAL:
        raise InvalidTransition(f"个案已{'结案' if case.status == 'closed' else '撤回'}", f"the case is {case.status}")
    await session.rollback()  # give the connection back while the workflow works
    handle: WorkflowHandle[Any, Any] = temporal.get_workflow_handle(case_id)
    update_id = action_update_id(case_id, update, user)
    await within(
        UPDATE_TIMEOUT.total_seconds(), handle.execute_update(update, cmd, id=update_id, rpc_timeout=UPDATE_TIMEOUT)
    )
    return await render(state, session, case_id, user)


def require_department(user: CurrentUserInfo, department: str, officer_too: bool = False) -> None:
    if officer_too and user.role == "officer":
        return
    if user.role != "department" or user.department != department:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"只有 {department} 可以办理该派单任务 / only {department} may act on this assignment",
        )


async def start_case(state: AppState, temporal: Client, case: CaseInput) -> bool:
    """Start the case's workflow (or join the one already running under its id) and return once
    it is routed and projected. False when a workflow of that id has already ended: the case is
    in the read model as it stands. Every intake (officer, hotline, Open311) starts cases here."""
    try:
        handle = await temporal.start_workflow(
            CaseWorkflow.run,
            CaseWorkflowInput(case=case),
            id=case.id,
            task_queue=state.settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    except WorkflowAlreadyStartedError:
        return False
    await within(UPDATE_TIMEOUT.total_seconds(), handle.execute_update(CaseWorkflow.opened, rpc_timeout=UPDATE_TIMEOUT))
    return True


# --- intake and reads ----------------------------------------------------------------------


@router.post("", status_code=201, response_model=CaseOut, summary="Take in a case (受理)")
async def create_case(
    body: CaseCreate,
    user: Officer,
    state: StateDep,
    session: SessionDep,
    temporal: TemporalDep,
    policy: PolicyDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> CaseOut:
    category = policy.category(body.category)
    if category is None:
        known = ", ".join(sorted(policy.categories))
        raise UnknownCategory(
            f"未知类别 {body.category}（可选：{known}）", f"unknown category {body.category!r} ({known})"
        )
    if body.departments:
        unknown = [d for d in body.departments if d not in policy.departments]
        if unknown:
            known = ", ".join(sorted(policy.departments))
            raise UnknownDepartment(
                f"未知单位 {unknown[0]}（可选：{known}）", f"unknown department {unknown[0]!r} ({known})"
            )
        twice = sorted({d for d in body.departments if body.departments.count(d) > 1})
        if twice:
            raise UnknownDepartment(f"单位 {twice[0]} 重复", f"department {twice[0]!r} is named twice")
    case_id = new_case_id(user.username, idempotency_key)
    if idempotency_key is not None and await queries.get_case(session, case_id) is not None:
        response.headers["Idempotent-Replayed"] = "true"
        return await render(state, session, case_id, user)
    await session.rollback()
    case = CaseInput(
        id=case_id,
        category=body.category,
        title=body.title,
        description=body.description,
        worker=Worker(body.worker.name, body.worker.phone, body.worker.occupation, body.worker.platform),
        policy=category,
        departments_known=sorted(policy.departments),
        created_by=user.username,
        station=body.station,
        counterparty=body.counterparty,
        amount_claimed=f"{body.amount_claimed:.2f}" if body.amount_claimed is not None else None,
        departments=body.departments,
    )
    if not await start_case(state, temporal, case):
        # The same key after the case ended: it is in the read model.
        response.headers["Idempotent-Replayed"] = "true"
        return await render(state, session, case_id, user)
    return await render(state, session, case_id, user)


@router.get("", response_model=CaseList, summary="List cases, newest first")
async def list_cases(
    user: CurrentUser,
    state: StateDep,
    session: SessionDep,
    status_: Annotated[str | None, Query(alias="status", max_length=20)] = None,
    category: Annotated[str | None, Query(max_length=50)] = None,
    department: Annotated[str | None, Query(max_length=50)] = None,
    overdue: bool | None = None,
    q: Annotated[str | None, Query(max_length=200, description="words in title, description or worker name")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> CaseList:
    filters = queries.CaseFilter(
        status=status_,
        category=category,
        department=department,
        overdue=overdue,
        q=q.strip() if q else None,
        visible_to_department=user.department if user.role == "department" else None,
    )
    page = await queries.list_cases(session, filters, limit, offset)
    assignments = await queries.assignments_for(session, [c.id for c in page.items])
    return CaseList(
        items=[case_out(c, assignments[c.id], user, state.tz) for c in page.items],
        total=page.total,
        total_capped=page.total_capped,
    )


@router.get("/{case_id}", response_model=CaseOut, summary="One case")
async def get_case(case_id: str, user: CurrentUser, state: StateDep, session: SessionDep) -> CaseOut:
    await visible_case(session, case_id, user)
    return await render(state, session, case_id, user)


@router.get("/{case_id}/events", response_model=list[EventOut], summary="The case's timeline, in order")
async def case_events(case_id: str, user: CurrentUser, state: StateDep, session: SessionDep) -> list[EventOut]:
    await visible_case(session, case_id, user)
    return [event_out(e, state.tz) for e in await queries.events_for(session, case_id)]


# --- officer actions -----------------------------------------------------------------------


@router.post(
    "/{case_id}/assignments",
    response_model=CaseOut,
    dependencies=[ACTION_KEY],
    summary="Route (or re-route) to a department",
)
async def route(
    case_id: str, body: RouteIn, user: Officer, state: StateDep, session: SessionDep, temporal: TemporalDep
) -> CaseOut:
    cmd = RouteCommand(actor(user), body.department, AssignmentRole(body.role))
    return await run_update(state, session, temporal, user, case_id, CaseWorkflow.route, cmd)


@router.post(
    "/{case_id}/escalate", response_model=CaseOut, dependencies=[ACTION_KEY], summary="Escalate to the joint meeting"
)
async def escalate(
    case_id: str, body: ReasonIn, user: Officer, state: StateDep, session: SessionDep, temporal: TemporalDep
) -> CaseOut:
    cmd = CaseTextCommand(actor(user), body.reason)
    return await run_update(state, session, temporal, user, case_id, CaseWorkflow.escalate, cmd)


@router.post("/{case_id}/resolve", response_model=CaseOut, dependencies=[ACTION_KEY], summary="Resolve the case (办结)")
async def resolve(
    case_id: str, body: ResolveIn, user: Officer, state: StateDep, session: SessionDep, temporal: TemporalDep
) -> CaseOut:
    amount = f"{body.amount_recovered:.2f}" if body.amount_recovered is not None else None
    cmd = ResolveCommand(actor(user), body.summary, amount)
    return await run_update(state, session, temporal, user, case_id, CaseWorkflow.resolve, cmd)


@router.post(
    "/{case_id}/feedback",
    response_model=CaseOut,
    dependencies=[ACTION_KEY],
    summary="Record the worker's feedback (回访)",
)
async def feedback(
    case_id: str, body: FeedbackIn, user: Officer, state: StateDep, session: SessionDep, temporal: TemporalDep
) -> CaseOut:
    cmd = FeedbackCommand(actor(user), body.satisfied, body.comment)
    return await run_update(state, session, temporal, user, case_id, CaseWorkflow.record_feedback, cmd)


@router.post(
    "/{case_id}/withdraw", response_model=CaseOut, dependencies=[ACTION_KEY], summary="Withdraw the case (撤回)"
)
async def withdraw(
    case_id: str, body: ReasonIn, user: Officer, state: StateDep, session: SessionDep, temporal: TemporalDep
) -> CaseOut:
    cmd = CaseTextCommand(actor(user), body.reason)
    return await run_update(state, session, temporal, user, case_id, CaseWorkflow.withdraw, cmd)


@router.post(
    "/{case_id}/assignments/{department}/extension/decision", response_model=CaseOut, dependencies=[ACTION_KEY]
)
async def decide_extension(
    case_id: str,
    department: str,
    body: DecisionIn,
    user: Officer,
    state: StateDep,
    session: SessionDep,
    temporal: TemporalDep,
) -> CaseOut:
    cmd = DecisionCommand(actor(user), department, body.approved)
    return await run_update(state, session, temporal, user, case_id, CaseWorkflow.decide_extension, cmd)


@router.post("/{case_id}/assignments/{department}/suspend/decision", response_model=CaseOut, dependencies=[ACTION_KEY])
async def decide_suspension(
    case_id: str,
    department: str,
    body: DecisionIn,
    user: Officer,
    state: StateDep,
    session: SessionDep,
    temporal: TemporalDep,
) -> CaseOut:
    cmd = DecisionCommand(actor(user), department, body.approved)
    return await run_update(state, session, temporal, user, case_id, CaseWorkflow.decide_suspension, cmd)


# --- department actions --------------------------------------------------------------------


async def department_update(
    state: StateDep,
    session: SessionDep,
    temporal: TemporalDep,
    user: CurrentUserInfo,
    case_id: str,
    department: str,
    update: Any,
    cmd: Any,
    officer_too: bool = False,
) -> CaseOut:
    await visible_case(session, case_id, user)
    require_department(user, department, officer_too)
    return await run_update(state, session, temporal, user, case_id, update, cmd)


@router.post(
    "/{case_id}/assignments/{department}/acknowledge",
    response_model=CaseOut,
    dependencies=[ACTION_KEY],
    summary="Acknowledge (签收)",
)
async def acknowledge(
    case_id: str, department: str, user: CurrentUser, state: StateDep, session: SessionDep, temporal: TemporalDep
) -> CaseOut:
    cmd = DepartmentCommand(actor(user), department)
    return await department_update(state, session, temporal, user, case_id, department, CaseWorkflow.acknowledge, cmd)


@router.post(
    "/{case_id}/assignments/{department}/return",
    response_model=CaseOut,
    dependencies=[ACTION_KEY],
    summary="Return (退回)",
)
async def return_assignment(
    case_id: str,
    department: str,
    body: ReasonIn,
    user: CurrentUser,
    state: StateDep,
    session: SessionDep,
    temporal: TemporalDep,
) -> CaseOut:
    cmd = TextCommand(actor(user), department, body.reason)
    update = CaseWorkflow.return_assignment
    return await department_update(state, session, temporal, user, case_id, department, update, cmd)


@router.post(
    "/{case_id}/assignments/{department}/progress",
    response_model=CaseOut,
    dependencies=[ACTION_KEY],
    summary="Report progress",
)
async def progress(
    case_id: str,
    department: str,
    body: NoteIn,
    user: CurrentUser,
    state: StateDep,
    session: SessionDep,
    temporal: TemporalDep,
) -> CaseOut:
    cmd = TextCommand(actor(user), department, body.note)
    update = CaseWorkflow.report_progress
    return await department_update(state, session, temporal, user, case_id, department, update, cmd)


@router.post(
    "/{case_id}/assignments/{department}/extension",
    response_model=CaseOut,
    dependencies=[ACTION_KEY],
    summary="Request an extension",
)
async def request_extension(
    case_id: str,
    department: str,
    body: ExtensionIn,
    user: CurrentUser,
    state: StateDep,
    session: SessionDep,
    temporal: TemporalDep,
) -> CaseOut:
    cmd = ExtensionCommand(actor(user), department, body.duration, body.reason)
    update = CaseWorkflow.request_extension
    return await department_update(state, session, temporal, user, case_id, department, update, cmd)


@router.post(
    "/{case_id}/assignments/{department}/complete",
    response_model=CaseOut,
    dependencies=[ACTION_KEY],
    summary="Complete (办结)",
)
async def complete(
    case_id: str,
    department: str,
    body: OutcomeIn,
    user: CurrentUser,
    state: StateDep,
    session: SessionDep,
    temporal: TemporalDep,
) -> CaseOut:
    cmd = TextCommand(actor(user), department, body.outcome)
    return await department_update(state, session, temporal, user, case_id, department, CaseWorkflow.complete, cmd)


@router.post(
    "/{case_id}/assignments/{department}/suspend",
    response_model=CaseOut,
    dependencies=[ACTION_KEY],
    summary="Suspend the clock (时限中止): at once from the officer, a request from the department",
)
async def suspend(
    case_id: str,
    department: str,
    body: SuspendIn,
    user: CurrentUser,
    state: StateDep,
    session: SessionDep,
    temporal: TemporalDep,
) -> CaseOut:
    cmd = SuspendCommand(actor(user), department, body.reason, body.until_department)
    return await department_update(
        state, session, temporal, user, case_id, department, CaseWorkflow.suspend, cmd, officer_too=True
    )


@router.post(
    "/{case_id}/assignments/{department}/resume",
    response_model=CaseOut,
    dependencies=[ACTION_KEY],
    summary="Resume the clock",
)
async def resume(
    case_id: str, department: str, user: CurrentUser, state: StateDep, session: SessionDep, temporal: TemporalDep
) -> CaseOut:
    cmd = DepartmentCommand(actor(user), department)
    return await department_update(
        state, session, temporal, user, case_id, department, CaseWorkflow.resume, cmd, officer_too=True
    )
