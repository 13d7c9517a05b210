"""OpenTelemetry tracing across API → Temporal client → workflow → activity → PostgreSQL.

Off by default. It turns on with the standard variables: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), or ``OTEL_TRACES_EXPORTER`` set to ``otlp``/``console``;
``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES`` and the other ``OTEL_*`` settings are read by
the SDK itself. ``OTEL_SDK_DISABLED=true`` keeps it off.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from temporalio.client import Interceptor
from temporalio.contrib.opentelemetry import TracingInterceptor


def tracing_requested(environ: dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").lower()
    if exporter == "none":
        return False
    return bool(
        exporter in ("otlp", "console")
        or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


@lru_cache(maxsize=1)
def provider() -> TracerProvider | None:
    """The process's tracer provider when tracing is requested (made once), else None."""
    if not tracing_requested():
        return None
    exporter: SpanExporter
    if os.environ.get("OTEL_TRACES_EXPORTER", "").lower() == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": default_service_name()}))
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(tracer_provider)
    return tracer_provider


def default_service_name() -> str:
    return os.environ.get("OTEL_SERVICE_NAME", "casebridge")


def client_interceptors(tracer_provider: TracerProvider | None = None) -> list[Interceptor]:
    """Temporal client interceptors; a worker made from the client traces workflows and activities."""
    chosen = tracer_provider or provider()
    if chosen is None:
        return []
    return [TracingInterceptor(chosen.get_tracer("casebridge.temporal"))]


def instrument_engine(engine: Any, tracer_provider: TracerProvider | None = None) -> None:
    chosen = tracer_provider or provider()
    if chosen is not None:
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        # Its declared range stops at SQLAlchemy 2.0; the engine event hooks it uses work unchanged
        # on 2.1 (tests/activities/test_tracing.py shows the SQL spans), so skip the version check.
        SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine, tracer_provider=chosen, skip_dep_check=True)


def instrument_app(app: Any, tracer_provider: TracerProvider | None = None) -> None:
    chosen = tracer_provider or provider()
    if chosen is not None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, tracer_provider=chosen, excluded_urls="metrics,healthz,readyz")
