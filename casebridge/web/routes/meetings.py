"""The joint meeting for leaders (and officers, who read): agenda, proposals, decisions, minutes.

Reads and writes go through the JSON API's route functions (``casebridge.api.routes.meetings``),
so the pages show exactly what the API shows and act through the same meeting workflow updates.
Which buttons appear is decided by ``MeetingMachine.check_*`` on the meeting as the read model has it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from casebridge.api.deps import PolicyDep, SessionDep, TemporalDep, require_roles
from casebridge.api.meeting_schemas import DecisionIn, MeetingOut, ReasonIn, ReorderIn, StatementIn
from casebridge.api.routes import meetings as api
from casebridge.api.security import CurrentUserInfo
from casebridge.db import meeting_queries
from casebridge.domain.errors import DomainError
from casebridge.domain.meeting import (
    AgendaItem,
    Decision,
    DismissCommand,
    DropCommand,
    ItemDecisionCommand,
    MeetingMachine,
    MeetingState,
    MeetingStatus,
    ReorderCommand,
    TopicCommand,
)
from casebridge.domain.model import Actor
from casebridge.web.context import PageError, Staff, WebContext, require_role, web_context
from casebridge.web.forms import FormInvalid, FormState, failure_message, read_form, validate

router = APIRouter(dependencies=[Depends(web_context)], include_in_schema=False)


def _allowed(check: Callable[..., object], *args: Any) -> bool:
    try:
        check(*args)
    except DomainError:
        return False
    return True


def leader_actions(meeting: MeetingOut, user: CurrentUserInfo, departments: dict[str, str]) -> dict[str, Any]:
    """What the leader may do now, from the meeting's own rules."""
    items = [
        AgendaItem(
            key=item.key,
            reason=item.reason,
            departments=list(item.departments),
            overdue_days=item.overdue_days,
            case_id=item.case_id,
            title=item.title,
            case_ids=list(item.case_ids),
            positions=dict(item.positions),
            decision=Decision(**item.decision.model_dump()) if item.decision else None,
        )
        for item in meeting.agenda
    ]
    state = MeetingState(
        meeting.id,
        meeting.title,
        meeting.scheduled_for,
        MeetingStatus(meeting.status),
        departments,
        meeting.scheduled_for,
        meeting.scheduled_for,
        items=items,
    )
    machine = MeetingMachine(state)
    actor = Actor(user.username, user.role, user.department)
    keys = [item.key for item in items]
    any_code = next(iter(departments), "")
    return {
        "approve": _allowed(machine.check_approve, actor),
        "close": _allowed(machine.check_close, actor),
        "reorder": len(keys) > 1 and _allowed(machine.check_reorder, ReorderCommand(actor, keys)),
        "drop": {k for k in keys if _allowed(machine.check_drop, DropCommand(actor, k, "-"))},
        "decide": {
            k for k in keys if _allowed(machine.check_decide, ItemDecisionCommand(actor, k, "-", any_code, [], "1 day"))
        },
        "accept": {
            p.key
            for p in meeting.proposals
            if _allowed(machine.check_accept_topic, TopicCommand(actor, p.key, "", "", [], []))
        },
        "dismiss": {
            p.key for p in meeting.proposals if _allowed(machine.check_dismiss, DismissCommand(actor, p.key, "-"))
        },
    }


@router.get("/meetings")
async def meetings(web: Staff, session: SessionDep, policy: PolicyDep) -> Response:
    user = require_role(web, "officer", "leader")
    rows = await meeting_queries.list_meetings(session)
    listed = [await api.render(web.state, session, policy, m, detail=False) for m in rows]
    return web.page("meetings.html", meetings=listed, user=user)


async def meeting_view(web: WebContext, session: SessionDep, policy: PolicyDep, meeting_id: str) -> dict[str, Any]:
    user = require_role(web, "officer", "leader")
    try:
        meeting = await api.render(web.state, session, policy, await api.load(session, meeting_id))
    except DomainError as exc:
        raise PageError(404, "error.not_found") from exc
    names = {code: d.name for code, d in policy.departments.items()}
    return {"meeting": meeting, "can": leader_actions(meeting, user, names), "forms": {}}


@router.get("/meetings/{meeting_id}")
async def meeting_page(meeting_id: str, web: Staff, session: SessionDep, policy: PolicyDep) -> Response:
    view = await meeting_view(web, session, policy, meeting_id)
    return web.page("meeting.html", done=web.request.query_params.get("done", ""), **view)


@router.post("/meetings/{meeting_id}/{action}")
async def meeting_action(
    meeting_id: str, action: str, web: Staff, session: SessionDep, temporal: TemporalDep, policy: PolicyDep
) -> Response:
    user = web.staff
    values, multi = await read_form(web.request)
    key = values.get("key", "")
    form = FormState(values={**values, "assist_departments": multi.get("assist_departments", [])})
    status = 200
    back = f"/meetings/{meeting_id}"
    args = (web.state, session, temporal, policy)
    try:
        if action == "position":
            # A department's statement for an item it is involved in, from its case page.
            require_roles("department")(user)
            case_id = values.get("case_id", "")
            back = f"/cases/{case_id}"
            statement = validate(StatementIn, {"statement": values.get("statement", "")}, web.t)
            await api.submit_position(meeting_id, case_id, statement, user, session, temporal)
            return web.redirect(f"{back}?done=position")
        require_roles("leader")(user)
        if action == "approve":
            await api.approve_agenda(meeting_id, user, *args)
        elif action == "close":
            await api.close(meeting_id, user, *args)
        elif action == "move":
            current = await api.render(web.state, session, policy, await api.load(session, meeting_id), detail=False)
            order = [item.key for item in current.agenda]
            if key in order:
                at = order.index(key)
                to = at - 1 if values.get("direction") == "up" else at + 1
                if 0 <= to < len(order):
                    order[at], order[to] = order[to], order[at]
            await api.reorder(meeting_id, validate(ReorderIn, {"order": order}, web.t), user, *args)
        elif action == "drop":
            body = validate(ReasonIn, {"reason": values.get("reason", "")}, web.t)
            await api.drop_item(meeting_id, key, body, user, *args)
        elif action == "accept":
            await api.accept_proposal(meeting_id, key, user, *args)
        elif action == "dismiss":
            body = validate(ReasonIn, {"reason": values.get("reason", "")}, web.t)
            await api.dismiss_proposal(meeting_id, key, body, user, *args)
        elif action == "decide":
            data = {
                "decision": values.get("decision", ""),
                "lead_department": values.get("lead_department", ""),
                "assist_departments": [d for d in multi.get("assist_departments", []) if d],
                "resolve_within": values.get("resolve_within", ""),
            }
            await api.record_decision(meeting_id, key, validate(DecisionIn, data, web.t), user, *args)
        else:
            raise PageError(404, "error.not_found")
    except FormInvalid as invalid:
        form.errors, status = invalid.form.errors, 422
    except PageError:
        raise
    except Exception as exc:  # a refusal (403/409/422) or an unavailable service (503); others re-raise
        status, form.message = failure_message(exc, web.t)
        if status == 404:
            raise PageError(404, "error.not_found") from exc
    else:
        return web.redirect(f"{back}?done={action}")
    if action == "position":
        from casebridge.web.routes.cases import case_view

        view = await case_view(web, session, values.get("case_id", ""))
        view["forms"] = {"position": form}
        return web.page("case.html", status_code=status, flash="", **view)
    view = await meeting_view(web, session, policy, meeting_id)
    view["forms"] = {f"{action}:{key}" if key else action: form}
    return web.page("meeting.html", status_code=status, done="", **view)


@router.get("/meetings/{meeting_id}/agenda.docx")
async def agenda_document(meeting_id: str, web: Staff, session: SessionDep, policy: PolicyDep) -> Response:
    user = require_role(web, "officer", "leader")
    return await _document(api.agenda_document, meeting_id, user, web, session, policy)


@router.get("/meetings/{meeting_id}/minutes.docx")
async def minutes_document(meeting_id: str, web: Staff, session: SessionDep, policy: PolicyDep) -> Response:
    user = require_role(web, "officer", "leader")
    return await _document(api.minutes_document, meeting_id, user, web, session, policy)


@router.get("/meetings/{meeting_id}/print")
async def printable(meeting_id: str, web: Staff, session: SessionDep, policy: PolicyDep) -> Response:
    user = require_role(web, "officer", "leader")
    return await _document(api.printable, meeting_id, user, web, session, policy)


async def _document(
    route: Any, meeting_id: str, user: CurrentUserInfo, web: WebContext, session: SessionDep, policy: PolicyDep
) -> Response:
    try:
        response: Response = await route(meeting_id, user, web.state, session, policy)
    except DomainError as exc:
        raise PageError(404, "error.not_found") from exc
    return response
