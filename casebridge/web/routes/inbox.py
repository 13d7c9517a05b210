"""A department's inbox, the dashboard, and the event stream behind the pages' live updates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from casebridge.api.deps import SessionDep
from casebridge.api.present import case_out
from casebridge.api.routes.stream import event_stream
from casebridge.api.schemas import CaseOut
from casebridge.db import dashboard_queries, queries
from casebridge.db.models import Assignment
from casebridge.web import charts
from casebridge.web.actions import available_actions
from casebridge.web.context import Staff, WebContext, require_role, web_context
from casebridge.web.routes.cases import flash

router = APIRouter(dependencies=[Depends(web_context)], include_in_schema=False)


@dataclass
class InboxEntry:
    assignment: Assignment
    case: CaseOut
    can_acknowledge: bool


async def inbox_view(web: WebContext, session: SessionDep) -> dict[str, Any]:
    user = require_role(web, "department")
    department = user.department or ""
    rows = await queries.department_inbox(session, department)
    case_ids = [case.id for _, case in rows]
    assignments = await queries.assignments_for(session, case_ids)
    entries = []
    for assignment, case in rows:
        # The inbox offers acknowledgement in place; everything else is on the case page.
        acts = available_actions(case, assignments[case.id], [], user, sorted(web.state.policy.departments))
        shown = case_out(case, assignments[case.id], user, web.state.tz)
        entries.append(InboxEntry(assignment, shown, any(a.spec.key == "acknowledge" for a in acts)))
    return {
        "department": department,
        "to_ack": [e for e in entries if e.assignment.status == "pending_ack"],
        "working": [e for e in entries if e.assignment.status != "pending_ack"],
    }


@router.get("/inbox")
async def inbox(web: Staff, session: SessionDep) -> Response:
    done = web.request.query_params.get("done", "")
    return web.page("inbox.html", flash=flash(web, done), **(await inbox_view(web, session)))


@router.get("/inbox/live")
async def inbox_live(web: Staff, session: SessionDep) -> Response:
    return web.page("_inbox_live.html", **(await inbox_view(web, session)))


@router.get("/dashboard")
async def dashboard(web: Staff, session: SessionDep) -> Response:
    require_role(web, "officer", "leader")
    figures = await dashboard_queries.dashboard(session, web.now.astimezone(web.state.tz), web.state.settings.timezone)
    t = web.t
    return web.page(
        "dashboard.html",
        figures=figures,
        rates_chart=charts.department_rates(figures.departments, t),
        category_chart=charts.categories_by_week(figures.weeks, figures.by_category, t),
        satisfaction_chart=charts.ring(figures.satisfaction_rate, t("dash.satisfaction"), t),
    )


@router.get("/events")
async def events(web: Staff, session: SessionDep) -> Response:
    """Server-sent events for the signed-in user: the API's own stream, filtered the same way."""
    await session.close()  # the user is known; an open stream must not hold a database connection
    return event_stream(web.request, web.staff, web.state)
