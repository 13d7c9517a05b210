"""The FastAPI app factory. Engines and clients are made in the lifespan, never at import."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from temporalio.client import Client

from casebridge.api.errors import install_error_handlers
from casebridge.api.metrics import install_metrics
from casebridge.api.routes import admin, auth, cases, health, hotline, meetings, open311, public, stream, webhooks
from casebridge.api.state import AppState
from casebridge.api.stream import EventBroadcaster
from casebridge.db.session import make_engine, make_session_factory
from casebridge.policy_source import load_policy
from casebridge.settings import Settings
from casebridge.temporal import connect
from casebridge.tracing import instrument_app, instrument_engine
from casebridge.web import install_web

CASE_PATH = re.compile(r"^/api/v1/(?:public/)?cases/([^/]+)")

DESCRIPTION = """
Casebridge coordinates the rights cases of delivery riders, couriers and drivers across
departments. Every case is a durable Temporal workflow; reads come from PostgreSQL.

Errors are `{"detail": "中文 / English"}` with 401, 403, 404, 409 (not valid in the current
state) or 422 (invalid input). Text limits: `title` 1–200, `description` 1–10 000, worker `name`
1–50, `phone` a mainland mobile number, other free text 1–2 000 characters; `limit` 1–200.
"""


def create_app(settings: Settings | None = None, temporal: Client | None = None) -> FastAPI:
    settings = settings or Settings()
    policy = load_policy(settings.policy)  # a bad policy stops start-up with file, key and problem

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.require_database_url(), pool_size=settings.api_db_pool_size)
        instrument_engine(engine)
        sessions = make_session_factory(engine)
        client = temporal or await connect(settings)
        broadcaster = EventBroadcaster(sessions)
        broadcaster.start()
        app.state.casebridge = AppState(
            settings=settings,
            engine=engine,
            sessions=sessions,
            temporal=client,
            policy=policy,
            tz=ZoneInfo(settings.timezone),
            broadcaster=broadcaster,
        )
        try:
            yield
        finally:
            await broadcaster.stop()
            await engine.dispose()

    app = FastAPI(title="Casebridge", version="1", description=DESCRIPTION, lifespan=lifespan)
    install_error_handlers(app)
    install_metrics(app)
    instrument_app(app)

    @app.middleware("http")
    async def refuse_nul(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # A NUL in a path or query can reach PostgreSQL, which cannot hold one: refuse it up front.
        target = unquote(request.url.path) + unquote(request.url.query)
        if "\x00" in target:
            return JSONResponse(
                {"detail": "请求中含有非法字符 / the request contains a NUL character"}, status_code=422
            )
        return await call_next(request)

    @app.middleware("http")
    async def request_context(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        match = CASE_PATH.match(request.url.path)
        case_id = match.group(1) if match else None
        with structlog.contextvars.bound_contextvars(request_id=request_id, case_id=case_id):
            response = await call_next(request)
        response.headers["X-Request-ID"] = request_id
        return response

    for module in (auth, cases, meetings, public, stream, admin, health, hotline, open311, webhooks):
        app.include_router(module.router)
    install_web(app)  # the web UI under "/" (pages, /static); /api/v1, /metrics, /healthz stay as they are
    document_error_shapes(app)
    return app


def document_error_shapes(app: FastAPI) -> None:
    """A 422 is FastAPI's list of field errors, or our ``{"detail": "中文 / English"}`` for input that
    is well-formed but not acceptable (an unknown category, say): say both in the schema."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            error = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError")
            if error is not None:
                error["properties"]["detail"] = {
                    "title": "Detail",
                    "anyOf": [
                        {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
                        {"type": "string"},
                    ],
                }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
