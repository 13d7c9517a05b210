"""What each setting of the embedded Temporal dev server's tuning buys (issue 6: "say what each
setting buys, measured").

``casebridge.devstack.temporal.TUNING`` is a list of ``flag value`` pairs that ``make run`` adds to
``temporal server start-dev``. This starts a fresh dev server for each cumulative prefix of it --
the dev server's defaults, then the first setting added, then the first two, ... up to the shipped
tuning -- and measures, with the bare workflows of ``bare.py`` and an in-process worker (nothing
of Casebridge's):

- throughput: ``--tuning-workflows`` one-activity workflows started and awaited by
  ``--tuning-concurrency`` starters (workflows/s);
- latency: ``--tuning-sequential`` one-activity workflows one after the other (p50/p99);
- an update round trip on a waiting workflow, ``--tuning-sequential`` in sequence (p50/p99):
  updates do not go through the history service's transfer queue, so this one should not move.

The variants run one after the other on the same machine, so load from elsewhere hits whichever
runs at that moment: read the ratios next to the load average printed with them. The
long-retention namespace (``RETENTION``) is not a speed setting and is the same in every variant.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import bare
from common import (
    NAMESPACE,
    environment,
    print_table,
    run_concurrently,
    run_module,
    run_sequentially,
    summarize,
)

import casebridge.devstack.temporal as embedded
from casebridge.devstack import free_port, start_temporal

NAME = "dev_server_tuning"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(NAME)
    group.add_argument("--tuning-workflows", type=int, default=300, help="one-activity workflows for throughput")
    group.add_argument("--tuning-concurrency", type=int, default=20, help="concurrent starters")
    group.add_argument("--tuning-sequential", type=int, default=100, help="sequential workflows, and updates")
    group.add_argument("--tuning-warmup", type=int, default=20, help="operations of each kind before measuring")


def variants(tuning: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    """The dev server's defaults, then each setting of ``tuning`` added in turn."""
    pairs = [(tuning[i], tuning[i + 1]) for i in range(0, len(tuning), 2)]
    result = [("dev-server defaults", ())]
    for count in range(1, len(pairs) + 1):
        _, value = pairs[count - 1]
        label = f"+ {value}" if count < len(pairs) else f"+ {value} (shipped)"
        result.append((label, tuple(item for pair in pairs[:count] for item in pair)))
    return result


@contextlib.contextmanager
def tuned(settings: tuple[str, ...]) -> Iterator[None]:
    original = embedded.TUNING
    embedded.TUNING = settings
    try:
        yield
    finally:
        embedded.TUNING = original


async def measure(label: str, settings: tuple[str, ...], args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="casebridge-bench-tuning-"))
    try:
        with tuned(settings):
            server = await asyncio.to_thread(start_temporal, data_dir, free_port(), None, NAMESPACE)
        try:
            client = await server_client(server.address)
            queue = f"tuning-{uuid.uuid4().hex[:8]}"
            async with bare.worker(client, queue):

                async def one_activity(index: int) -> None:
                    await client.execute_workflow(
                        bare.OneActivityWorkflow.run, str(index), id=f"wf-{uuid.uuid4().hex}", task_queue=queue
                    )

                waiting = await client.start_workflow(
                    bare.WaitingWorkflow.run, id=f"waiting-{uuid.uuid4().hex}", task_queue=queue
                )

                async def update(index: int) -> None:
                    await waiting.execute_update(bare.WaitingWorkflow.ping, index)

                await run_concurrently(args.tuning_warmup, args.tuning_concurrency, one_activity)
                await run_sequentially(args.tuning_warmup, update)
                load_before = os.getloadavg()[0]
                wall, _ = await run_concurrently(args.tuning_workflows, args.tuning_concurrency, one_activity)
                sequential = await run_sequentially(args.tuning_sequential, one_activity)
                updates = await run_sequentially(args.tuning_sequential, update)
                await waiting.signal(bare.WaitingWorkflow.finish)
        finally:
            await asyncio.to_thread(server.stop)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return {
        "variant": label,
        "settings": list(settings),
        "workflows_per_s": round(args.tuning_workflows / wall, 1),
        "workflow": summarize(sequential),
        "update": summarize(updates),
        "load_average_1m": round(load_before, 2),
    }


async def server_client(address: str) -> Any:
    from temporalio.client import Client

    return await Client.connect(address, namespace=NAMESPACE)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    began = time.monotonic()
    results = []
    for label, settings in variants(embedded.TUNING):
        print(f"[tuning] {label}: {' '.join(settings) or '(none)'}", flush=True)
        results.append(await measure(label, settings, args))
    base = results[0]
    rows = [
        {
            "variant": r["variant"],
            "wf/s": r["workflows_per_s"],
            "x defaults": round(r["workflows_per_s"] / base["workflows_per_s"], 2),
            "workflow p50 ms": r["workflow"]["p50_ms"],
            "workflow p99 ms": r["workflow"]["p99_ms"],
            "update p50 ms": r["update"]["p50_ms"],
            "load 1m": r["load_average_1m"],
        }
        for r in results
    ]
    print_table(
        f"dev server tuning: {args.tuning_workflows} one-activity workflows x {args.tuning_concurrency} starters; "
        f"{args.tuning_sequential} sequential workflows and updates",
        rows,
    )
    return {
        "name": NAME,
        "variants": results,
        "seconds": round(time.monotonic() - began, 1),
        "environment": environment(),
    }


if __name__ == "__main__":
    run_module(NAME, add_arguments, main)
