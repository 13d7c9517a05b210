"""Prometheus metrics at /metrics: requests, latency and errors by route template, and business
gauges read from the read model at scrape time (open cases by status, overdue assignments by
department, acknowledgements on time)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import structlog
from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import and_, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from casebridge.db.models import Assignment, Case, CaseEvent

log = structlog.get_logger(__name__)

BUSINESS_REFRESH_SECONDS = 10.0  # scrapes in between reuse the last figures


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "casebridge_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "casebridge_http_request_seconds", "HTTP request latency", ["method", "route"], registry=self.registry
        )
        self.cases = Gauge("casebridge_cases", "Cases by status", ["status"], registry=self.registry)
        self.overdue = Gauge(
            "casebridge_assignments_overdue", "Open assignments past a deadline", ["department"], registry=self.registry
        )
        self.acknowledgements = Gauge(
            "casebridge_acknowledgements",
            "Acknowledgements, on time or late, by department",
            ["department", "on_time"],
            registry=self.registry,
        )
        self._refreshed = 0.0

    async def refresh_business(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        if time.monotonic() - self._refreshed < BUSINESS_REFRESH_SECONDS:
            return
        async with sessions() as session:
            by_status = (await session.execute(select(Case.status, func.count()).group_by(Case.status))).all()
            overdue = (
                await session.execute(
                    select(Assignment.department, func.count())
                    .where(and_(Assignment.overdue, Assignment.status.in_(["pending_ack", "acknowledged"])))
                    .group_by(Assignment.department)
                )
            ).all()
            acknowledged = (
                await session.execute(
                    select(CaseEvent.data["department"].astext, CaseEvent.data["on_time"].astext, func.count())
                    .where(CaseEvent.type == "assignment.acknowledged")
                    # By position: the JSON keys are bound parameters, so repeating them would not match.
                    .group_by(literal_column("1"), literal_column("2"))
                )
            ).all()
        for gauge in (self.cases, self.overdue, self.acknowledgements):
            gauge.clear()
        for status, count in by_status:
            self.cases.labels(status).set(count)
        for department, count in overdue:
            self.overdue.labels(department).set(count)
        for department, on_time, count in acknowledged:
            self.acknowledgements.labels(department or "", on_time or "unknown").set(count)
        self._refreshed = time.monotonic()


def _route_template(request: Request) -> str:
    """The matched route's template (``/api/v1/cases/{case_id}``), so ids do not explode the labels."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def install_metrics(app: FastAPI) -> ApiMetrics:
    metrics = ApiMetrics()

    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = _route_template(request)
            if route != "/api/v1/events/stream":
                metrics.latency.labels(request.method, route).observe(time.perf_counter() - started)
            metrics.requests.labels(request.method, route, str(status)).inc()

    @app.get("/metrics", include_in_schema=False)
    async def scrape(request: Request) -> Response:
        try:
            await metrics.refresh_business(request.app.state.casebridge.sessions)
        except Exception as exc:  # the request metrics must still be served when the database is down
            log.warning("business metrics unavailable", error=str(exc))
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return metrics
