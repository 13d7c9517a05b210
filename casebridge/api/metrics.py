"""Prometheus metrics at /metrics: requests, latency and errors by route template."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "casebridge_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "casebridge_http_request_seconds", "HTTP request latency", ["method", "route"], registry=self.registry
        )


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
    async def scrape() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return metrics
