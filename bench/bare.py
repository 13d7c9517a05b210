"""Bare Temporal, the baselines Casebridge is measured against: nothing but the engine.

In a module of its own (no ``main``, so ``run_all.py`` does not run it) because the workflow
sandbox re-imports the module that defines a workflow. The worker uses the SDK's defaults (the
sandboxed runner, like Casebridge's worker), so the ratio measures what Casebridge adds.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=3)


@activity.defn(name="bare_noop")
async def noop_activity(value: str) -> str:
    return value


@workflow.defn(name="BareOneActivity")
class OneActivityWorkflow:
    """A no-op workflow that runs one no-op activity (baseline for case creation)."""

    @workflow.run
    async def run(self, value: str) -> str:
        return await workflow.execute_activity(
            noop_activity, value, start_to_close_timeout=timedelta(seconds=30), retry_policy=RETRY
        )


@workflow.defn(name="BareActivities")
class ActivitiesWorkflow:
    """``count`` sequential no-op activities (a diagnostic: creation's shape without its work)."""

    @workflow.run
    async def run(self, count: int) -> int:
        for index in range(count):
            await workflow.execute_activity(
                noop_activity, str(index), start_to_close_timeout=timedelta(seconds=30), retry_policy=RETRY
            )
        return count


@workflow.defn(name="BareLocalActivities")
class LocalActivitiesWorkflow:
    """``count`` sequential no-op *local* activities (a diagnostic: what local activities would save)."""

    @workflow.run
    async def run(self, count: int) -> int:
        for index in range(count):
            await workflow.execute_local_activity(
                noop_activity, str(index), start_to_close_timeout=timedelta(seconds=30), retry_policy=RETRY
            )
        return count


@workflow.defn(name="BareWaiting")
class WaitingWorkflow:
    """Waits until told to finish; its updates do nothing (``ping``) or run one no-op activity
    (``ping_activity``: an acknowledgement's shape, an update that projects, without its work)."""

    def __init__(self) -> None:
        self._done = False
        self._count = 0
        self._lock = asyncio.Lock()

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self._done and workflow.all_handlers_finished())
        return self._count

    @workflow.update
    def ping(self, value: int) -> int:
        self._count += 1
        return value

    @workflow.update
    async def ping_activity(self, value: int) -> int:
        async with self._lock:
            self._count += 1
            await workflow.execute_activity(
                noop_activity, str(value), start_to_close_timeout=timedelta(seconds=30), retry_policy=RETRY
            )
        return value

    @workflow.update
    async def ping_local_activity(self, value: int) -> int:
        async with self._lock:
            self._count += 1
            await workflow.execute_local_activity(
                noop_activity, str(value), start_to_close_timeout=timedelta(seconds=30), retry_policy=RETRY
            )
        return value

    @workflow.signal
    def finish(self) -> None:
        self._done = True


WORKFLOWS = [OneActivityWorkflow, ActivitiesWorkflow, LocalActivitiesWorkflow, WaitingWorkflow]
ACTIVITIES = [noop_activity]


def worker(client: Client, task_queue: str) -> Worker:
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=ACTIVITIES)


async def serve(address: str, namespace: str, task_queue: str) -> None:
    """The bare worker as a process of its own (like Casebridge's), until SIGTERM or SIGINT."""
    client = await Client.connect(address, namespace=namespace)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker(client, task_queue):
        print("bare worker polling", flush=True)
        await stop.wait()


if __name__ == "__main__":
    # `python bench/bare.py ADDRESS NAMESPACE TASK_QUEUE`. Through the module's own name, so the
    # sandbox finds the workflows as `bare.*`, not `__main__.*`.
    import bare

    asyncio.run(bare.serve(*sys.argv[1:4]))
