"""Who is asking, in which language, with which CSRF token — and how a page is rendered for them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from casebridge.api.deps import SessionDep, StateDep
from casebridge.api.security import CurrentUserInfo
from casebridge.api.state import AppState
from casebridge.calendar_source import load_calendar
from casebridge.db.models import User
from casebridge.domain.calendar import WorkingCalendar
from casebridge.web.countdown import describe as describe_countdown
from casebridge.web.i18n import LANGUAGES, Translator
from casebridge.web.session import (
    ANON_CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    LANG_COOKIE,
    SESSION_COOKIE,
    issue_session,
    new_csrf_token,
    read_session,
    tokens_match,
)

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
YEAR = 365 * 24 * 3600

JS_STRINGS = ("cd.left", "cd.h", "cd.m", "cd.s", "cd.overdue", "common.refresh")


class LoginRequired(Exception):  # noqa: N818 — a signal, handled by a redirect to the login page
    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class PageError(Exception):
    """Shown as an HTML error page with this status (403, 404, 503)."""

    def __init__(self, status: int, key: str) -> None:
        super().__init__(key)
        self.status = status
        self.key = key


class CsrfRejected(PageError):
    def __init__(self) -> None:
        super().__init__(403, "error.csrf")


@dataclass
class WebContext:
    request: Request
    state: AppState
    user: CurrentUserInfo | None
    lang: str
    csrf: str
    new_anon_csrf: bool = False
    remember_lang: bool = False
    now: datetime = field(default_factory=lambda: datetime.now().astimezone())

    @property
    def t(self) -> Translator:
        return Translator(self.lang, self.state.policy)

    @property
    def staff(self) -> CurrentUserInfo:
        if self.user is None:
            raise LoginRequired(self.request.url.path)
        return self.user

    def calendar(self) -> WorkingCalendar:
        return load_calendar(self.state.settings.calendar_overrides)

    def local(self, value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """Local time; a deadline at 00:00 reads as 24:00 of its last day, as the statutes count."""
        if value is None:
            return "—"
        moment = value.astimezone(self.state.tz)
        if fmt.endswith("%H:%M") and (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0):
            return (moment - timedelta(days=1)).strftime(fmt.removesuffix("%H:%M")) + "24:00"
        return moment.strftime(fmt)

    def page(self, name: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        t = self.t
        strings = {key: t(key) for key in JS_STRINGS}
        context = {
            "web": self,
            "user": self.user,
            "t": t,
            "lang": self.lang,
            "csrf": self.csrf,
            "local": self.local,
            "now": self.now,
            "js_strings": Markup(json.dumps(strings, ensure_ascii=False).replace("</", "<\\/")),
            "countdown": lambda due, **kw: describe_countdown(due, self.now, self.calendar(), self.state.tz, t),
            **values,
        }
        response = TEMPLATES.TemplateResponse(self.request, name, context, status_code=status_code)
        self.finish(response)
        return response

    def finish(self, response: Response) -> Response:
        """Cookies this request decided on: the anonymous CSRF token, the language chosen by ?lang=."""
        secure = cookie_secure(self.request, self.state)
        if self.new_anon_csrf:
            response.set_cookie(ANON_CSRF_COOKIE, self.csrf, httponly=True, samesite="strict", secure=secure)
        if self.remember_lang:
            response.set_cookie(LANG_COOKIE, self.lang, max_age=YEAR, samesite="lax", secure=secure)
        return response

    def redirect(self, url: str) -> Response:
        """See-other after a POST; for an HTMX request, HX-Redirect so the whole page moves."""
        if self.request.headers.get("hx-request"):
            response: Response = Response(status_code=204, headers={"HX-Redirect": url})
        else:
            response = Response(status_code=303, headers={"Location": url})
        return self.finish(response)

    def sign_in(self, response: Response, username: str) -> None:
        settings = self.state.settings
        ttl = timedelta(minutes=settings.token_ttl_minutes)
        token = issue_session(username, settings.secret_key.get_secret_value(), ttl)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=int(ttl.total_seconds()),
            httponly=True,
            samesite="lax",
            secure=cookie_secure(self.request, self.state),
        )
        response.delete_cookie(ANON_CSRF_COOKIE)


def cookie_secure(request: Request, state: AppState) -> bool:
    configured = state.settings.web_cookie_secure
    return configured if configured is not None else request.url.scheme == "https"


def login_url(next_url: str) -> str:
    return f"/login?next={quote(next_url, safe='/')}"


async def web_context(request: Request, state: StateDep, session: SessionDep) -> WebContext:
    secret = state.settings.secret_key.get_secret_value()
    web_session = read_session(request.cookies.get(SESSION_COOKIE), secret)
    user: CurrentUserInfo | None = None
    if web_session is not None:
        row = await session.get(User, web_session.username)
        if row is not None and row.active:
            user = CurrentUserInfo(row.username, row.role, row.department)
    asked = request.query_params.get("lang")
    lang = asked if asked in LANGUAGES else request.cookies.get(LANG_COOKIE, "zh")
    if lang not in LANGUAGES:
        lang = "zh"
    if user is not None and web_session is not None:
        csrf, new_anon = web_session.csrf, False
    else:
        existing = request.cookies.get(ANON_CSRF_COOKIE)
        csrf, new_anon = (existing, False) if existing else (new_csrf_token(), True)
    context = WebContext(request, state, user, lang, csrf, new_anon_csrf=new_anon, remember_lang=asked in LANGUAGES)
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        await check_csrf(request, context)
    return context


async def check_csrf(request: Request, context: WebContext) -> None:
    """Every state-changing request carries the token: header (HTMX) or form field (plain forms)."""
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            given = value if isinstance(value, str) else None
    if context.new_anon_csrf or not tokens_match(context.csrf, given):
        raise CsrfRejected()


Web = Annotated[WebContext, Depends(web_context)]


async def staff_context(web: Web) -> WebContext:
    if web.user is None:
        target = web.request.url.path + (f"?{web.request.url.query}" if web.request.url.query else "")
        raise LoginRequired(target)
    return web


Staff = Annotated[WebContext, Depends(staff_context)]


def require_role(web: WebContext, *roles: str) -> CurrentUserInfo:
    user = web.staff
    if user.role not in roles:
        raise PageError(403, "error.forbidden")
    return user
