"""The Temporal client, made the same way by the worker, the API and the tools."""

from __future__ import annotations

import asyncio

import structlog
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from casebridge.settings import Settings
from casebridge.tracing import client_interceptors

log = structlog.get_logger(__name__)


def runtime_with_metrics(address: str) -> Runtime:
    """A Temporal runtime whose SDK metrics (workflow/activity task latency, slots, polls…) are
    served for Prometheus at ``address``."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))


async def connect(settings: Settings, attempts: int = 30, runtime: Runtime | None = None) -> Client:
    """Connect, waiting for a server that is still starting (as under ``make run``)."""
    address = settings.require_temporal_address()
    for attempt in range(1, attempts + 1):
        try:
            return await Client.connect(
                address, namespace=settings.temporal_namespace, runtime=runtime, interceptors=client_interceptors()
            )
        except RuntimeError as exc:
            if attempt == attempts:
                raise
            log.info("waiting for temporal", address=address, attempt=attempt, error=str(exc))
            await asyncio.sleep(1)
    raise AssertionError("unreachable")
