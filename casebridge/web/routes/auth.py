"""Signing in and out, the home page of each role, the language switch, and the worker's status page."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import Response

from casebridge.api.deps import SessionDep
from casebridge.api.routes import auth as api_auth
from casebridge.api.routes.public import lookup
from casebridge.db import queries
from casebridge.db.models import User
from casebridge.web.context import Web, web_context
from casebridge.web.forms import FormState, read_form
from casebridge.web.session import SESSION_COOKIE

router = APIRouter(dependencies=[Depends(web_context)], include_in_schema=False)

USERNAME = re.compile(r"[\w.-]{1,50}")
HOME = {"officer": "/cases", "department": "/inbox", "leader": "/meetings", "admin": "/cases"}


def safe_next(target: str | None, default: str) -> str:
    """Only a path on this site: never an absolute URL to elsewhere ("//evil", "https://…")."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


@router.get("/")
async def home(web: Web, session: SessionDep) -> Response:
    if web.user is not None:
        return web.redirect(HOME.get(web.user.role, "/cases"))
    return await status_page(web, session)


@router.get("/status")
async def status_page(web: Web, session: SessionDep) -> Response:
    """The worker's own page: case id + last four digits → status and the next step, nothing personal."""
    params = web.request.query_params
    case_id = (params.get("case_id") or "").strip().upper()
    last4 = (params.get("last4") or "").strip()
    form = FormState(values={"case_id": case_id, "last4": last4})
    found = None
    if "case_id" in params or "last4" in params:
        if not case_id:
            form.errors["case_id"] = web.t("field.case_id")
        if len(last4) != 4 or not last4.isascii() or not last4.isdigit():
            form.errors["last4"] = web.t("field.last4")
        if not form.errors:
            client = web.request.client.host if web.request.client else "unknown"
            try:
                case = await lookup(web.state, session, client, case_id, last4)
            except HTTPException as exc:
                form.message = web.t("status.throttled" if exc.status_code == 429 else "status.not_found")
            else:
                rows = (await queries.assignments_for(session, [case.id]))[case.id]
                found = {
                    "id": case.id,
                    "status": case.status,
                    "updated_at": case.updated_at,
                    "next": next_step(case.status, [(r.status, r.suspended) for r in rows]),
                }
    status_code = 404 if form.message and not found else 422 if form.errors else 200
    return web.page("status.html", status_code=status_code, form=form, found=found)


def next_step(status: str, assignments: list[tuple[str, bool]]) -> str:
    """The key of the plain-language next step for a worker."""
    if status != "in_progress":
        return {"escalated": "next.escalated", "resolved": "next.resolved", "closed": "next.closed"}.get(
            status, "next.withdrawn"
        )
    open_ = [(s, suspended) for s, suspended in assignments if s in ("pending_ack", "acknowledged")]
    if any(s == "pending_ack" for s, _ in open_):
        return "next.pending_ack"
    if open_ and all(suspended for _, suspended in open_):
        return "next.waiting"
    return "next.working"


@router.get("/login")
async def login_page(web: Web) -> Response:
    if web.user is not None:
        return web.redirect(safe_next(web.request.query_params.get("next"), HOME.get(web.user.role, "/cases")))
    form = FormState(values={"next": web.request.query_params.get("next", "")})
    return web.page("login.html", form=form)


@router.post("/login")
async def login(web: Web, session: SessionDep) -> Response:
    values, _ = await read_form(web.request)
    username, password = values.get("username", "").strip(), values.get("password", "")
    form = FormState(values={"username": username, "next": values.get("next", "")})
    if not username:
        form.errors["username"] = web.t("field.required")
    if not password:
        form.errors["password"] = web.t("field.required")
    if form.errors:
        return web.page("login.html", status_code=422, form=form)
    try:
        if not USERNAME.fullmatch(username) or len(password) > 200:  # the API's own limits on these fields
            raise HTTPException(401)
        # The API's own login: the same users, the same refusal of the demo password outside dev.
        await api_auth.login(username, password, web.state, session)
    except HTTPException as exc:  # 401, or 429 when the username is locked after repeated failures
        form.message = web.t.both(str(exc.detail)) if exc.status_code == 429 else web.t("login.failed")
        return web.page("login.html", status_code=exc.status_code if exc.status_code == 429 else 401, form=form)
    user = await session.get(User, username)
    response = web.redirect(safe_next(values.get("next"), HOME.get(user.role if user else "", "/cases")))
    web.sign_in(response, username)
    return response


@router.post("/logout")
async def logout(web: Web) -> Response:
    response = web.redirect("/login")
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/lang/{code}")
async def switch_language(code: str, web: Web) -> Response:
    """Sets the language cookie (a preference, not state) and goes back where the user was."""
    web.lang = code if code in ("zh", "en") else "zh"
    web.remember_lang = True
    return web.redirect(safe_next(web.request.query_params.get("next"), "/"))
