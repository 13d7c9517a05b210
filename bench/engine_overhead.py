"""Engine overhead (issue 6, benchmark 1): Casebridge through its API against bare Temporal.

On one embedded Temporal dev server, in one run:

  a. bare: a no-op workflow running one no-op activity, started and awaited by ``--concurrency``
     starters; its own worker in this process on its own task queue (SDK defaults, sandboxed);
  b. bare: an update round trip on a waiting workflow, ``--updates`` in sequence;
  c. Casebridge: POST /api/v1/cases as the officer (routing, deadline activities, projection),
     ``--cases`` with ``--concurrency`` HTTP clients;
  d. Casebridge: POST .../assignments/hrss/acknowledge as hrss on those cases, in sequence.

Targets: (c) throughput >= 0.5 x (a) throughput; (d) p50 <= 2 x (b) p50.

The four run in ``--rounds`` interleaved rounds (a, c, b, d, a, c, b, d), each block after
``--settle`` seconds of quiet, so that whatever else the shared machine does weighs on the baseline
and on Casebridge alike; everything is warmed up first (connections, pools, workflow cache).
``--py-spy [PATH]`` records the worker and the API during c and d (not for figures).

Diagnostics (same run, not targets; ``--no-diagnostics`` skips them) split the gap between engine
shape and Casebridge's own work: the bare workflow with as many activities as a creation runs
(and with local activities instead), the bare worker as a process of its own, a bare update that
runs one (local) activity -- an acknowledgement's shape --, the same creation and acknowledgement
sent to Temporal directly (no HTTP), creation as one update-with-start call, and the CPU each
process spends per operation.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import bare
from common import (
    BENCH_DIR,
    REPO_ROOT,
    BenchStack,
    CpuMeter,
    Profiler,
    bench_stack,
    environment,
    print_table,
    print_targets,
    run_concurrently,
    run_module,
    run_sequentially,
    summarize,
    target,
)

NAME = "engine_overhead"
CATEGORY = "wage_arrears"  # the README's first case: hrss leads, justice assists
CREATION_TARGET = 0.5
ACK_TARGET = 2.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(NAME)
    group.add_argument("--workflows", type=int, default=None, help="bare workflows (default 200; --large 1000)")
    group.add_argument("--cases", type=int, default=None, help="cases created (default 200; --large 1000)")
    group.add_argument("--updates", type=int, default=200, help="sequential bare updates and acknowledgements")
    group.add_argument("--concurrency", type=int, default=20, help="concurrent starters / HTTP clients")
    group.add_argument("--rounds", type=int, default=2, help="interleaved rounds of bare and Casebridge blocks")
    group.add_argument(
        "--settle", type=float, default=1.0, help="seconds of quiet before each timed block (the server's async work)"
    )
    group.add_argument("--warmup", type=int, default=20, help="operations of each kind before measuring")
    group.add_argument("--diagnostic-size", type=int, default=50, help="operations per diagnostic")
    group.add_argument("--category", default=CATEGORY, help="category of the cases created")
    group.add_argument("--no-diagnostics", action="store_true", help="only the four figures of the targets")


def case_body(index: int, category: str) -> dict[str, Any]:
    return {
        "worker": {"name": f"骑手{index}", "phone": f"139{random.randrange(10**8):08d}", "occupation": "外卖骑手"},
        "category": category,
        "title": f"基准测试个案 {index}：平台拖欠配送费",
        "description": "骑手反映平台连续三个月未结算配送费，站点负责人失联。",
        "counterparty": "某配送站点",
        "amount_claimed": "8600",
    }


def category_policy(stack: BenchStack, code: str) -> Any:
    from casebridge.policy_source import load_policy
    from casebridge.settings import DEFAULT_POLICY

    policy = load_policy(Path(stack.env.get("CASEBRIDGE_POLICY", DEFAULT_POLICY)))
    category = policy.category(code)
    if category is None:
        raise SystemExit(f"unknown category {code!r} (known: {', '.join(sorted(policy.categories))})")
    return policy, category


def creation_activities(stack: BenchStack, code: str) -> int:
    """Activities a creation runs: a deadline computation per routed department, then a projection."""
    _, category = category_policy(stack, code)
    return 1 + len(category.assist) + 1


def throughput(count: int, wall: float, latencies: list[float], meter: CpuMeter | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"n": count, "wall_s": round(wall, 3), "per_s": round(count / wall, 2)}
    out["latency"] = summarize(latencies)
    if meter is not None:
        out["cpu_ms_per_op"] = meter.per_op_ms(count)
    return out


def latency(latencies: list[float], meter: CpuMeter | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(latencies), "latency": summarize(latencies)}
    if meter is not None:
        out["cpu_ms_per_op"] = meter.per_op_ms(len(latencies))
    return out


@contextlib.asynccontextmanager
async def bare_worker_process(stack: BenchStack, queue: str) -> AsyncIterator[int]:
    """The bare worker in a process of its own, as Casebridge's worker runs."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(BENCH_DIR / "bare.py"),
        stack.temporal_address,
        stack.namespace,
        queue,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=REPO_ROOT,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 60)  # "bare worker polling"
        if not line.startswith(b"bare worker polling"):
            rest = await process.stdout.read()
            raise RuntimeError(f"the bare worker process did not start: {(line + rest).decode(errors='replace')}")
        yield process.pid
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()


class Operations:
    """Every operation the benchmark times, bare and Casebridge, on one server."""

    def __init__(self, stack: BenchStack, client: Any, http: Any, args: argparse.Namespace) -> None:
        self.stack = stack
        self.client = client
        self.http = http
        self.args = args
        self.run = uuid.uuid4().hex[:6]
        self.queue = f"bench-bare-{self.run}"
        self.waiting: Any = None
        self.officer: dict[str, str] = {}
        self.hrss: dict[str, str] = {}
        self.created: list[str] = []
        self.errors: dict[str, int] = {}

    async def prepare(self) -> None:
        self.officer = await self.stack.login(self.http, "officer")
        self.hrss = await self.stack.login(self.http, "hrss")
        self.waiting = await self.client.start_workflow(
            bare.WaitingWorkflow.run, id=f"bare-{self.run}-waiting", task_queue=self.queue
        )

    def workflow(self, workflow: Any, arg: Any, prefix: str, queue: str | None = None) -> Operation:
        async def start(index: int) -> None:
            await self.client.execute_workflow(
                workflow, arg, id=f"bare-{self.run}-{prefix}{index}", task_queue=queue or self.queue
            )

        return start

    def update(self, method: Any) -> Operation:
        async def send(index: int) -> None:
            await self.waiting.execute_update(method, index)

        return send

    async def create(self, index: int) -> None:
        body = case_body(index, self.args.category)
        response = await self.http.post("/api/v1/cases", json=body, headers=self.officer)
        if response.status_code == 201:
            self.created.append(response.json()["id"])
        else:
            self.error(f"create {response.status_code}")

    def acknowledge(self, ids: list[str]) -> Operation:
        async def send(index: int) -> None:
            url = f"/api/v1/cases/{ids[index]}/assignments/hrss/acknowledge"
            response = await self.http.post(url, headers=self.hrss)
            if response.status_code != 200:
                self.error(f"acknowledge {response.status_code}")

        return send

    def error(self, key: str) -> None:
        self.errors[key] = self.errors.get(key, 0) + 1

    async def finish(self) -> None:
        await self.waiting.signal(bare.WaitingWorkflow.finish)
        await self.waiting.result()


Operation = Callable[[int], Awaitable[None]]


def split(total: int, rounds: int) -> list[int]:
    return [total // rounds + (1 if r < total % rounds else 0) for r in range(rounds)]


async def measure_targets(
    ops: Operations, args: argparse.Namespace, workflows: int, cases: int, profiler: Profiler
) -> dict[str, Any]:
    """The four figures of the targets, in interleaved rounds (bare, Casebridge, bare, ...) so that
    whatever else the machine does in the meantime weighs on both sides alike."""
    meters = {key: CpuMeter(ops.stack.pids()) for key in ("one_activity", "create", "update", "acknowledge")}
    walls = {"one_activity": 0.0, "create": 0.0}
    latencies: dict[str, list[float]] = {key: [] for key in meters}
    done = {"one_activity": 0, "create": 0, "update": 0}
    one_activity = ops.workflow(bare.OneActivityWorkflow.run, "x", "a")
    ping = ops.update(bare.WaitingWorkflow.ping)
    for round_, (n_workflows, n_cases, n_updates) in enumerate(
        zip(split(workflows, args.rounds), split(cases, args.rounds), split(args.updates, args.rounds), strict=True)
    ):
        print(f"[engine] round {round_ + 1}/{args.rounds}: bare, Casebridge ...", flush=True)
        offset = done["one_activity"]
        await asyncio.sleep(args.settle)  # the server's asynchronous work of the block before
        meters["one_activity"].start()
        wall, lat = await run_concurrently(n_workflows, args.concurrency, lambda i, o=offset: one_activity(o + i))
        meters["one_activity"].stop()
        walls["one_activity"] += wall
        latencies["one_activity"] += lat
        done["one_activity"] += n_workflows

        ops.created.clear()
        offset = done["create"]
        await asyncio.sleep(args.settle)
        with profiler.phase(f"create-{round_ + 1}"):
            meters["create"].start()
            wall, lat = await run_concurrently(n_cases, args.concurrency, lambda i, o=offset: ops.create(o + i))
            meters["create"].stop()
        walls["create"] += wall
        latencies["create"] += lat
        done["create"] += len(ops.created)
        ids = list(ops.created)

        offset = done["update"]
        await asyncio.sleep(args.settle)
        meters["update"].start()
        latencies["update"] += await run_sequentially(n_updates, lambda i, o=offset: ping(o + i))
        meters["update"].stop()
        done["update"] += n_updates

        await asyncio.sleep(args.settle)
        with profiler.phase(f"acknowledge-{round_ + 1}"):
            meters["acknowledge"].start()
            latencies["acknowledge"] += await run_sequentially(min(n_updates, len(ids)), ops.acknowledge(ids))
            meters["acknowledge"].stop()
    return {
        "one_activity": throughput(
            done["one_activity"], walls["one_activity"], latencies["one_activity"], meters["one_activity"]
        ),
        "update": latency(latencies["update"], meters["update"]),
        "create": throughput(done["create"], walls["create"], latencies["create"], meters["create"]),
        "acknowledge": latency(latencies["acknowledge"], meters["acknowledge"]),
    }


async def measure_diagnostics(ops: Operations, args: argparse.Namespace) -> dict[str, Any]:
    """Where the gap comes from (not targets): the shapes of creation and acknowledgement on bare
    Temporal, the bare worker in its own process, single-flight latencies."""
    stack, diag = ops.stack, args.diagnostic_size
    out: dict[str, Any] = {}
    count = creation_activities(stack, args.category)
    out["activities_in_creation"] = count
    for key, workflow, prefix in [
        ("creation_shape", bare.ActivitiesWorkflow.run, "s"),
        ("creation_shape_local", bare.LocalActivitiesWorkflow.run, "l"),
    ]:
        await asyncio.sleep(args.settle)
        meter = CpuMeter(stack.pids()).start()
        wall, latencies = await run_concurrently(diag, args.concurrency, ops.workflow(workflow, count, prefix))
        meter.stop()
        out[key] = throughput(diag, wall, latencies, meter)
    for key, method in [
        ("update_with_activity", bare.WaitingWorkflow.ping_activity),
        ("update_with_local_activity", bare.WaitingWorkflow.ping_local_activity),
    ]:
        await run_sequentially(args.warmup // 2, ops.update(method))
        await asyncio.sleep(args.settle)
        meter = CpuMeter(stack.pids()).start()
        latencies = await run_sequentially(diag, ops.update(method))
        meter.stop()
        out[key] = latency(latencies, meter)
    one = ops.workflow(bare.OneActivityWorkflow.run, "x", "q")
    out["one_activity_single_flight"] = latency(await run_sequentially(diag // 2, one))
    ops.created.clear()
    out["create_single_flight"] = latency(await run_sequentially(diag // 2, lambda i: ops.create(900_000 + i)))

    queue = f"bench-bare-process-{ops.run}"
    async with bare_worker_process(stack, queue) as pid:
        await run_concurrently(
            args.warmup, args.concurrency, ops.workflow(bare.OneActivityWorkflow.run, "x", "pw", queue)
        )
        await asyncio.sleep(args.settle)
        meter = CpuMeter({**stack.pids(), "bare_worker": pid}).start()
        wall, latencies = await run_concurrently(
            diag, args.concurrency, ops.workflow(bare.OneActivityWorkflow.run, "x", "p", queue)
        )
        meter.stop()
        out["one_activity_worker_process"] = throughput(diag, wall, latencies, meter)
    return out


async def measure_direct(stack: BenchStack, args: argparse.Namespace, acked: list[str]) -> dict[str, Any]:
    """The same workflow work sent to Temporal from this process: no HTTP, auth or re-read."""
    from temporalio.client import WithStartWorkflowOperation
    from temporalio.common import WorkflowIDConflictPolicy

    from casebridge.domain.model import Actor, CaseInput, DepartmentCommand, Worker
    from casebridge.workflows import CaseWorkflow, CaseWorkflowInput

    client = await stack.temporal_client()
    policy, category = category_policy(stack, args.category)
    run = uuid.uuid4().hex[:6].upper()

    def case_input(index: int, prefix: str) -> CaseInput:
        body = case_body(index, args.category)
        return CaseInput(
            id=f"CB-{prefix}{run}{index:04d}",
            category=args.category,
            title=body["title"],
            description=body["description"],
            worker=Worker(body["worker"]["name"], body["worker"]["phone"], body["worker"]["occupation"]),
            policy=category,
            departments_known=sorted(policy.departments),
            created_by="officer",
            counterparty=body["counterparty"],
            amount_claimed="8600.00",
        )

    async def start_then_update(index: int) -> None:  # what POST /api/v1/cases does: two calls
        case = case_input(index, "D")
        handle = await client.start_workflow(
            CaseWorkflow.run, CaseWorkflowInput(case=case), id=case.id, task_queue=stack.task_queue
        )
        await handle.execute_update(CaseWorkflow.opened)

    async def update_with_start(index: int) -> None:  # the same in one call
        case = case_input(index, "U")
        operation = WithStartWorkflowOperation(
            CaseWorkflow.run,
            CaseWorkflowInput(case=case),
            id=case.id,
            task_queue=stack.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        await client.execute_update_with_start_workflow(CaseWorkflow.opened, start_workflow_operation=operation)

    count = len(acked)
    result: dict[str, Any] = {}
    await asyncio.sleep(args.settle)
    wall, latencies = await run_concurrently(count, args.concurrency, start_then_update)
    result["create"] = throughput(count, wall, latencies)
    await asyncio.sleep(args.settle)
    wall, latencies = await run_concurrently(count, args.concurrency, update_with_start)
    result["create_update_with_start"] = throughput(count, wall, latencies)

    justice = Actor("justice", "department", "justice")

    async def acknowledge(index: int) -> None:
        handle = client.get_workflow_handle(acked[index])
        await handle.execute_update(CaseWorkflow.acknowledge, DepartmentCommand(justice, "justice"))

    if "justice" in category.assist:  # another department's acknowledgement of the same cases
        await asyncio.sleep(args.settle)
        meter = CpuMeter(stack.pids()).start()
        latencies = await run_sequentially(count, acknowledge)
        meter.stop()
        result["acknowledge"] = latency(latencies, meter)
    return result


def report(args: argparse.Namespace, figures: dict[str, Any], diagnostics: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for label, entry in [
        ("a. bare one-activity workflow", figures["one_activity"]),
        ("b. bare update (sequential)", figures["update"]),
        ("c. Casebridge create (HTTP)", figures["create"]),
        ("d. Casebridge acknowledge (HTTP, sequential)", figures["acknowledge"]),
    ]:
        rows.append(
            {
                "phase": label,
                "n": entry["n"],
                "per_s": entry.get("per_s", ""),
                "p50_ms": entry["latency"]["p50_ms"],
                "p99_ms": entry["latency"]["p99_ms"],
                "max_ms": entry["latency"]["max_ms"],
            }
        )
    title = (
        f"Engine overhead (concurrency {args.concurrency}, category {args.category}, {args.rounds} interleaved rounds)"
    )
    print_table(title, rows)

    if diagnostics:
        direct = diagnostics.get("direct", {})
        count = diagnostics["activities_in_creation"]
        table = []
        for label, entry in [
            ("bare one-activity workflow, worker in its own process", diagnostics["one_activity_worker_process"]),
            (f"bare workflow, {count} activities (creation's shape)", diagnostics["creation_shape"]),
            (f"bare workflow, {count} local activities", diagnostics["creation_shape_local"]),
            ("Casebridge create via Temporal: start + update (no HTTP)", direct.get("create")),
            ("Casebridge create via Temporal: update-with-start", direct.get("create_update_with_start")),
            ("bare one-activity workflow, single flight", diagnostics["one_activity_single_flight"]),
            ("Casebridge create (HTTP), single flight", diagnostics["create_single_flight"]),
            ("bare update running one activity (ack's shape)", diagnostics["update_with_activity"]),
            ("bare update running one local activity", diagnostics["update_with_local_activity"]),
            ("Casebridge acknowledge via Temporal (no HTTP)", direct.get("acknowledge")),
        ]:
            if entry is not None:
                table.append(
                    {
                        "diagnostic": label,
                        "n": entry["n"],
                        "per_s": entry.get("per_s", ""),
                        "p50_ms": entry["latency"]["p50_ms"],
                        "p99_ms": entry["latency"]["p99_ms"],
                    }
                )
        print_table("Diagnostics (not targets)", table)
    cpu_rows = [
        {"operation": label, **entry["cpu_ms_per_op"]}
        for label, entry in [
            ("a. bare one-activity workflow", figures["one_activity"]),
            ("a1. same, bare worker in its own process", diagnostics.get("one_activity_worker_process")),
            ("a2. bare workflow, creation's activities", diagnostics.get("creation_shape")),
            ("a3. same as local activities", diagnostics.get("creation_shape_local")),
            ("b. bare update", figures["update"]),
            ("b1. bare update running one activity", diagnostics.get("update_with_activity")),
            ("b2. bare update running one local activity", diagnostics.get("update_with_local_activity")),
            ("c. Casebridge create", figures["create"]),
            ("d. Casebridge acknowledge", figures["acknowledge"]),
            ("d1. Casebridge acknowledge via Temporal", diagnostics.get("direct", {}).get("acknowledge")),
        ]
        if entry is not None and "cpu_ms_per_op" in entry
    ]
    for row in cpu_rows:
        row["total"] = round(sum(v for k, v in row.items() if k != "operation"), 2)
    columns = ["operation", "postgres", "temporal", "worker", "api", "bench", "bare_worker", "total"]
    print_table(
        "CPU ms per operation by process (bench: this process, with the in-process bare worker)", cpu_rows, columns
    )
    return rows


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from temporalio.worker import Worker

    workflows = args.workflows or (1000 if args.large else 200)
    cases = args.cases or (1000 if args.large else 200)
    began = time.monotonic()
    diagnostics: dict[str, Any] = {}
    async with bench_stack("engine", keep=args.keep_data, temporal_config=args.temporal_config) as stack:
        profiler = Profiler(args.py_spy, stack, "engine")
        client = await stack.temporal_client()
        async with stack.http_client(args.concurrency + 4) as http:
            ops = Operations(stack, client, http, args)
            async with Worker(client, task_queue=ops.queue, workflows=bare.WORKFLOWS, activities=bare.ACTIVITIES):
                await ops.prepare()
                print(f"[engine] warming up ({args.warmup} of each operation) ...", flush=True)
                await run_concurrently(
                    args.warmup, args.concurrency, ops.workflow(bare.OneActivityWorkflow.run, "x", "w")
                )
                await run_sequentially(args.warmup, ops.update(bare.WaitingWorkflow.ping))
                await run_concurrently(args.warmup, args.concurrency, lambda i: ops.create(800_000 + i))
                await run_sequentially(len(ops.created), ops.acknowledge(list(ops.created)))
                ops.errors.clear()
                print(
                    f"[engine] {workflows} bare workflows and {cases} cases (concurrency {args.concurrency}), "
                    f"{args.updates} bare updates and acknowledgements ...",
                    flush=True,
                )
                figures = await measure_targets(ops, args, workflows, cases, profiler)
                errors = dict(ops.errors)
                if not args.no_diagnostics:
                    print("[engine] diagnostics ...", flush=True)
                    diagnostics = await measure_diagnostics(ops, args)
                    acked = await acknowledged_cases(ops, args.diagnostic_size)
                    diagnostics["direct"] = await measure_direct(stack, args, acked)
                await ops.finish()

    rows = report(args, figures, diagnostics)
    if errors:
        print_table("Errors", [{"request": k, "count": v} for k, v in errors.items()])
    bare_rate = figures["one_activity"]["per_s"]
    create_rate = figures["create"]["per_s"]
    update_p50 = figures["update"]["latency"]["p50_ms"]
    ack_p50 = figures["acknowledge"]["latency"]["p50_ms"]
    creation_ratio = create_rate / bare_rate
    ack_ratio = ack_p50 / update_p50
    targets = [
        target("creation throughput / bare one-activity throughput", creation_ratio, ">=", CREATION_TARGET),
        target("acknowledgement p50 / bare update p50", ack_ratio, "<=", ACK_TARGET),
    ]
    print(f"\ncreation throughput {create_rate:.2f}/s vs bare {bare_rate:.2f}/s: ratio {creation_ratio:.3f}")
    print(f"acknowledgement p50 {ack_p50:.1f} ms vs bare update p50 {update_p50:.1f} ms: ratio {ack_ratio:.3f}")
    print_targets(targets)
    return {
        "name": NAME,
        "seconds": round(time.monotonic() - began, 1),
        "parameters": {
            "workflows": workflows,
            "cases": cases,
            "updates": args.updates,
            "concurrency": args.concurrency,
            "rounds": args.rounds,
            "settle_s": args.settle,
            "warmup": args.warmup,
            "diagnostic_size": args.diagnostic_size,
            "category": args.category,
            "temporal_config": args.temporal_config,
        },
        "summary": rows,
        "ratios": {"creation_throughput": round(creation_ratio, 3), "ack_p50": round(ack_p50 / update_p50, 3)},
        "targets": targets,
        "figures": figures,
        "errors": errors,
        "diagnostics": diagnostics,
        "profiles": profiler.files,
        "environment": environment(),
    }


async def acknowledged_cases(ops: Operations, count: int) -> list[str]:
    """Fresh cases for the direct acknowledgement (justice's assignment, pending)."""
    ops.created.clear()
    await run_concurrently(count, ops.args.concurrency, lambda i: ops.create(700_000 + i))
    return list(ops.created)


if __name__ == "__main__":
    run_module(NAME, add_arguments, main, __doc__)
