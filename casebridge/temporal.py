"""The Temporal client, made the same way by the worker, the API and the tools."""

from __future__ import annotations

import asyncio

import structlog
from temporalio.client import Client

from casebridge.settings import Settings

log = structlog.get_logger(__name__)


async def connect(settings: Settings, attempts: int = 30) -> Client:
    """Connect, waiting for a server that is still starting (as under ``make run``)."""
    address = settings.require_temporal_address()
    for attempt in range(1, attempts + 1):
        try:
            return await Client.connect(address, namespace=settings.temporal_namespace)
        except RuntimeError as exc:
            if attempt == attempts:
                raise
            log.info("waiting for temporal", address=address, attempt=attempt, error=str(exc))
            await asyncio.sleep(1)
    raise AssertionError("unreachable")
