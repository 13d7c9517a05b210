"""The worker process: settings → logging → Temporal client → Worker(WORKFLOWS, activities)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from temporalio.client import Client
from temporalio.worker import Worker

from casebridge.activities import build_activities
from casebridge.calendar_source import CalendarOverrideError, load_calendar
from casebridge.db.session import make_engine, make_session_factory
from casebridge.domain.policy import PolicyError
from casebridge.entry import run_then_exit
from casebridge.logs import configure_logging
from casebridge.policy_source import load_policy
from casebridge.settings import Settings, get_settings
from casebridge.temporal import connect, runtime_with_metrics
from casebridge.tracing import instrument_engine
from casebridge.workflows import WORKFLOWS

log = structlog.get_logger(__name__)


def build_worker(client: Client, settings: Settings, activities: list[Callable[..., Any]]) -> Worker:
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=activities,
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        max_cached_workflows=settings.worker_max_cached_workflows,
    )


async def serve(settings: Settings) -> None:
    engine = make_engine(settings.require_database_url(), pool_size=settings.worker_db_pool_size)
    instrument_engine(engine)
    runtime = runtime_with_metrics(settings.worker_metrics_address) if settings.worker_metrics_address else None
    client = await connect(settings, runtime=runtime)
    activities = build_activities(
        make_session_factory(engine),
        settings.calendar_overrides,
        ZoneInfo(settings.timezone),
        client,
        load_policy(settings.policy),
        settings.task_queue,
    )
    worker = build_worker(client, settings, activities)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started", task_queue=settings.task_queue, namespace=settings.temporal_namespace)
    async with worker:
        await stop.wait()
        log.info("worker stopping")
    await engine.dispose()


def run() -> None:
    settings = get_settings()
    configure_logging(settings.json_logs, settings.log_level)
    try:
        # Fail at start-up, not at the first deadline, when the policy or calendar is broken.
        load_policy(settings.policy)
        load_calendar(settings.calendar_overrides)
    except (CalendarOverrideError, PolicyError) as exc:
        raise SystemExit(f"casebridge worker: {exc}") from exc
    asyncio.run(serve(settings))


def main() -> None:
    run_then_exit(run)  # see casebridge.entry


if __name__ == "__main__":
    main()
