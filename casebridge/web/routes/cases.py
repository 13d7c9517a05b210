"""The officer's queue and intake form, and the case page (with its actions) for every role."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import Response
from pydantic import BaseModel

from casebridge.activities.deadlines import compute_schedule
from casebridge.api.deps import SessionDep, TemporalDep, require_roles
from casebridge.api.present import case_out, event_out
from casebridge.api.routes import cases as api
from casebridge.api.schemas import CaseCreate
from casebridge.db import queries
from casebridge.domain.errors import DomainError, NotFound
from casebridge.domain.model import CategoryPolicy, ScheduleRequest
from casebridge.web import timeline
from casebridge.web.actions import SPECS, available_actions, form_data, perform
from casebridge.web.context import PageError, Staff, WebContext, require_role, web_context
from casebridge.web.forms import FormInvalid, FormState, failure_message, read_form, validate

router = APIRouter(dependencies=[Depends(web_context)], include_in_schema=False)

PAGE_SIZE = 50
OPTIONAL = ("worker_occupation", "worker_platform", "station", "counterparty", "amount_claimed")


# --- the queue -------------------------------------------------------------------------------


@router.get("/cases")
async def queue(web: Staff, session: SessionDep) -> Response:
    user = web.staff
    params = web.request.query_params
    status = params.get("status", "open")
    page = max(int(params["page"]) if params.get("page", "").isdigit() else 1, 1)
    filters = queries.CaseFilter(
        status=status if status in ("in_progress", "escalated", "resolved", "closed", "withdrawn") else None,
        open_only=status == "open",
        category=params.get("category") or None,
        department=params.get("department") or None,
        q=(params.get("q") or "").strip()[:200] or None,
        visible_to_department=user.department if user.role == "department" else None,
    )
    found = await queries.list_by_urgency(session, filters, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    assignments = await queries.assignments_for(session, [c.id for c in found.items])
    items = [case_out(c, assignments[c.id], user, web.state.tz) for c in found.items]
    total = found.total
    values = {"status": status, "category": filters.category or "", "department": filters.department or ""}
    values["q"] = filters.q or ""
    partial = web.request.headers.get("hx-target") == "queue-table"
    return web.page(
        "_queue_table.html" if partial else "queue.html",
        items=items,
        total=total,
        total_capped=found.total_capped,
        page=page,
        pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
        filters=values,
    )


# --- intake ----------------------------------------------------------------------------------


def _routing(web: WebContext, category: CategoryPolicy | None) -> dict[str, Any] | None:
    """What the policy will do with a case of this category if it is taken in now."""
    if category is None:
        return None
    request = ScheduleRequest(
        issued_at=web.now,
        ack_within=category.ack_within,
        resolve_within=category.resolve_within,
        escalate_after_overdue=category.escalate_after_overdue,
    )
    schedule = compute_schedule(request, web.calendar(), web.state.tz)
    return {"category": category, "schedule": schedule}


def intake_page(web: WebContext, form: FormState, status_code: int = 200) -> Response:
    policy = web.state.policy
    category = policy.category(str(form.value("category")))
    if category is not None and "lead" not in form.values:
        form.values["lead"] = category.lead
        form.values["assist"] = list(category.assist)
    return web.page(
        "intake.html",
        status_code=status_code,
        form=form,
        categories=list(policy.categories.values()),
        departments=sorted(policy.departments),
        routing=_routing(web, category),
    )


@router.get("/intake")
async def intake(web: Staff) -> Response:
    require_role(web, "officer")
    return intake_page(web, FormState(values={"idempotency_key": uuid.uuid4().hex}))


@router.get("/intake/routing")
async def intake_routing(web: Staff) -> Response:
    """The routing fieldset for the chosen category (HTMX swaps it in when the category changes)."""
    require_role(web, "officer")
    category = web.state.policy.category(web.request.query_params.get("category", ""))
    values: dict[str, Any] = {"category": category.category if category else ""}
    if category is not None:
        values.update(lead=category.lead, assist=list(category.assist))
    return web.page(
        "_routing.html",
        form=FormState(values=values),
        departments=sorted(web.state.policy.departments),
        routing=_routing(web, category),
    )


@router.post("/intake")
async def take_in(web: Staff, session: SessionDep, temporal: TemporalDep) -> Response:
    user = require_role(web, "officer")
    values, multi = await read_form(web.request)
    form = FormState(values={**values, "assist": multi.get("assist", [])})
    policy = web.state.policy
    body: dict[str, Any] = {
        "worker": {"name": values.get("worker_name", ""), "phone": values.get("worker_phone", "")},
        "category": values.get("category", ""),
        "title": values.get("title", ""),
        "description": values.get("description", ""),
    }
    for name in OPTIONAL:
        text = values.get(name, "").strip()
        if text:
            if name.startswith("worker_"):
                body["worker"][name.removeprefix("worker_")] = text
            else:
                body[name] = text
    category = policy.category(body["category"])
    lead = values.get("lead", "")
    assist = [d for d in multi.get("assist", []) if d and d != lead]
    if category is not None and lead and (lead, assist) != (category.lead, list(category.assist)):
        body["departments"] = [lead, *assist]
    names = {"worker.name": "worker_name", "worker.phone": "worker_phone", "departments": "lead"}
    names.update({"worker.occupation": "worker_occupation", "worker.platform": "worker_platform"})
    try:
        validated = validate(CaseCreate, body, web.t, names)
    except FormInvalid as invalid:
        form.errors = invalid.form.errors
        form.message = web.t("error.form")
        return intake_page(web, form, 422)
    key = (values.get("idempotency_key") or "")[:200] or None
    try:
        created = await api.create_case(validated, user, web.state, session, temporal, policy, Response(), key)
    except (DomainError, HTTPException) as exc:
        status, message = failure_message(exc, web.t)
        field = {"UnknownCategory": "category", "UnknownDepartment": "lead"}.get(type(exc).__name__)
        if field:
            form.errors[field] = message
        else:
            form.message = message
        return intake_page(web, form, status)
    return web.redirect(f"/cases/{created.id}?done=intake")


# --- the case page ---------------------------------------------------------------------------


async def case_view(web: WebContext, session: SessionDep, case_id: str) -> dict[str, Any]:
    user = web.staff
    try:
        case = await api.visible_case(session, case_id, user)  # department scoping: the API's own check
    except NotFound as exc:
        raise PageError(404, "error.not_found") from exc
    rows = (await queries.assignments_for(session, [case.id]))[case.id]
    events = await queries.events_for(session, case.id)
    shown = case_out(case, rows, user, web.state.tz)  # phone masked as the API masks it
    actions = available_actions(case, rows, events, user, sorted(web.state.policy.departments))
    return {
        "case": shown,
        "rows": {r.department: r for r in rows},
        "actions": actions,
        "lines": timeline.lines([event_out(e, web.state.tz) for e in events], web.t, web.local),
        "forms": {},
    }


@router.get("/cases/{case_id}")
async def case_page(case_id: str, web: Staff, session: SessionDep) -> Response:
    view = await case_view(web, session, case_id)
    return web.page("case.html", flash=flash(web, web.request.query_params.get("done", ""), case_id), **view)


def flash(web: WebContext, done: str, case_id: str = "") -> str:
    """The confirmation after a redirect (?done=<action>)."""
    if done == "intake":
        return web.t("intake.created", id=case_id)
    label = SPECS[done].label if done in SPECS else "act.position" if done == "position" else None
    return web.t("common.saved", what=web.t(label)) if label else ""


@router.get("/cases/{case_id}/live")
async def case_live(case_id: str, web: Staff, session: SessionDep) -> Response:
    """The part of the case page that changes: refreshed when the event stream reports this case."""
    return web.page("_case_live.html", **(await case_view(web, session, case_id)))


@router.post("/cases/{case_id}/act/{action}")
async def act(case_id: str, action: str, web: Staff, session: SessionDep, temporal: TemporalDep) -> Response:
    user = web.staff
    spec = SPECS.get(action)
    if spec is None:
        raise PageError(404, "error.not_found")
    values, _ = await read_form(web.request)
    department = values.get("department", "") if spec.per_assignment else ""
    key = f"{action}:{department}" if department else action
    form = FormState(values=values)
    body: BaseModel | None = None
    status = 200
    try:
        if spec.officer_only:
            require_roles("officer")(user)
        if spec.schema is not None:
            body = validate(spec.schema, form_data(spec, values), web.t)
        await perform(spec, case_id, department, body, user, web.state, session, temporal)
    except FormInvalid as invalid:
        form.errors, status = invalid.form.errors, 422
    except Exception as exc:  # a refusal (403/409/422) or an unavailable service (503); others re-raise
        status, form.message = failure_message(exc, web.t)
        if status == 404:
            raise PageError(404, "error.not_found") from exc
    else:
        if values.get("back") == "/inbox":  # acknowledged from the inbox: stay there
            return web.redirect(f"/inbox?done={action}")
        return web.redirect(f"/cases/{case_id}?done={action}")
    view = await case_view(web, session, case_id)
    view["forms"] = {key: form}
    return web.page("case.html", status_code=status, flash="", **view)
