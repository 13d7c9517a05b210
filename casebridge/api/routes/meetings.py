"""The joint meeting (联席会议): agenda, leaders' review, decisions, minutes and documents."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Response, status
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from casebridge.activities.meetings import new_meeting_id
from casebridge.api.deps import PolicyDep, SessionDep, StateDep, TemporalDep, require_roles
from casebridge.api.documents import agenda_docx, minutes_docx, printable_html
from casebridge.api.errors import within
from casebridge.api.meeting_schemas import (
    AgendaItemOut,
    DecisionIn,
    DecisionOut,
    FollowUpOut,
    MeetingCreate,
    MeetingEventOut,
    MeetingOut,
    PositionOut,
    ProposalOut,
    ReasonIn,
    ReorderIn,
    StatementIn,
)
from casebridge.api.routes.cases import actor
from casebridge.api.security import CurrentUserInfo
from casebridge.db import meeting_queries
from casebridge.db.models import Meeting, MeetingEvent
from casebridge.domain.case import canonical_duration
from casebridge.domain.errors import NotFound
from casebridge.domain.meeting import (
    DismissCommand,
    DropCommand,
    ItemDecisionCommand,
    MeetingInput,
    PositionCommand,
    ReorderCommand,
    TopicCommand,
)
from casebridge.workflows import JointMeetingWorkflow, MeetingWorkflowInput

router = APIRouter(prefix="/api/v1/meetings", tags=["meetings"])

UPDATE_TIMEOUT = timedelta(seconds=120)  # closing plans the next meeting and moves its cases
Reader = Annotated[CurrentUserInfo, Depends(require_roles("officer", "leader"))]
Leader = Annotated[CurrentUserInfo, Depends(require_roles("leader"))]
DepartmentUser = Annotated[CurrentUserInfo, Depends(require_roles("department"))]
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def not_found(meeting_id: str) -> NotFound:
    return NotFound(f"没有编号为 {meeting_id} 的会议", f"no meeting {meeting_id}")


async def load(session: SessionDep, meeting_id: str) -> Meeting:
    meeting = await session.get(Meeting, meeting_id, populate_existing=True) if len(meeting_id) <= 40 else None
    if meeting is None:
        raise not_found(meeting_id)
    return meeting


def _item(raw: dict[str, Any], summary: dict[str, Any] | None) -> AgendaItemOut:
    decision = raw.get("decision")
    return AgendaItemOut(
        case_id=raw.get("case_id"),
        reason=raw["reason"],
        departments=raw["departments"],
        overdue_days=raw.get("overdue_days", 0),
        decision=DecisionOut(**decision) if decision else None,
        key=raw["key"],
        kind="case" if raw.get("case_id") else "topic",
        title=raw.get("title", ""),
        case_ids=raw.get("case_ids", []),
        carried_from=raw.get("carried_from"),
        positions=raw.get("positions", {}),
        summary=summary,
    )


async def render(
    state: StateDep, session: SessionDep, policy: PolicyDep, meeting: Meeting, detail: bool = True
) -> MeetingOut:
    tz = state.tz
    summaries: dict[str, Any] = {}
    proposals: list[ProposalOut] = []
    follow_up: list[FollowUpOut] = []
    if detail:
        case_ids = [raw["case_id"] for raw in meeting.items if raw.get("case_id")]
        summaries = {k: v.__dict__ for k, v in (await meeting_queries.item_summaries(session, case_ids)).items()}
        if meeting.status == "planned":
            taken = set(meeting.dismissed_proposals) | {
                raw["key"].removeprefix("topic:") for raw in meeting.items if raw["key"].startswith("topic:")
            }
            found = await meeting_queries.proposals(session, policy, datetime.now(tz), taken)
            proposals = [ProposalOut(**p.__dict__) for p in found]
        if meeting.status != "closed":
            follow_up = [FollowUpOut(**f.__dict__) for f in await meeting_queries.follow_ups(session, meeting.id)]
    return MeetingOut(
        id=meeting.id,
        title=meeting.title,
        scheduled_for=meeting.scheduled_for.astimezone(tz),
        status=meeting.status,
        agenda=[_item(raw, summaries.get(raw.get("case_id") or "")) for raw in meeting.items],
        minutes=meeting.minutes,
        proposals=proposals,
        follow_up=follow_up,
    )


async def run_update(
    state: StateDep,
    session: SessionDep,
    temporal: TemporalDep,
    policy: PolicyDep,
    meeting_id: str,
    update: Any,
    cmd: Any,
) -> MeetingOut:
    await load(session, meeting_id)
    await session.rollback()
    await within(
        UPDATE_TIMEOUT.total_seconds(),
        temporal.get_workflow_handle(meeting_id).execute_update(update, cmd, rpc_timeout=UPDATE_TIMEOUT),
    )
    session.expire_all()
    return await render(state, session, policy, await load(session, meeting_id))


@router.get("", response_model=list[MeetingOut], summary="Joint meetings, latest first")
async def list_meetings(_: Reader, state: StateDep, session: SessionDep, policy: PolicyDep) -> list[MeetingOut]:
    meetings = await meeting_queries.list_meetings(session)
    return [await render(state, session, policy, m, detail=False) for m in meetings]


@router.post("", response_model=MeetingOut, status_code=201, summary="Convene a meeting (ad hoc)")
async def create_meeting(
    body: MeetingCreate, user: Reader, state: StateDep, session: SessionDep, temporal: TemporalDep, policy: PolicyDep
) -> MeetingOut:
    scheduled = body.scheduled_for if body.scheduled_for.tzinfo else body.scheduled_for.replace(tzinfo=state.tz)
    meeting_id = new_meeting_id(scheduled, state.tz)
    names = {code: d.name for code, d in policy.departments.items()}
    handle = await temporal.start_workflow(
        JointMeetingWorkflow.run,
        MeetingWorkflowInput(MeetingInput(meeting_id, body.title, scheduled, user.username, names)),
        id=meeting_id,
        task_queue=state.settings.task_queue,
    )
    await within(
        UPDATE_TIMEOUT.total_seconds(), handle.execute_update(JointMeetingWorkflow.opened, rpc_timeout=UPDATE_TIMEOUT)
    )
    return await render(state, session, policy, await load(session, meeting_id))


@router.get("/{meeting_id}", response_model=MeetingOut, summary="A meeting with its agenda")
async def get_meeting(
    meeting_id: str, _: Reader, state: StateDep, session: SessionDep, policy: PolicyDep
) -> MeetingOut:
    return await render(state, session, policy, await load(session, meeting_id))


@router.get("/{meeting_id}/events", response_model=list[MeetingEventOut], summary="The meeting's own log")
async def meeting_events(meeting_id: str, _: Reader, state: StateDep, session: SessionDep) -> list[MeetingEventOut]:
    await load(session, meeting_id)
    rows = await session.scalars(
        select(MeetingEvent).where(MeetingEvent.meeting_id == meeting_id).order_by(MeetingEvent.seq)
    )
    return [
        MeetingEventOut(seq=e.seq, type=e.type, at=e.at.astimezone(state.tz), actor=e.actor, data=e.data) for e in rows
    ]


@router.post("/{meeting_id}/approve-agenda", response_model=MeetingOut, summary="Approve (freeze) the agenda")
async def approve_agenda(
    meeting_id: str, user: Leader, state: StateDep, session: SessionDep, temporal: TemporalDep, policy: PolicyDep
) -> MeetingOut:
    return await run_update(
        state, session, temporal, policy, meeting_id, JointMeetingWorkflow.approve_agenda, actor(user)
    )


@router.post("/{meeting_id}/reorder", response_model=MeetingOut, summary="Reorder the agenda")
async def reorder(
    meeting_id: str,
    body: ReorderIn,
    user: Leader,
    state: StateDep,
    session: SessionDep,
    temporal: TemporalDep,
    policy: PolicyDep,
) -> MeetingOut:
    cmd = ReorderCommand(actor(user), body.order)
    return await run_update(state, session, temporal, policy, meeting_id, JointMeetingWorkflow.reorder, cmd)


@router.post("/{meeting_id}/items/{key}/drop", response_model=MeetingOut, summary="Drop an item (the case goes back)")
async def drop_item(
    meeting_id: str,
    key: str,
    body: ReasonIn,
    user: Leader,
    state: StateDep,
    session: SessionDep,
    temporal: TemporalDep,
    policy: PolicyDep,
) -> MeetingOut:
    cmd = DropCommand(actor(user), key, body.reason)
    return await run_update(state, session, temporal, policy, meeting_id, JointMeetingWorkflow.drop_item, cmd)


@router.post("/{meeting_id}/items/{key}/decision", response_model=MeetingOut, summary="Record the meeting's decision")
async def record_decision(
    meeting_id: str,
    key: str,
    body: DecisionIn,
    user: Leader,
    state: StateDep,
    session: SessionDep,
    temporal: TemporalDep,
    policy: PolicyDep,
) -> MeetingOut:
    cmd = ItemDecisionCommand(
        actor(user),
        key,
        body.decision,
        body.lead_department,
        body.assist_departments,
        canonical_duration(body.resolve_within),
    )
    return await run_update(state, session, temporal, policy, meeting_id, JointMeetingWorkflow.record_decision, cmd)


@router.post("/{meeting_id}/close", response_model=MeetingOut, summary="Close the meeting and publish the minutes")
async def close(
    meeting_id: str, user: Leader, state: StateDep, session: SessionDep, temporal: TemporalDep, policy: PolicyDep
) -> MeetingOut:
    return await run_update(state, session, temporal, policy, meeting_id, JointMeetingWorkflow.close, actor(user))


async def _proposal(state: StateDep, session: SessionDep, policy: PolicyDep, meeting: Meeting, key: str) -> ProposalOut:
    rendered = await render(state, session, policy, meeting)
    for proposal in rendered.proposals:
        if proposal.key == key:
            return proposal
    raise NotFound(f"没有编号为 {key} 的突出问题建议", f"no current proposal {key}")


@router.post(
    "/{meeting_id}/proposals/{key}/accept", response_model=MeetingOut, summary="Put a systemic issue on the agenda"
)
async def accept_proposal(
    meeting_id: str,
    key: str,
    user: Leader,
    state: StateDep,
    session: SessionDep,
    temporal: TemporalDep,
    policy: PolicyDep,
) -> MeetingOut:
    proposal = await _proposal(state, session, policy, await load(session, meeting_id), key)
    cmd = TopicCommand(actor(user), key, proposal.title, proposal.reason, proposal.case_ids, proposal.departments)
    return await run_update(state, session, temporal, policy, meeting_id, JointMeetingWorkflow.accept_topic, cmd)


@router.post("/{meeting_id}/proposals/{key}/dismiss", response_model=MeetingOut, summary="Dismiss a systemic issue")
async def dismiss_proposal(
    meeting_id: str,
    key: str,
    body: ReasonIn,
    user: Leader,
    state: StateDep,
    session: SessionDep,
    temporal: TemporalDep,
    policy: PolicyDep,
) -> MeetingOut:
    await _proposal(state, session, policy, await load(session, meeting_id), key)
    cmd = DismissCommand(actor(user), key, body.reason)
    return await run_update(state, session, temporal, policy, meeting_id, JointMeetingWorkflow.dismiss_proposal, cmd)


# --- department position statements ----------------------------------------------------------


def _own_item(meeting: Meeting, case_id: str, user: CurrentUserInfo) -> dict[str, Any]:
    for raw in meeting.items:
        if raw.get("case_id") == case_id and user.department in raw["departments"]:
            return raw
    # Not involved, or no such item: the same answer, so nothing leaks.
    raise NotFound(f"会议议程中没有本单位参与的 {case_id}", f"no agenda item {case_id} involving your department")


@router.get("/{meeting_id}/items/{case_id}/position", response_model=PositionOut, summary="Our position statement")
async def get_position(meeting_id: str, case_id: str, user: DepartmentUser, session: SessionDep) -> PositionOut:
    raw = _own_item(await load(session, meeting_id), case_id, user)
    department = user.department or ""
    return PositionOut(case_id=case_id, department=department, statement=raw.get("positions", {}).get(department))


@router.post("/{meeting_id}/items/{case_id}/position", response_model=PositionOut, summary="Submit our position")
async def submit_position(
    meeting_id: str, case_id: str, body: StatementIn, user: DepartmentUser, session: SessionDep, temporal: TemporalDep
) -> PositionOut:
    _own_item(await load(session, meeting_id), case_id, user)
    await session.rollback()
    department = user.department or ""
    cmd = PositionCommand(actor(user), case_id, department, body.statement)
    await within(
        UPDATE_TIMEOUT.total_seconds(),
        temporal.get_workflow_handle(meeting_id).execute_update(
            JointMeetingWorkflow.submit_position, cmd, rpc_timeout=UPDATE_TIMEOUT
        ),
    )
    return PositionOut(case_id=case_id, department=department, statement=body.statement)


# --- documents -------------------------------------------------------------------------------


def _names(policy: PolicyDep) -> dict[str, str]:
    return {code: d.name for code, d in policy.departments.items()}


@router.get("/{meeting_id}/agenda.docx", summary="The agenda as a Word document")
async def agenda_document(
    meeting_id: str, _: Reader, state: StateDep, session: SessionDep, policy: PolicyDep
) -> Response:
    meeting = await render(state, session, policy, await load(session, meeting_id))
    headers = {"Content-Disposition": f'attachment; filename="{meeting_id}-agenda.docx"'}
    return Response(agenda_docx(meeting, _names(policy)), media_type=DOCX, headers=headers)


@router.get("/{meeting_id}/minutes.docx", summary="The minutes as a Word document (closed meetings)")
async def minutes_document(
    meeting_id: str, _: Reader, state: StateDep, session: SessionDep, policy: PolicyDep
) -> Response:
    meeting = await render(state, session, policy, await load(session, meeting_id))
    if meeting.status != "closed":
        raise HTTPException(status.HTTP_409_CONFLICT, detail="会议尚未闭会，没有纪要 / the meeting has not closed yet")
    headers = {"Content-Disposition": f'attachment; filename="{meeting_id}-minutes.docx"'}
    return Response(minutes_docx(meeting, _names(policy)), media_type=DOCX, headers=headers)


@router.get("/{meeting_id}/print", response_class=HTMLResponse, summary="Printable agenda (and minutes)")
async def printable(
    meeting_id: str, _: Reader, state: StateDep, session: SessionDep, policy: PolicyDep
) -> HTMLResponse:
    meeting = await render(state, session, policy, await load(session, meeting_id))
    return HTMLResponse(printable_html(meeting, _names(policy)))
