"""The web UI: server-rendered pages (Jinja2) with HTMX for partial updates, served under ``/``.

Pages read through the same queries and presenters as the JSON API and act through the API's own
route functions, so department scoping, phone masking and every workflow update are shared.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from casebridge.web.context import TEMPLATES, LoginRequired, PageError, login_url
from casebridge.web.i18n import LANGUAGES, Translator
from casebridge.web.routes import auth, cases, inbox, meetings
from casebridge.web.session import LANG_COOKIE

STATIC = Path(__file__).parent / "static"


def install_web(app: FastAPI) -> None:
    for module in (auth, cases, inbox, meetings):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        target = login_url(exc.next_url)
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return Response(status_code=303, headers={"Location": target})

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> HTMLResponse:
        lang = request.cookies.get(LANG_COOKIE, "zh")
        t = Translator(lang if lang in LANGUAGES else "zh", request.app.state.casebridge.policy)
        context = {"t": t, "lang": t.lang, "message": t(exc.key), "status": exc.status, "user": None, "csrf": ""}
        return TEMPLATES.TemplateResponse(request, "error.html", context, status_code=exc.status)
