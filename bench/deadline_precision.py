"""Deadline precision at scale (issue 6, benchmark 2).

On the real embedded stack (PostgreSQL + Temporal dev server, tuned as `make run` tunes it, and the
worker as its own process; no API: cases are started with a Temporal client exactly as
``POST /api/v1/cases`` starts them), open many cases whose deadlines lie days ahead, plus a
thousand whose acknowledgement deadline falls due within the same second. Then measure:

- lateness of each of the thousand: ``case_events.recorded_at`` (the projection transaction that
  wrote ``assignment.overdue``) minus ``assignments.ack_due_at``, and the event's own ``at`` (the
  workflow's clock when the timer fired) minus the same instant: p50 / p99 / max;
- the baseline, in the same run on the same server: a thousand bare workflows whose timers all
  fire at one instant and then run one no-op activity (lateness of the timer, of the activity);
- the worker's RSS at idle with 1 000 and with all open cases, at its peak during the burst and
  at idle afterwards (target: bounded by the worker's workflow cache, not by the open cases);
- the Temporal SQLite database (``temporal.db`` + WAL) per open case.

How the thousand deadlines coincide: a due instant is ``issued_at + ack_within``, ``issued_at``
being the workflow's clock at its first task, and durations are whole seconds. Each due case
carries its own copy of the policy category (as every case does: the API copies it in) with
``ack_within = ceil(T - now) seconds``, and is started only in the half of a wall-clock second that
leaves the rounding between 0.05 s and 0.5 s, with few starts in flight. What remains is the lag
from a start to the workflow's first task, which grows when the machine is busy: the spread of the
recorded ``ack_due_at`` and the most of them in any one second are printed, and lateness is always
taken against each case's own recorded deadline. The baseline's timers all share one instant.

The due cases are opened *before* most of the far-deadline cases and have no warnings, so when
their deadline fires over a thousand other workflows have gone through the worker since: they have
left its workflow cache (1 000, the SDK default) and each timer replays its history, as it would
for real cases opened days earlier.

Run alone: ``.venv/bin/python bench/deadline_precision.py [--large] [--dp-open N] [--dp-due N]
[--temporal-config KEY=VALUE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import inspect
import math
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from common import percentile, run_module, target
from temporalio import activity, workflow
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.worker import Worker

import casebridge.devstack.temporal as embedded_temporal
from casebridge.db.migrate import upgrade_async
from casebridge.devstack import ManagedProcess, free_port, start_postgres, start_temporal
from casebridge.devstack.processes import spawn
from casebridge.domain.model import CaseInput, CategoryPolicy
from casebridge.domain.model import Worker as CaseWorker
from casebridge.policy_source import load_policy
from casebridge.settings import DEFAULT_POLICY
from casebridge.workflows import CaseWorkflow, CaseWorkflowInput

NAME = "deadline_precision"

NAMESPACE = "casebridge"
TASK_QUEUE = "casebridge"
BARE_QUEUE = "bench-bare-timers"
DUE_CATEGORY = "bench_due"
# Appended to the shipped policy: the due cases' category. Lead only (one schedule activity, so
# issued_at is the first workflow task's clock), no warnings (the overdue timer is the only one),
# and escalation far away so nothing follows the overdue flag during the run.
DUE_CATEGORY_TOML = f"""
[categories.{DUE_CATEGORY}]
label = "基准测试：秒级签收时限"
lead = "traffic"
assist = []
ack_within = "120 seconds"
resolve_within = "30 days"
warn_at = []
escalate_after_overdue = "30 days"
"""

LATENESS_TARGET_S = 1.0
RSS_GROWTH_LIMIT = 1.25  # idle RSS with every case open / idle RSS with 1 000 open, to count as bounded
DEFAULT_BUDGET_S = 360.0  # default mode: opening every case must fit in about six minutes
DRAIN_MARGIN_S = 25.0  # between the last far case projected and T: the worker settles, RSS is sampled
START_CONCURRENCY = 16
OPEN_WINDOW = 250  # far-deadline cases started but not yet in the read model
DUE_WINDOW = 30  # the same for the due cases, small so the start-to-first-task lag stays small

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰书春建国志红文辉力鹏飞海波宁"
OCCUPATIONS = [
    ("外卖骑手", "美团"),
    ("外卖骑手", "饿了么"),
    ("快递员", "顺丰"),
    ("快递员", "中通"),
    ("网约车司机", "滴滴出行"),
    ("货车司机", "货拉拉"),
    ("卡车司机", "满帮"),
]
TITLES = {
    "wage_arrears": ["{occ}{n}个月工资未发", "{occ}被拖欠工资{amount}元", "站点关停后工资无人结算"],
    "work_injury": ["{occ}送件途中受伤，工伤认定无进展", "{occ}摔伤后平台拒绝赔付"],
    "traffic_accident": ["{occ}交通事故责任认定有争议", "配送途中被撞，对方逃逸"],
    "social_insurance": ["{occ}社保断缴", "平台未缴纳职业伤害保障"],
    "labor_relation": ["{occ}劳动关系确认纠纷", "站点以众包为由否认劳动关系"],
    "platform_rules": ["{occ}被平台无故封号", "超时罚款规则不合理"],
    "safety_hazard": ["配送路段存在安全隐患", "站点电动车充电存在火灾隐患"],
    "other": ["{occ}其他权益诉求"],
}
# The shipped policy's categories, weighted as intake is (two thirds have an assisting department).
CATEGORY_WEIGHTS = {
    "wage_arrears": 35,
    "work_injury": 12,
    "traffic_accident": 15,
    "social_insurance": 10,
    "labor_relation": 10,
    "platform_rules": 8,
    "safety_hazard": 4,
    "other": 6,
}


def say(message: str) -> None:
    print(f"[{NAME}] {message}", flush=True)


def stats(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50_s": round(percentile(values, 50), 3),
        "p99_s": round(percentile(values, 99), 3),
        "max_s": round(max(values), 3) if values else math.nan,
        "min_s": round(min(values), 3) if values else math.nan,
        "n": len(values),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(f"{NAME} (issue 6, item 2)")
    group.add_argument(
        "--dp-open", type=int, default=None, help="cases with far deadlines (default 10 000; 100 000 with --large)"
    )
    group.add_argument("--dp-due", type=int, default=1000, help="cases whose deadline falls due at once (1000)")
    group.add_argument(
        "--dp-budget", type=float, default=None, help="seconds for opening the cases (default 360; none with --large)"
    )
    group.add_argument("--dp-no-baseline", action="store_true", help="skip the bare-timer baseline")


# --- the stack ---------------------------------------------------------------------------------


def worker_cache_size() -> int:
    """The worker's workflow cache: casebridge.worker does not set it, so the SDK default applies."""
    return int(inspect.signature(Worker.__init__).parameters["max_cached_workflows"].default)


@contextlib.contextmanager
def temporal_tuning(values: Sequence[str]) -> Iterator[None]:
    """Extra ``--dynamic-config-value`` for the dev server (``--temporal-config KEY=VALUE``), to try a
    setting on top of the shipped tuning without changing it."""
    original = embedded_temporal.TUNING
    extra = [arg for value in values for arg in ("--dynamic-config-value", value)]
    embedded_temporal.TUNING = (*original, *extra)  # type: ignore[assignment]
    try:
        yield
    finally:
        embedded_temporal.TUNING = original


async def wait_for_worker(client: Client, worker: ManagedProcess, wait_s: float = 60) -> None:
    request = DescribeTaskQueueRequest(
        namespace=NAMESPACE,
        task_queue=TaskQueue(name=TASK_QUEUE),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if not worker.alive():
            raise RuntimeError(f"worker exited: {worker.log_path.read_text(errors='replace')[-3000:]}")
        if (await client.workflow_service.describe_task_queue(request)).pollers:
            return
        await asyncio.sleep(0.3)
    raise TimeoutError("the worker did not poll its task queue")


def temporal_db_bytes(data_dir: Path) -> dict[str, int]:
    sizes = {}
    for suffix in ("", "-wal", "-shm"):
        path = data_dir / f"temporal.db{suffix}"
        sizes[f"temporal.db{suffix}"] = path.stat().st_size if path.exists() else 0
    return sizes


class WorkerProbe:
    """RSS and CPU of the worker process (psutil)."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.process.cpu_percent(None)

    def rss_mib(self) -> float:
        return float(self.process.memory_info().rss) / 2**20

    def cpu_percent(self) -> float:
        return float(self.process.cpu_percent(None))

    async def wait_idle(self, *, below: float = 5.0, quiet_for: float = 3.0, limit_s: float = 180.0) -> float:
        """Wait until the worker has used < ``below`` % CPU for ``quiet_for`` s; returns seconds waited."""
        start = time.monotonic()
        quiet_since: float | None = None
        self.cpu_percent()
        while time.monotonic() - start < limit_s:
            await asyncio.sleep(0.5)
            if self.cpu_percent() < below:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= quiet_for:
                    break
            else:
                quiet_since = None
        return time.monotonic() - start


# --- cases -------------------------------------------------------------------------------------


def case_input(case_id: str, category: CategoryPolicy, departments: list[str], rng: random.Random) -> CaseInput:
    occupation, platform = rng.choice(OCCUPATIONS)
    name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
    amount = rng.randrange(2_000, 60_000, 100)
    templates = TITLES.get(category.category, ["{occ}权益诉求"])
    title = rng.choice(templates).format(occ=occupation, n=rng.randint(1, 12), amount=amount)
    description = (
        f"{name}是{platform}的{occupation}，{rng.choice(['去年', '今年初', '上个月'])}起"
        f"{title}，多次与站点沟通无果，请求有关部门依法处理。"
    )
    return CaseInput(
        id=case_id,
        category=category.category,
        title=title,
        description=description,
        worker=CaseWorker(name, f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}", occupation, platform),
        policy=category,
        departments_known=departments,
        created_by="officer",
        station=f"{rng.choice(['朝阳', '海淀', '天河', '南山', '武侯'])}站",
        counterparty=f"{platform}合作商",
        amount_claimed=f"{amount:.2f}" if category.category == "wage_arrears" else None,
    )


class Creator:
    """Starts CaseWorkflows as the API does, keeping at most ``window`` started but not yet in the
    read model (so the worker, not a queue, sets the pace)."""

    def __init__(self, client: Client, pg: asyncpg.Connection) -> None:
        self.client = client
        self.pg = pg
        self.started = 0
        self.projected = 0

    async def count_projected(self) -> int:
        self.projected = int(await self.pg.fetchval("SELECT count(*) FROM cases"))
        return self.projected

    async def run(
        self,
        cases: Iterable[Callable[[], CaseInput]],
        *,
        window: int,
        stop: Callable[[], bool] | None = None,
        gate: Callable[[], Awaitable[None]] | None = None,
    ) -> int:
        """Start the cases (each made just before its start, after ``gate``) until done or until
        ``stop()``; returns how many were started."""
        semaphore = asyncio.Semaphore(START_CONCURRENCY)
        tasks: set[asyncio.Task[None]] = set()
        count = 0
        for make in cases:
            if stop is not None and stop():
                break
            while self.started - self.projected >= window:
                await asyncio.sleep(0.2)
                await self.count_projected()
            if gate is not None:
                await gate()
            await semaphore.acquire()
            case = make()

            async def start(case: CaseInput = case) -> None:
                try:
                    await self.client.start_workflow(
                        CaseWorkflow.run, CaseWorkflowInput(case=case), id=case.id, task_queue=TASK_QUEUE
                    )
                finally:
                    semaphore.release()

            task = asyncio.create_task(start())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            self.started += 1
            count += 1
        if tasks:
            await asyncio.gather(*tasks)
        return count

    async def drain(self, limit_s: float = 300) -> float:
        """Wait until every started case is in the read model; returns seconds waited."""
        start = time.monotonic()
        while await self.count_projected() < self.started:
            if time.monotonic() - start > limit_s:
                raise TimeoutError(f"{self.started - self.projected} cases not projected after {limit_s}s")
            await asyncio.sleep(0.3)
        return time.monotonic() - start


async def half_second_gate(target_t: float) -> None:
    """Wait for the part of the wall-clock second in which ceil(T - now) - (T - now) is 0.05..0.5."""
    while True:
        frac = (target_t - time.time()) % 1.0
        if 0.5 <= frac < 0.95:
            return
        await asyncio.sleep(frac + 0.06 if frac < 0.5 else frac - 0.94)


def take(items: Iterable[Callable[[], CaseInput]], count: int) -> Iterator[Callable[[], CaseInput]]:
    for index, item in enumerate(items):
        if index >= count:
            return
        yield item


# --- the baseline: bare timers on the same server ----------------------------------------------


@activity.defn(name="bench_due_instant")
async def due_instant() -> float:
    return time.time()


# Not sandboxed: this module imports psutil and asyncpg, which the sandbox would re-import.
@workflow.defn(name="BenchDueTimer", sandboxed=False)
class DueTimerWorkflow:
    """Sleeps until an absolute instant, then runs one no-op activity: [timer late, activity late]."""

    @workflow.run
    async def run(self, due: float) -> list[float]:
        delay = due - workflow.now().timestamp()
        if delay > 0:
            await asyncio.sleep(delay)
        fired = workflow.now().timestamp()
        done = await workflow.execute_activity(due_instant, start_to_close_timeout=timedelta(seconds=120))
        return [fired - due, done - due]


async def bare_baseline(client: Client, count: int, starts_per_s: float) -> dict[str, Any]:
    """``count`` bare workflows whose timers all fire at one instant, served by an in-process worker
    (SDK defaults, cache 1 000, so warm: the server's timer precision is what it measures)."""
    async with Worker(client, task_queue=BARE_QUEUE, workflows=[DueTimerWorkflow], activities=[due_instant]):
        due = math.floor(time.time() + count / max(starts_per_s, 1.0) + 15) + 0.25
        semaphore = asyncio.Semaphore(START_CONCURRENCY)
        late_starts = 0

        async def one(index: int) -> list[float] | None:
            nonlocal late_starts
            async with semaphore:
                handle = await client.start_workflow(
                    DueTimerWorkflow.run, due, id=f"bench-due-{index}-{time.time_ns()}", task_queue=BARE_QUEUE
                )
            if time.time() > due - 1.0:
                late_starts += 1
                return None
            result: list[float] = await handle.result()
            return result

        results = await asyncio.gather(*(one(i) for i in range(count)))
    kept = [r for r in results if r is not None]
    return {
        "workflows": count,
        "excluded_started_within_1s_of_due": late_starts,
        "timer_lateness": stats([r[0] for r in kept]),
        "activity_lateness": stats([r[1] for r in kept]),
    }


# --- the benchmark -----------------------------------------------------------------------------


@dataclasses.dataclass
class Plan:
    target_open: int
    due_count: int
    budget: float | None
    policy_path: Path
    far_categories: list[CategoryPolicy]
    far_weights: list[int]
    due_policy: CategoryPolicy
    departments: list[str]


def make_plan(args: argparse.Namespace, data_dir: Path) -> Plan:
    large = bool(getattr(args, "large", False))
    policy_path = data_dir / "policy.toml"
    policy_path.write_text(DEFAULT_POLICY.read_text(encoding="utf-8") + DUE_CATEGORY_TOML, encoding="utf-8")
    policy = load_policy(policy_path)
    return Plan(
        target_open=args.dp_open if args.dp_open is not None else (100_000 if large else 10_000),
        due_count=args.dp_due,
        budget=args.dp_budget if args.dp_budget is not None else (None if large else DEFAULT_BUDGET_S),
        policy_path=policy_path,
        far_categories=[policy.categories[c] for c in CATEGORY_WEIGHTS],
        far_weights=list(CATEGORY_WEIGHTS.values()),
        due_policy=policy.categories[DUE_CATEGORY],
        departments=sorted(policy.departments),
    )


async def run_benchmark(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    plan = make_plan(args, data_dir)
    tuning = list(getattr(args, "temporal_config", None) or [])
    say(f"data dir {data_dir}; starting PostgreSQL and Temporal" + (f" (+ {tuning})" if tuning else ""))
    pg = await asyncio.to_thread(start_postgres, data_dir, free_port())
    temporal: ManagedProcess | None = None
    worker: ManagedProcess | None = None
    try:
        with temporal_tuning(tuning):
            temporal = await asyncio.to_thread(start_temporal, data_dir, free_port(), None, NAMESPACE)
        await upgrade_async(pg.url)
        env = {
            **os.environ,
            "CASEBRIDGE_ENV": "test",
            "CASEBRIDGE_DATA_DIR": str(data_dir),
            "CASEBRIDGE_DATABASE_URL": pg.url,
            "CASEBRIDGE_TEMPORAL_ADDRESS": temporal.address,
            "CASEBRIDGE_TEMPORAL_NAMESPACE": NAMESPACE,
            "CASEBRIDGE_TASK_QUEUE": TASK_QUEUE,
            "CASEBRIDGE_POLICY": str(plan.policy_path),
            "CASEBRIDGE_LOG_JSON": "true",
        }
        worker = spawn("worker", [sys.executable, "-m", "casebridge.worker"], data_dir, env=env)
        client = await Client.connect(temporal.address, namespace=NAMESPACE)
        await wait_for_worker(client, worker)
        conn = await asyncpg.connect(pg.dsn())
        try:
            result = await measure(client, conn, WorkerProbe(worker.pid), data_dir, plan)
            if not args.dp_no_baseline and plan.due_count:
                say(f"baseline: {plan.due_count} bare timers firing at one instant")
                rate = result["open_cases"]["cases_per_s"]["first_1000"]
                base = await bare_baseline(client, plan.due_count, 3 * rate)
                bare_p99 = base["activity_lateness"]["p99_s"]
                ours = result["lateness_recorded_at"]["p99_s"]
                base["ratio_p99_recorded_vs_bare_activity"] = round(ours / bare_p99, 2) if bare_p99 > 0 else None
                result["baseline_bare_timers"] = base
        finally:
            await conn.close()
        result["temporal_config_extra"] = tuning
        return result
    finally:
        for process in (worker, temporal, pg):
            if process is not None:
                process.stop(timeout=30)


async def measure(
    client: Client, conn: asyncpg.Connection, probe: WorkerProbe, data_dir: Path, plan: Plan
) -> dict[str, Any]:
    rng = random.Random(6)
    creator = Creator(client, conn)
    numbers = iter(range(1, 10**9))

    def far_cases() -> Iterator[Callable[[], CaseInput]]:
        while True:
            number = next(numbers)
            category = rng.choices(plan.far_categories, plan.far_weights)[0]
            yield functools.partial(case_input, f"CB-F{number:09d}", category, plan.departments, rng)

    await probe.wait_idle(quiet_for=2)
    rss_empty, db_empty = probe.rss_mib(), temporal_db_bytes(data_dir)
    t_begin = time.time()
    notes: list[str] = []
    rss_curve: list[tuple[int, float]] = []  # (cases in the read model, worker RSS MiB), every 10 s

    async def sample_rss() -> None:
        while True:
            await asyncio.sleep(10)
            rss_curve.append((creator.projected, round(probe.rss_mib(), 1)))

    sampler = asyncio.create_task(sample_rss())

    # A: the first 1 000 far-deadline cases; their rate plans the rest.
    first = min(1000, plan.target_open)
    t0 = time.monotonic()
    await creator.run(take(far_cases(), first), window=OPEN_WINDOW)
    await creator.drain()
    rate_a = first / (time.monotonic() - t0)
    await probe.wait_idle()
    rss_1k, db_1k = probe.rss_mib(), temporal_db_bytes(data_dir)
    say(f"{first} open cases at {rate_a:.1f} cases/s; worker RSS idle {rss_1k:.1f} MiB")

    # T: after the due cases and the remaining far cases, plus a margin to settle and sample.
    remaining = max(plan.target_open - first, 0)
    est_due = plan.due_count / (rate_a * 0.8)  # started in half of each second, fewer in flight
    est_rest = remaining / rate_a
    elapsed = time.time() - t_begin
    if plan.budget is not None and elapsed + est_due + est_rest > plan.budget:
        est_rest = max(plan.budget - elapsed - est_due, 0.0)
        notes.append(
            f"scaled down: at {rate_a:.1f} cases/s, {plan.target_open} far cases and {plan.due_count} due ones "
            f"would take ~{(plan.target_open + plan.due_count) / rate_a:.0f} s, over the {plan.budget:.0f} s "
            f"budget; opening what fits in it"
        )
        say(notes[-1])
    target_t = math.floor(time.time() + est_due * 1.2 + est_rest + DRAIN_MARGIN_S) + 1.0

    # B: the due cases, each with ack_within = ceil(T - now) seconds.
    def due_cases() -> Iterator[Callable[[], CaseInput]]:
        for number in range(1, plan.due_count + 1):

            def make(n: int = number) -> CaseInput:
                category = dataclasses.replace(
                    plan.due_policy, ack_within=f"{math.ceil(target_t - time.time())} seconds"
                )
                return case_input(f"CB-D{n:09d}", category, plan.departments, rng)

            yield make

    t1 = time.monotonic()
    await creator.run(due_cases(), window=DUE_WINDOW, gate=lambda: half_second_gate(target_t))
    await creator.drain()
    rate_b = plan.due_count / (time.monotonic() - t1) if plan.due_count else math.nan
    say(f"{plan.due_count} due cases opened at {rate_b:.1f} cases/s; T is {target_t - time.time():.0f} s away")

    # C: the rest of the far cases, stopping while the backlog can still drain before T.
    def near_t() -> bool:
        backlog_s = (creator.started - creator.projected) / max(rate_a, 1.0)
        return time.time() + backlog_s + DRAIN_MARGIN_S >= target_t

    t2 = time.monotonic()
    started_c = await creator.run(take(far_cases(), remaining), window=OPEN_WINDOW, stop=near_t)
    await creator.drain()
    rate_c = started_c / (time.monotonic() - t2) if started_c else math.nan
    open_far = first + started_c
    if started_c < remaining and not notes:
        notes.append(f"scaled down: {open_far} of {plan.target_open} far cases opened before T came near")
    creation_s = time.time() - t_begin
    sampler.cancel()
    await probe.wait_idle(limit_s=max(target_t - time.time() - 5, 1))
    rss_all, db_all = probe.rss_mib(), temporal_db_bytes(data_dir)
    open_cases = open_far + plan.due_count
    say(f"{open_cases} open ({started_c} far after the due ones, {rate_c:.1f}/s); worker RSS idle {rss_all:.1f} MiB")

    spread = await conn.fetchrow(
        "SELECT extract(epoch FROM min(ack_due_at))::float8 AS first, extract(epoch FROM max(ack_due_at))::float8 "
        "AS last FROM assignments WHERE case_id LIKE 'CB-D%'"
    )
    due_first, due_last = float(spread["first"]), float(spread["last"])
    densest = await conn.fetchval(
        "SELECT max(n) FROM (SELECT count(*) OVER (ORDER BY ack_due_at RANGE BETWEEN CURRENT ROW "
        "AND '1 second' FOLLOWING) AS n FROM assignments WHERE case_id LIKE 'CB-D%') s"
    )
    if time.time() > due_first:
        notes.append(f"the first deadline passed {time.time() - due_first:.1f} s before the burst was watched")

    # The burst: watch until every due case's overdue event is in the read model.
    peak_rss, peak_cpu = probe.rss_mib(), 0.0
    watch_until = due_last + max(120.0, plan.due_count * 0.2)
    while time.time() < watch_until:
        await asyncio.sleep(0.5)
        peak_rss, peak_cpu = max(peak_rss, probe.rss_mib()), max(peak_cpu, probe.cpu_percent())
        if time.time() > due_last:
            recorded = await conn.fetchval(
                "SELECT count(*) FROM case_events WHERE type = 'assignment.overdue' AND case_id LIKE 'CB-D%'"
            )
            if recorded >= plan.due_count:
                break
    burst_s = time.time() - due_first
    rows = await conn.fetch(
        """
        SELECT extract(epoch FROM e.recorded_at - a.ack_due_at)::float8 AS recorded_late,
               extract(epoch FROM e.at - a.ack_due_at)::float8 AS at_late
        FROM case_events e
        JOIN assignments a ON a.case_id = e.case_id AND a.department = e.data->>'department'
        WHERE e.type = 'assignment.overdue' AND e.data->>'deadline' = 'ack' AND e.case_id LIKE 'CB-D%'
        """
    )
    far_overdue = await conn.fetchval(
        "SELECT count(*) FROM case_events WHERE type = 'assignment.overdue' AND case_id LIKE 'CB-F%'"
    )
    await probe.wait_idle(limit_s=60)
    rss_after = probe.rss_mib()

    lateness = stats([r["recorded_late"] for r in rows])
    missing = plan.due_count - len(rows)
    db_growth = sum(db_all.values()) - sum(db_empty.values())
    rss_ratio = rss_all / rss_1k
    return {
        "name": NAME,
        "open_cases": {
            "far_deadlines": open_far,
            "due_at_once": plan.due_count,
            "total": open_cases,
            "target_far": plan.target_open,
            "creation_s": round(creation_s, 1),
            "cases_per_s": {"first_1000": round(rate_a, 1), "due": round(rate_b, 1), "rest": round(rate_c, 1)},
        },
        "due_instants": {"spread_s": round(due_last - due_first, 3), "densest_1s_window": int(densest or 0)},
        "lateness_recorded_at": lateness,
        "lateness_event_at": stats([r["at_late"] for r in rows]),
        "overdue_events": {"recorded": len(rows), "missing": missing, "far_cases_overdue": int(far_overdue)},
        "burst_s": round(burst_s, 1),
        "worker": {
            "max_cached_workflows": worker_cache_size(),
            "rss_mib_idle_empty": round(rss_empty, 1),
            "first_open": first,
            "rss_mib_idle_first_open": round(rss_1k, 1),
            "rss_mib_idle_all_open": round(rss_all, 1),
            "rss_ratio_all_vs_first": round(rss_ratio, 3),
            "rss_mib_peak_burst": round(peak_rss, 1),
            "rss_mib_idle_after_burst": round(rss_after, 1),
            "cpu_percent_peak_burst": round(peak_cpu, 1),
            "rss_mib_while_opening": rss_curve,
        },
        "temporal_db": {
            "bytes_empty": db_empty,
            "bytes_first_open": db_1k,
            "bytes_all_open": db_all,
            "bytes_per_open_case": round(db_growth / open_cases) if open_cases else None,
            "bytes_per_open_case_first": round((sum(db_1k.values()) - sum(db_empty.values())) / first),
        },
        "targets": [
            target("p99 lateness of the overdue event (s)", lateness["p99_s"], "<=", LATENESS_TARGET_S),
            target("overdue events missing after the watch", missing, "<=", 0),
            target(f"worker RSS idle, {open_cases} open / {first} open", rss_ratio, "<=", RSS_GROWTH_LIMIT),
        ],
        "notes": notes,
    }


def report(result: dict[str, Any]) -> None:
    o, d, w, t = result["open_cases"], result["due_instants"], result["worker"], result["temporal_db"]
    lr, la = result["lateness_recorded_at"], result["lateness_event_at"]
    print(f"\n== {NAME}: deadline precision at scale ==")
    if result.get("temporal_config_extra"):
        print(f"dev server tuning added for this run: {result['temporal_config_extra']}")
    print(
        f"open cases: {o['total']} ({o['far_deadlines']} with far deadlines + {o['due_at_once']} due at once), "
        f"opened in {o['creation_s']} s; cases/s {o['cases_per_s']}"
    )
    print(f"due instants: spread {d['spread_s']} s, densest 1-s window {d['densest_1s_window']}")
    print(
        "lateness, overdue event in the read model (recorded_at - ack_due_at): "
        f"p50 {lr['p50_s']} s  p99 {lr['p99_s']} s  max {lr['max_s']} s"
    )
    print(
        "lateness, workflow clock when the timer fired (at - ack_due_at):      "
        f"p50 {la['p50_s']} s  p99 {la['p99_s']} s  max {la['max_s']} s"
    )
    print(f"overdue events: {result['overdue_events']}; burst {result['burst_s']} s from the first due instant")
    base = result.get("baseline_bare_timers")
    if base:
        bt, ba = base["timer_lateness"], base["activity_lateness"]
        print(
            f"baseline, {base['workflows']} bare timers at one instant: timer p50 {bt['p50_s']} s p99 {bt['p99_s']} s "
            f"max {bt['max_s']} s; its no-op activity p50 {ba['p50_s']} s p99 {ba['p99_s']} s max {ba['max_s']} s "
            f"(excluded, started late: {base['excluded_started_within_1s_of_due']})"
        )
        ratio = base.get("ratio_p99_recorded_vs_bare_activity")
        if ratio is not None:
            print(f"ratio of p99s, Casebridge's recorded overdue event / the bare activity: {ratio}")
    print(
        f"worker (max_cached_workflows={w['max_cached_workflows']}): RSS idle empty {w['rss_mib_idle_empty']} MiB, "
        f"{w['first_open']} open {w['rss_mib_idle_first_open']} MiB, {o['total']} open {w['rss_mib_idle_all_open']} "
        f"MiB (x{w['rss_ratio_all_vs_first']}), peak in burst {w['rss_mib_peak_burst']} MiB, "
        f"idle after {w['rss_mib_idle_after_burst']} MiB"
    )
    print(
        f"temporal.db + WAL: {t['bytes_per_open_case']} bytes per open case "
        f"({t['bytes_per_open_case_first']} over the first {w['first_open']}); with all open: {t['bytes_all_open']}"
    )
    curve = w["rss_mib_while_opening"]
    if curve:
        step = max(len(curve) // 12, 1)
        print("worker RSS while opening (cases: MiB): " + ", ".join(f"{n}: {m}" for n, m in curve[::step]))
    for note in result["notes"]:
        print(f"note: {note}")
    for item in result["targets"]:
        verdict = "PASS" if item["met"] else "MISS"
        print(f"{verdict}: {item['name']} = {item['value']} (target {item['op']} {item['threshold']})")


async def main(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="casebridge-bench-deadline-"))
    load_before = [round(x, 2) for x in os.getloadavg()]
    try:
        result = await run_benchmark(args, data_dir)
    finally:
        if getattr(args, "keep_data", False):
            say(f"kept {data_dir}")
        else:
            with contextlib.suppress(OSError):
                shutil.rmtree(data_dir)
    result["load_average"] = {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]}
    report(result)
    return result


if __name__ == "__main__":
    run_module(NAME, add_arguments, main, __doc__)
