"""Sustained load (issue 6, benchmark 4): simulated users working through the API for a fixed time.

``--users`` users (default 8) share the demo accounts: about 3 in 8 are officers, the rest are
departments (hrss, justice, traffic, hrss, justice, ...). Every user loops without think time:

  officer     GET its queue (resolved; in progress). Records the worker's feedback on a resolved
              case (nine in ten satisfied: closed; else reopened), else resolves a case whose
              assignments are all completed, else takes in a new case while fewer than
              ``--backlog`` cases are in progress (so the work stays within one page of the queue).
              Officers follow up their own share of the cases (by case id), as people do.
  department  GET its inbox (?department=X&status=in_progress) and acknowledges or completes one
              of its own open assignments, picked at random.

Two department users of one account can pick the same assignment: one of them gets 409, which
the scenario expects. Anything else that is not 2xx is an error. Reported per action: count, rate, p50/p99,
and every status that was not 2xx (409s with their reasons). Operations that start during the
first ``--warmup`` seconds are not counted. Target: no error other than those 409s.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from common import (
    BenchStack,
    CpuMeter,
    Profiler,
    bench_stack,
    environment,
    print_table,
    print_targets,
    run_module,
    summarize,
    target,
)

NAME = "sustained_load"
DEPARTMENTS = ("hrss", "justice", "traffic")
OPEN_ASSIGNMENT = ("pending_ack", "acknowledged")
# Category mix of new cases (default policy): who leads and assists differs, so every inbox fills.
CATEGORIES = {
    "wage_arrears": 4,  # hrss + justice
    "traffic_accident": 2,  # traffic + hrss
    "social_insurance": 2,  # hrss
    "safety_hazard": 1,  # traffic
    "work_injury": 1,  # hrss + justice
}
IDLE_PAUSE = 0.2  # seconds a user waits when there is nothing to do


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(NAME)
    group.add_argument("--users", type=int, default=None, help="simulated users (default 8; --large 24)")
    group.add_argument("--duration", type=float, default=None, help="measured seconds (default 60; --large 180)")
    group.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
    group.add_argument("--backlog", type=int, default=None, help="officers create while fewer are open (4 x users)")
    group.add_argument("--seed", type=int, default=6, help="random seed of the users' choices")


@dataclass
class Recorder:
    measuring_from: float
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    conflicts: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    idle: Counter[str] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)

    async def call(
        self, http: httpx.AsyncClient, action: str, method: str, url: str, **kwargs: Any
    ) -> httpx.Response | None:
        began = time.perf_counter()
        try:
            response = await http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            if began >= self.measuring_from:
                self.transport_errors[f"{action}: {type(exc).__name__}"] += 1
            return None
        if began >= self.measuring_from:
            self.latencies[action].append(time.perf_counter() - began)
            self.statuses[action][response.status_code] += 1
            if response.status_code == 409:
                self.conflicts[action][_reason(response)] += 1
        return response


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:120]
    return str(body.get("detail_en") or body.get("detail"))[:120]


def case_body(rng: random.Random, index: int) -> dict[str, Any]:
    category = rng.choices(list(CATEGORIES), weights=list(CATEGORIES.values()))[0]
    return {
        "worker": {"name": f"司机{index}", "phone": f"138{rng.randrange(10**8):08d}", "occupation": "网约车司机"},
        "category": category,
        "title": f"持续负载个案 {index}",
        "description": "平台单方面调整抽成比例并扣除保证金，司机要求退还。",
        "counterparty": "某出行平台",
        "amount_claimed": f"{rng.randrange(1000, 50000)}",
    }


class Scenario:
    def __init__(self, http: httpx.AsyncClient, recorder: Recorder, backlog: int, stop_at: float, seed: int) -> None:
        self.http = http
        self.recorder = recorder
        self.backlog = backlog
        self.stop_at = stop_at
        self.seed = seed
        self.created = 0

    def running(self) -> bool:
        return time.perf_counter() < self.stop_at

    async def officer(self, user: int, share: int, officers: int, headers: dict[str, str]) -> None:
        rng = random.Random(self.seed * 1000 + user)
        call = self.recorder.call

        def mine(case: dict[str, Any]) -> bool:
            return zlib.crc32(case["id"].encode()) % officers == share

        while self.running():
            response = await call(
                self.http, "list resolved", "GET", "/api/v1/cases", params={"status": "resolved"}, headers=headers
            )
            ok = response is not None and response.status_code == 200
            resolved = [c for c in response.json()["items"] if mine(c)] if response is not None and ok else []
            if resolved:
                case = rng.choice(resolved)
                satisfied = rng.random() < 0.9
                body = {"satisfied": satisfied, "comment": "满意" if satisfied else "款项未全部到账"}
                await call(
                    self.http, "feedback", "POST", f"/api/v1/cases/{case['id']}/feedback", json=body, headers=headers
                )
                continue
            response = await call(
                self.http,
                "list queue",
                "GET",
                "/api/v1/cases",
                params={"status": "in_progress", "limit": 200},
                headers=headers,
            )
            if response is None or response.status_code != 200:
                await asyncio.sleep(IDLE_PAUSE)
                continue
            page = response.json()
            ready = [
                c
                for c in page["items"]
                if mine(c) and c["assignments"] and all(a["status"] not in OPEN_ASSIGNMENT for a in c["assignments"])
            ]
            if ready:
                case = rng.choice(ready)
                body = {"summary": "经协调，平台已退还保证金", "amount_recovered": "1200"}
                await call(
                    self.http, "resolve", "POST", f"/api/v1/cases/{case['id']}/resolve", json=body, headers=headers
                )
            elif page["total"] < self.backlog:
                self.created += 1
                body = case_body(rng, self.created)
                await call(self.http, "create", "POST", "/api/v1/cases", json=body, headers=headers)
            else:
                self.recorder.idle["officer"] += 1
                await asyncio.sleep(IDLE_PAUSE)

    async def department(self, user: int, department: str, headers: dict[str, str]) -> None:
        rng = random.Random(self.seed * 1000 + user)
        call = self.recorder.call
        params = {"department": department, "status": "in_progress", "limit": 200}
        while self.running():
            response = await call(self.http, "list inbox", "GET", "/api/v1/cases", params=params, headers=headers)
            if response is None or response.status_code != 200:
                await asyncio.sleep(IDLE_PAUSE)
                continue
            work = [
                (case["id"], a["status"])
                for case in response.json()["items"]
                for a in case["assignments"]
                if a["department"] == department and a["status"] in OPEN_ASSIGNMENT
            ]
            if not work:
                self.recorder.idle[department] += 1
                await asyncio.sleep(IDLE_PAUSE)
                continue
            case_id, status = rng.choice(work)
            base = f"/api/v1/cases/{case_id}/assignments/{department}"
            if status == "pending_ack":
                await call(self.http, "acknowledge", "POST", f"{base}/acknowledge", headers=headers)
            else:
                body = {"outcome": "已核实并督促平台整改"}
                await call(self.http, "complete", "POST", f"{base}/complete", json=body, headers=headers)


def roles(users: int) -> list[str]:
    """About 3 in 8 officers (at least one), the rest departments in turn."""
    officers = max(1, round(users * 3 / 8))
    return ["officer"] * officers + [DEPARTMENTS[i % len(DEPARTMENTS)] for i in range(users - officers)]


async def run_load(stack: BenchStack, args: argparse.Namespace, users: int, duration: float) -> dict[str, Any]:
    backlog = args.backlog or 4 * users
    cast = roles(users)
    async with stack.http_client(users + 4) as http:
        tokens = {name: await stack.login(http, name) for name in set(cast)}
        began = time.perf_counter()
        recorder = Recorder(measuring_from=began + args.warmup)
        scenario = Scenario(http, recorder, backlog, began + args.warmup + duration, args.seed)
        tasks = []
        officers = cast.count("officer")
        for user, role in enumerate(cast):
            if role == "officer":
                tasks.append(scenario.officer(user, user, officers, tokens[role]))
            else:
                tasks.append(scenario.department(user, role, tokens[role]))
        print(
            f"[load] {users} users ({Counter(cast)}) for {args.warmup:.0f}s warm-up + {duration:.0f}s ...", flush=True
        )
        meter = CpuMeter(stack.pids())

        async def measure_cpu() -> None:
            await asyncio.sleep(args.warmup)
            meter.start()

        cpu_task = asyncio.create_task(measure_cpu())
        with Profiler(args.py_spy, stack, "load").phase("run"):
            await asyncio.gather(*tasks)
        await cpu_task
        meter.stop()
        measured = time.perf_counter() - recorder.measuring_from
        final = await http.get("/api/v1/cases", params={"limit": 1}, headers=tokens["officer"])
        by_status = {}
        for status in ("in_progress", "resolved", "closed"):
            response = await http.get("/api/v1/cases", params={"status": status, "limit": 1}, headers=tokens["officer"])
            by_status[status] = response.json()["total"]
    return {
        "users": users,
        "roles": dict(Counter(cast)),
        "backlog": backlog,
        "measured_s": round(measured, 2),
        "recorder": recorder,
        "cpu_seconds": meter.result,
        "cases_total": final.json()["total"],
        "cases_by_status": by_status,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    users = args.users or (24 if args.large else 8)
    duration = args.duration or (180.0 if args.large else 60.0)
    began = time.monotonic()
    async with bench_stack("load", keep=args.keep_data, temporal_config=args.temporal_config) as stack:
        outcome = await run_load(stack, args, users, duration)
    recorder: Recorder = outcome.pop("recorder")
    measured = outcome["measured_s"]

    actions: dict[str, Any] = {}
    rows = []
    writes = 0
    for action in (
        "create",
        "acknowledge",
        "complete",
        "resolve",
        "feedback",
        "list queue",
        "list resolved",
        "list inbox",
    ):
        statuses = recorder.statuses.get(action, Counter())
        ok = sum(n for code, n in statuses.items() if 200 <= code < 300)
        summary = summarize(recorder.latencies.get(action, []))
        not_2xx = {str(code): n for code, n in sorted(statuses.items()) if not 200 <= code < 300}
        actions[action] = {"ok": ok, "per_s": round(ok / measured, 2), "latency": summary, "not_2xx": not_2xx}
        if not action.startswith("list"):
            writes += ok
        rows.append(
            {
                "action": action,
                "ok": ok,
                "per_s": round(ok / measured, 2),
                "p50_ms": summary.get("p50_ms", ""),
                "p99_ms": summary.get("p99_ms", ""),
                "max_ms": summary.get("max_ms", ""),
                "not 2xx": ", ".join(f"{code}: {n}" for code, n in not_2xx.items()) or "-",
            }
        )
    print_table(f"Sustained load: {users} users {outcome['roles']}, {measured:.0f}s measured", rows)
    conflicts = [
        {"action": action, "409 reason": reason, "count": n}
        for action, reasons in recorder.conflicts.items()
        for reason, n in reasons.most_common()
    ]
    print_table("409s (expected: two users of one account acting on the same case)", conflicts)
    unexpected = {
        f"{action} {code}": n
        for action, statuses in recorder.statuses.items()
        for code, n in statuses.items()
        if not 200 <= code < 300 and code != 409
    }
    unexpected.update(recorder.transport_errors)
    if unexpected:
        print_table("Unexpected errors", [{"what": k, "count": v} for k, v in unexpected.items()])
    cpu = outcome["cpu_seconds"]
    wall = cpu.get("wall") or measured
    print_table(
        "CPU use while measuring (share of one core)",
        [{name: f"{100 * seconds / wall:.0f}%" for name, seconds in cpu.items() if name != "wall"}],
    )
    print(
        f"\nwrites completed: {writes} ({writes / measured:.2f}/s); cases at the end: {outcome['cases_by_status']}; "
        f"idle polls: {dict(recorder.idle)}"
    )
    targets = [target("errors other than the expected 409s", float(sum(unexpected.values())), "<=", 0)]
    print_targets(targets)
    return {
        "name": NAME,
        "seconds": round(time.monotonic() - began, 1),
        "parameters": {
            "users": users,
            "duration_s": duration,
            "warmup_s": args.warmup,
            "backlog": outcome["backlog"],
            "seed": args.seed,
            "temporal_config": args.temporal_config,
        },
        "summary": rows,
        "actions": actions,
        "writes_per_s": round(writes / measured, 2),
        "conflicts": conflicts,
        "unexpected_errors": unexpected,
        "idle_polls": dict(recorder.idle),
        "cpu_share_of_one_core": {name: round(seconds / wall, 3) for name, seconds in cpu.items() if name != "wall"},
        "outcome": outcome,
        "targets": targets,
        "environment": environment(),
    }


if __name__ == "__main__":
    run_module(NAME, add_arguments, main, __doc__)
