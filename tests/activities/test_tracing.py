"""Tracing: one trace runs from the client's StartWorkflow through the workflow and its
activities down to the SQL the projection writes."""

from __future__ import annotations

import uuid

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from casebridge.db.session import make_engine, make_session_factory
from casebridge.tracing import client_interceptors, instrument_engine, tracing_requested
from tests.support import courier, default_policy, running_worker

pytestmark = pytest.mark.timeout(60)


def test_tracing_is_off_unless_the_standard_variables_ask_for_it() -> None:
    assert not tracing_requested({})
    assert tracing_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert tracing_requested({"OTEL_TRACES_EXPORTER": "console"})
    assert not tracing_requested({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"})
    assert not tracing_requested({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"})


async def test_one_trace_from_client_to_sql(time_env: WorkflowEnvironment, database_url: str) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    config = time_env.client.config()
    config["interceptors"] = client_interceptors(provider)
    client = Client(**config)
    engine = make_engine(database_url, pool_size=2)
    instrument_engine(engine, provider)
    try:
        async with running_worker(client, make_session_factory(engine)) as cases:
            await cases.open(courier(f"CB-TRACE{uuid.uuid4().hex[:6].upper()}", default_policy()))
    finally:
        await engine.dispose()
    spans = exporter.get_finished_spans()
    names = {span.name for span in spans}
    assert "StartWorkflow:CaseWorkflow" in names
    assert "RunWorkflow:CaseWorkflow" in names
    assert "RunActivity:project_case" in names and "RunActivity:compute_schedule" in names
    start = next(s for s in spans if s.name == "StartWorkflow:CaseWorkflow")
    assert start.context is not None
    trace_id = start.context.trace_id
    in_trace = [s for s in spans if s.context is not None and s.context.trace_id == trace_id]
    assert any(s.name == "RunActivity:project_case" for s in in_trace)
    assert any(s.attributes and "db.statement" in s.attributes or s.name.startswith("INSERT") for s in in_trace), (
        sorted(s.name for s in spans)
    )
