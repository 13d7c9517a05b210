"""The Temporal client, made the same way by the worker, the API and the tools."""

from __future__ import annotations

import asyncio

import structlog
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import TLSConfig

from casebridge.settings import Settings
from casebridge.tracing import client_interceptors

log = structlog.get_logger(__name__)


def runtime_with_metrics(address: str) -> Runtime:
    """A Temporal runtime whose SDK metrics (workflow/activity task latency, slots, polls…) are
    served for Prometheus at ``address``."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))


def tls_config(settings: Settings) -> TLSConfig | bool:
    """TLS for the Temporal connection from the settings: False for plain gRPC (the dev server),
    True for TLS with the system's roots, or the CA, client certificate and SNI name given."""
    if not settings.temporal_uses_tls:
        return False
    if not any((settings.temporal_tls_ca, settings.temporal_tls_cert, settings.temporal_tls_server_name)):
        return True
    return TLSConfig(
        server_root_ca_cert=settings.temporal_tls_ca.read_bytes() if settings.temporal_tls_ca else None,
        client_cert=settings.temporal_tls_cert.read_bytes() if settings.temporal_tls_cert else None,
        client_private_key=settings.temporal_tls_key.read_bytes() if settings.temporal_tls_key else None,
        domain=settings.temporal_tls_server_name,
    )


async def connect(settings: Settings, attempts: int = 30, runtime: Runtime | None = None) -> Client:
    """Connect, waiting for a server that is still starting (as under ``make run``)."""
    address = settings.require_temporal_address()
    tls = tls_config(settings)
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    for attempt in range(1, attempts + 1):
        try:
            return await Client.connect(
                address,
                namespace=settings.temporal_namespace,
                runtime=runtime,
                interceptors=client_interceptors(),
                tls=tls,
                api_key=api_key,
            )
        except RuntimeError as exc:
            if attempt == attempts:
                raise
            log.info("waiting for temporal", address=address, attempt=attempt, error=str(exc))
            await asyncio.sleep(1)
    raise AssertionError("unreachable")
