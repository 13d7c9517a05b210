"""Read model at scale (issue 6, benchmark 3).

Against an embedded PostgreSQL only (no Temporal): migrate a fresh database with Alembic (as
`casebridge migrate` does), bulk-load cases with their assignments and events by COPY, and time the
hot lists through ``casebridge.db.queries.list_cases`` — the code the API runs, page and ``total``
count both — at each size:

- officer queue: no filter, newest first, 50 a page;
- department inbox: what a ``traffic`` user sees, status ``in_progress``;
- overdue filter;
- name search: a worker's name, and a common two-character word.

p50 / p99 over ``--rm-runs`` rounds (after warm-up; the probes take turns, so load from elsewhere
on a shared machine hits them alike) at each size, the statements' own times from SQLAlchemy's
cursor events (page vs count), and the ratio p99 at the largest size / p99 at the smallest
(target ≤ 2×). At the largest size every statement is shown with EXPLAIN (ANALYZE, BUFFERS), with
the parameters the application bound; ``pg_prepared_statements`` says how often PostgreSQL ran
each of the application's prepared statements with a generic plan, and where it did, the generic
plan is shown too. Then candidate query shapes are measured beside the current ones on the same
data, and list_cases again with ``plan_cache_mode=force_custom_plan`` on the connection, as
evidence for the recommendations (nothing in the application is changed).

The data: Chinese titles and descriptions built from a small vocabulary per category, worker names
from common surnames and given-name characters, the shipped policy's routing (plus 5 % routed to
one more department), three years of intake with older cases mostly closed, about 5 % of cases
overdue, and ``search_tokens`` from ``casebridge.db.search.tokens_for`` as the projection writes
them. Indexes other than constraints are dropped for each load and rebuilt from their own
definitions afterwards, then VACUUM ANALYZE (what autovacuum would have done on a live system).

Run alone: ``.venv/bin/python bench/read_model_scale.py [--large] [--rm-sizes 10000,100000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from common import percentile, run_module, target
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from casebridge.db import queries
from casebridge.db.migrate import upgrade_async
from casebridge.db.search import tokens_for
from casebridge.db.session import make_engine
from casebridge.devstack import free_port, start_postgres
from casebridge.policy_source import load_policy
from casebridge.settings import DEFAULT_POLICY

NAME = "read_model_scale"
RATIO_TARGET = 2.0
CHUNK = 20_000  # cases generated and copied at a time
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # fixed, so every run loads the same data
SPAN_DAYS = 3 * 365
ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # as the API's case ids


@dataclass(frozen=True)
class Probe:
    key: str
    label: str
    filters: queries.CaseFilter


PROBES = [
    Probe("officer_queue", "officer queue (no filter)", queries.CaseFilter()),
    Probe(
        "department_inbox",
        "department inbox (traffic, in_progress)",
        queries.CaseFilter(status="in_progress", visible_to_department="traffic"),
    ),
    Probe("overdue", "overdue filter", queries.CaseFilter(overdue=True)),
    Probe("name_search", "name search q=杨书", queries.CaseFilter(q="杨书")),
    Probe("word_search", "word search q=工资", queries.CaseFilter(q="工资")),
]


def say(message: str) -> None:
    print(f"[{NAME}] {message}", flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(f"{NAME} (issue 6, item 3)")
    group.add_argument(
        "--rm-sizes", default=None, help="case counts, comma-separated (default 10000,100000; --large adds 1000000)"
    )
    group.add_argument("--rm-runs", type=int, default=50, help="timed runs per query and size (default 50)")
    group.add_argument("--rm-no-fixes", action="store_true", help="skip measuring the candidate query shapes")


# --- realistic data ----------------------------------------------------------------------------

# Common surnames with rough weights, and given-name characters.
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田"
SURNAME_WEIGHTS = [
    72,
    70,
    66,
    54,
    46,
    31,
    25,
    20,
    20,
    19,
    15,
    15,
    12,
    12,
    11,
    11,
    10,
    10,
    9,
    9,
    8,
    8,
    7,
    6,
    6,
    6,
    5,
    5,
    5,
    5,
    4,
    4,
    4,
    4,
]
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰书春建国志红文辉力鹏飞海波宁欣雪琳浩宇晨")
OCCUPATIONS = {
    "外卖骑手": ["美团", "饿了么"],
    "快递员": ["顺丰", "中通", "圆通", "京东物流"],
    "网约车司机": ["滴滴出行", "曹操出行", "T3出行"],
    "货车司机": ["货拉拉", "满帮"],
    "卡车司机": ["满帮", "运满满"],
}
CITIES = ["朝阳", "海淀", "天河", "南山", "武侯", "江汉", "鼓楼", "西湖", "雨花", "历下"]
# code: (weight, title templates, description sentences)
CATEGORIES: dict[str, tuple[int, list[str], list[str]]] = {
    "wage_arrears": (
        35,
        ["{occ}{n}个月工资未发", "{occ}被拖欠工资{amount}元", "站点关停后工资无人结算", "{platform}代理商拖欠骑手工资"],
        [
            "{name}自{when}起在{station}从事{occ}工作，工资一直由站点代发。",
            "站点负责人以平台未结算为由拒绝支付工资。",
            "{name}要求支付拖欠的工资{amount}元。",
            "同站点还有多名{occ}的工资未发。",
        ],
    ),
    "work_injury": (
        12,
        ["{occ}送件途中受伤，工伤认定无进展", "{occ}摔伤后平台拒绝赔付", "配送途中骨折，医疗费无人承担"],
        [
            "{name}在配送途中摔倒受伤，住院治疗。",
            "站点称{name}为众包人员，不属于工伤。",
            "{name}申请职业伤害保障待遇，至今没有结果。",
            "医疗费已花费{amount}元。",
        ],
    ),
    "traffic_accident": (
        15,
        ["{occ}交通事故责任认定有争议", "配送途中被撞，对方逃逸", "网约车被追尾，责任认定迟迟未出"],
        [
            "{when}{name}驾驶车辆在{city}区路口与一辆轿车相撞。",
            "事故责任认定书至今未出具。",
            "{name}无法申请工伤认定，也无法向保险公司索赔。",
            "对方车辆驶离现场，监控录像需要调取。",
        ],
    ),
    "social_insurance": (
        10,
        ["{occ}社保断缴", "平台未缴纳职业伤害保障", "社保缴费基数与工资不符"],
        [
            "{name}发现{when}起社保被停缴。",
            "{platform}合作商未按规定缴纳社会保险。",
            "{name}要求补缴社会保险并依法处理。",
        ],
    ),
    "labor_relation": (
        10,
        ["{occ}劳动关系确认纠纷", "站点以众包为由否认劳动关系", "被迫注册个体工商户后解除合作"],
        [
            "{name}每天按排班在{station}上线，接受站长管理。",
            "站点要求{name}注册个体工商户，否认劳动关系。",
            "{name}请求确认与合作商之间存在劳动关系。",
        ],
    ),
    "platform_rules": (
        8,
        ["{occ}被平台无故封号", "超时罚款规则不合理", "派单算法导致收入骤降"],
        [
            "{platform}以异常行为为由封禁{name}的账号，申诉无果。",
            "平台超时罚款标准一年内调整三次。",
            "{name}认为平台规则不合理，要求说明依据。",
        ],
    ),
    "safety_hazard": (
        4,
        ["配送路段存在安全隐患", "站点电动车充电存在火灾隐患", "路口信号灯长期故障"],
        [
            "{city}区{station}附近路段没有非机动车道，骑手只能混行。",
            "站点内电动车集中充电，没有消防设施。",
            "{name}反映多名骑手在该路口发生事故。",
        ],
    ),
    "other": (
        6,
        ["{occ}其他权益诉求", "骑手驿站休息设施不足"],
        ["{name}反映{station}周边缺少休息场所。", "{name}希望有关部门协调解决。"],
    ),
}
WHEN = ["去年", "今年初", "上个月", "三月份", "年初", "去年底"]
PLATFORM_STATIONS = ["站", "配送站", "网点", "驿站"]


class DataGenerator:
    """Cases, assignments and events as the projection would have written them."""

    def __init__(self, seed: int = 3) -> None:
        self.rng = random.Random(seed)
        policy = load_policy(DEFAULT_POLICY)
        self.routing = {code: [c.lead, *c.assist] for code, c in policy.categories.items()}
        self.departments = sorted(policy.departments)
        self.category_codes = list(CATEGORIES)
        self.category_weights = [CATEGORIES[c][0] for c in self.category_codes]
        self.surnames = list(SURNAMES)
        self.surname_weights = SURNAME_WEIGHTS
        self.next_number = 0

    def _name(self) -> str:
        rng = self.rng
        given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.6 else "")
        return rng.choices(self.surnames, self.surname_weights)[0] + given

    def _status(self, age_days: float) -> str:
        r = self.rng.random()
        if age_days < 30:
            table = (("in_progress", 0.70), ("escalated", 0.05), ("resolved", 0.15), ("closed", 0.05))
        elif age_days < 180:
            table = (("in_progress", 0.35), ("escalated", 0.04), ("resolved", 0.15), ("closed", 0.40))
        else:
            table = (("in_progress", 0.08), ("escalated", 0.02), ("resolved", 0.05), ("closed", 0.78))
        for status, share in table:
            if r < share:
                return status
            r -= share
        return "withdrawn"

    def _channel(self) -> tuple[str, str | None]:
        r = self.rng.random()
        if r < 0.80:
            return "station", None
        prefix = "hotline" if r < 0.95 else "open311"
        return prefix, f"{prefix}-{self.next_number:09d}"

    def chunk(self, count: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        rng = self.rng
        cases, assignments, events = [], [], []
        for _ in range(count):
            self.next_number += 1
            case_id = "CB-" + "".join(rng.choice(ID_ALPHABET) for _ in range(10))
            category = rng.choices(self.category_codes, self.category_weights)[0]
            _, titles, sentences = CATEGORIES[category]
            occupation = rng.choice(list(OCCUPATIONS))
            platform = rng.choice(OCCUPATIONS[occupation])
            name = self._name()
            city = rng.choice(CITIES)
            station = f"{city}{rng.choice(PLATFORM_STATIONS)}"
            amount = rng.randrange(1_000, 80_000, 100)
            words = {
                "occ": occupation,
                "platform": platform,
                "name": name,
                "station": station,
                "city": city,
                "amount": amount,
                "n": rng.randint(1, 12),
                "when": rng.choice(WHEN),
            }
            title = rng.choice(titles).format(**words)
            description = "".join(s.format(**words) for s in rng.sample(sentences, rng.randint(2, len(sentences))))
            age_days = rng.random() * SPAN_DAYS
            created_at = NOW - timedelta(days=age_days)
            status = self._status(age_days)
            departments = list(self.routing[category])
            if rng.random() < 0.05:
                extra = rng.choice([d for d in self.departments if d not in departments] or departments)
                if extra not in departments:
                    departments.append(extra)
            is_open = status in ("in_progress", "escalated")
            overdue_chance = 0.1 if age_days < 30 else (0.3 if age_days < 180 else 0.4)
            overdue = is_open and rng.random() < overdue_chance
            updated_at = min(created_at + timedelta(days=rng.random() * min(age_days, 90)), NOW)
            due_at = created_at + timedelta(days=60) if is_open or status == "resolved" else None
            cases.append(
                (
                    case_id,
                    rng.randint(3, 12),
                    status,
                    category,
                    title,
                    description,
                    name,
                    f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}",
                    occupation,
                    platform,
                    station,
                    f"{platform}{city}合作商",
                    Decimal(amount) if category == "wage_arrears" else None,
                    Decimal(amount // 2) if status == "closed" and category == "wage_arrears" else None,
                    created_at,
                    updated_at,
                    due_at,
                    None,
                    sorted(departments),
                    overdue,
                    tokens_for(title, description, name),
                    *self._channel(),
                )
            )
            seq = 1
            events.append(
                self._event(
                    case_id,
                    seq,
                    "case.created",
                    created_at,
                    "officer",
                    {"category": category, "title": title, "worker_name": name},
                )
            )
            for index, department in enumerate(departments):
                role = "lead" if index == 0 else "assist"
                issued = created_at
                ack_due = issued + timedelta(days=1)
                a_due = issued + timedelta(days=60)
                done = status in ("resolved", "closed") or (is_open and rng.random() < 0.1)
                acked = done or (status != "withdrawn" and rng.random() < 0.7)
                a_status = "completed" if done else ("acknowledged" if acked else "pending_ack")
                a_overdue = overdue and index == 0
                acked_at = issued + timedelta(hours=rng.random() * 30) if acked else None
                done_at = min(issued + timedelta(days=rng.random() * 50), NOW) if done else None
                assignments.append(
                    (
                        case_id,
                        department,
                        role,
                        a_status,
                        issued,
                        ack_due,
                        a_due,
                        False,
                        False,
                        a_overdue,
                        False,
                        False,
                        False,
                        False,
                        0,
                        acked_at,
                        done_at,
                    )
                )
                seq += 1
                events.append(
                    self._event(
                        case_id, seq, "assignment.issued", issued, "officer", {"department": department, "role": role}
                    )
                )
                if acked_at is not None:
                    seq += 1
                    events.append(
                        self._event(
                            case_id, seq, "assignment.acknowledged", acked_at, department, {"department": department}
                        )
                    )
                if a_overdue:
                    seq += 1
                    events.append(
                        self._event(
                            case_id,
                            seq,
                            "assignment.overdue",
                            a_due,
                            "system",
                            {"department": department, "deadline": "resolve"},
                        )
                    )
                if done_at is not None:
                    seq += 1
                    events.append(
                        self._event(
                            case_id,
                            seq,
                            "assignment.completed",
                            done_at,
                            department,
                            {"department": department, "outcome": "已办结"},
                        )
                    )
            if status in ("resolved", "closed"):
                seq += 1
                events.append(self._event(case_id, seq, "case.resolved", updated_at, "officer", {"summary": "已解决"}))
            if status == "closed":
                seq += 1
                events.append(self._event(case_id, seq, "case.closed", updated_at, "officer", {"satisfied": True}))
        return cases, assignments, events

    @staticmethod
    def _event(case_id: str, seq: int, type_: str, at: datetime, actor: str, data: dict[str, Any]) -> tuple[Any, ...]:
        return (case_id, seq, type_, at, actor, json.dumps(data, ensure_ascii=False), at)


CASE_COLUMNS = [
    "id",
    "version",
    "status",
    "category",
    "title",
    "description",
    "worker_name",
    "worker_phone",
    "worker_occupation",
    "worker_platform",
    "station",
    "counterparty",
    "amount_claimed",
    "amount_recovered",
    "created_at",
    "updated_at",
    "due_at",
    "meeting_id",
    "departments",
    "overdue",
    "search_tokens",
    "channel",
    "external_id",
]
OPTIONAL_CASE_COLUMNS = ("channel", "external_id")  # migration 0003; left out where the schema lacks them
ASSIGNMENT_COLUMNS = [
    "case_id",
    "department",
    "role",
    "status",
    "issued_at",
    "ack_due_at",
    "due_at",
    "provisional",
    "warning",
    "overdue",
    "suspended",
    "supervised",
    "extension_requested",
    "suspension_requested",
    "returns",
    "acknowledged_at",
    "completed_at",
]
EVENT_COLUMNS = ["case_id", "seq", "type", "at", "actor", "data", "recorded_at"]
TABLES = ("cases", "assignments", "case_events")


async def load(conn: asyncpg.Connection, generator: DataGenerator, count: int) -> dict[str, float]:
    """Add ``count`` cases (with assignments and events) by COPY; rebuild indexes; VACUUM ANALYZE."""
    indexes = await conn.fetch(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.schemaname = 'public' AND i.tablename = ANY($1::text[])
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
        """,
        list(TABLES),
    )
    present = {
        r["column_name"]
        for r in await conn.fetch("SELECT column_name FROM information_schema.columns WHERE table_name = 'cases'")
    }
    keep = [i for i, c in enumerate(CASE_COLUMNS) if c in present or c not in OPTIONAL_CASE_COLUMNS]
    case_columns = [CASE_COLUMNS[i] for i in keep]
    timings = {"generate_s": 0.0, "copy_s": 0.0, "index_s": 0.0, "vacuum_s": 0.0}
    for row in indexes:
        await conn.execute(f'DROP INDEX "{row["indexname"]}"')
    done = 0
    while done < count:
        size = min(CHUNK, count - done)
        t0 = time.perf_counter()
        cases, assignments, events = generator.chunk(size)
        t1 = time.perf_counter()
        async with conn.transaction():
            if len(keep) < len(CASE_COLUMNS):
                cases = [tuple(row[i] for i in keep) for row in cases]
            await conn.copy_records_to_table("cases", records=cases, columns=case_columns)
            await conn.copy_records_to_table("assignments", records=assignments, columns=ASSIGNMENT_COLUMNS)
            await conn.copy_records_to_table("case_events", records=events, columns=EVENT_COLUMNS)
        timings["generate_s"] += t1 - t0
        timings["copy_s"] += time.perf_counter() - t1
        done += size
    t0 = time.perf_counter()
    await conn.execute("SET maintenance_work_mem = '256MB'")
    for row in indexes:
        await conn.execute(row["indexdef"])
    timings["index_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for table in TABLES:
        await conn.execute(f"VACUUM (ANALYZE) {table}")
    timings["vacuum_s"] = time.perf_counter() - t0
    return {k: round(v, 1) for k, v in timings.items()}


# --- timing through the application's queries --------------------------------------------------


class StatementClock:
    """Records each statement the engine runs and how long it took (SQLAlchemy cursor events)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.records: list[tuple[str, Any, float]] = []
        sync = engine.sync_engine
        event.listen(sync, "before_cursor_execute", self._before)
        event.listen(sync, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        context._bench_start = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        self.records.append((statement, parameters, time.perf_counter() - context._bench_start))

    def take(self) -> list[tuple[str, Any, float]]:
        records, self.records = self.records, []
        return records


def is_count(statement: str) -> bool:
    return statement.lstrip().upper().startswith("SELECT COUNT(")


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


async def time_probes(
    sessions: async_sessionmaker[Any], clock: StatementClock, runs: int, warmup: int = 3
) -> dict[str, dict[str, Any]]:
    """list_cases(filters, limit=50, offset=0) as the API calls it, one session per call. The probes
    take turns (round robin), so a burst of load from elsewhere on the machine hits them alike."""
    samples: dict[str, dict[str, list[float]]] = {p.key: {"total": [], "page": [], "count": []} for p in PROBES}
    statements: dict[str, dict[str, tuple[str, Any]]] = {p.key: {} for p in PROBES}
    matched: dict[str, int] = {}
    for index in range(warmup + runs):
        for probe in PROBES:
            clock.take()
            async with sessions() as session:
                t0 = time.perf_counter()
                matched[probe.key] = (await queries.list_cases(session, probe.filters, 50, 0)).total
                elapsed = time.perf_counter() - t0
            records = clock.take()
            if index < warmup:
                continue
            samples[probe.key]["total"].append(elapsed)
            for statement, parameters, seconds in records:
                kind = "count" if is_count(statement) else "page"
                samples[probe.key][kind].append(seconds)
                statements[probe.key][kind] = (statement, parameters)
    results: dict[str, dict[str, Any]] = {}
    for probe in PROBES:
        got = samples[probe.key]
        results[probe.key] = {
            "total_matches": matched[probe.key],
            "p50_ms": ms(percentile(got["total"], 50)),
            "p99_ms": ms(percentile(got["total"], 99)),
            "page_p50_ms": ms(percentile(got["page"], 50)),
            "page_p99_ms": ms(percentile(got["page"], 99)),
            "count_p50_ms": ms(percentile(got["count"], 50)),
            "count_p99_ms": ms(percentile(got["count"], 99)),
            "_statements": statements[probe.key],
        }
    return results


def normalise(statement: str) -> str:
    return re.sub(r"\s+", " ", statement).strip()


def sql_literal(value: Any) -> str:
    """A bound parameter written as a literal (EXECUTE takes no bind parameters)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return "ARRAY[" + ", ".join(map(sql_literal, value)) + "]"
    return "'" + str(value).replace("'", "''") + "'"


async def explain(conn: asyncpg.Connection, statement: str, parameters: Any, mode: str) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the statement as the application ran it: prepared, with the
    parameters it bound, under ``plan_cache_mode`` ``force_custom_plan`` or ``force_generic_plan``."""
    params = list(parameters or ())
    async with conn.transaction():
        await conn.execute(f"SET LOCAL plan_cache_mode = {mode}")
        await conn.execute(f"PREPARE bench_probe AS {statement}")
        try:
            execute = f"EXECUTE bench_probe({', '.join(map(sql_literal, params))})" if params else "EXECUTE bench_probe"
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {execute}")
        finally:
            await conn.execute("DEALLOCATE bench_probe")
    return "\n".join(r[0] for r in rows)


async def prepared_plan_modes(engine: AsyncEngine) -> dict[str, dict[str, int]]:
    """How PostgreSQL planned the application's prepared statements on the timing connection
    (asyncpg prepares and caches every statement; after five runs PostgreSQL may keep a generic plan)."""
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: asyncpg.Connection = raw.driver_connection
        rows = await driver.fetch("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
    return {normalise(r["statement"]): {"generic": r["generic_plans"], "custom": r["custom_plans"]} for r in rows}


def plan_flags(plan: str) -> list[str]:
    """Plain-words flags for a plan: what makes it grow with the table."""
    flags = []
    if re.search(r"Seq Scan on cases", plan):
        flags.append("sequential scan of cases")
    for match in re.finditer(r"Aggregate.*?actual time=[\d.]+\.\.([\d.]+) rows=1", plan):
        flags.append(f"count aggregate took {float(match.group(1)):.1f} ms")
    for match in re.finditer(r"(Bitmap Heap Scan|Index Only Scan using \w+|Seq Scan) on cases.*?rows=(\d+)", plan):
        if int(match.group(2)) > 1000:
            flags.append(f"{match.group(1)} produced {match.group(2)} rows")
    for match in re.finditer(r"Rows Removed by (Filter|Index Recheck): (\d+)", plan):
        if int(match.group(2)) > 1000:
            flags.append(f"{match.group(2)} rows removed by {match.group(1).lower()}")
    if "Incremental Sort" in plan:
        flags.append("incremental sort on the presorted created_at")
    elif "top-N heapsort" in plan:
        flags.append("top-N sort of every match")
    return flags


# --- candidate shapes, measured beside the current ones on the same data ------------------------

CAP = 1000
WORD = "(title ILIKE '%工资%' OR description ILIKE '%工资%' OR worker_name ILIKE '%工资%')"


@dataclass(frozen=True)
class Candidate:
    probe: str
    shape: str
    sql: str


CANDIDATES = [
    Candidate(
        "officer_queue",
        "total from the planner's estimate (pg_class.reltuples)",
        "SELECT reltuples::bigint FROM pg_class WHERE oid = 'cases'::regclass",
    ),
    Candidate(
        "officer_queue",
        f"total capped at {CAP} ('{CAP}+' beyond)",
        f"SELECT count(*) FROM (SELECT 1 FROM cases LIMIT {CAP + 1}) s",
    ),
    Candidate(
        "department_inbox",
        f"total capped at {CAP}",
        f"SELECT count(*) FROM (SELECT 1 FROM cases WHERE status = 'in_progress' "
        f"AND departments @> ARRAY['traffic']::varchar(50)[] LIMIT {CAP + 1}) s",
    ),
    Candidate(
        "department_inbox",
        f"total capped at {CAP}, walking (status, created_at) in page order",
        f"SELECT count(*) FROM (SELECT 1 FROM cases WHERE status = 'in_progress' "
        f"AND departments @> ARRAY['traffic']::varchar(50)[] ORDER BY created_at DESC LIMIT {CAP + 1}) s",
    ),
    Candidate(
        "overdue", "total as the app asks it (overdue IS true)", "SELECT count(*) FROM cases WHERE overdue IS true"
    ),
    Candidate(
        "overdue",
        "total with WHERE overdue (the partial index's own predicate)",
        "SELECT count(*) FROM cases WHERE overdue",
    ),
    Candidate(
        "overdue",
        f"total capped at {CAP}, WHERE overdue",
        f"SELECT count(*) FROM (SELECT 1 FROM cases WHERE overdue LIMIT {CAP + 1}) s",
    ),
    Candidate(
        "overdue",
        "page with WHERE overdue",
        "SELECT id FROM cases WHERE overdue ORDER BY created_at DESC, id DESC LIMIT 50",
    ),
    Candidate(
        "word_search",
        f"total capped at {CAP}",
        f"SELECT count(*) FROM (SELECT 1 FROM cases WHERE search_tokens @> ARRAY['工资'] AND {WORD} LIMIT {CAP + 1}) s",
    ),
    Candidate(
        "word_search",
        f"total capped at {CAP}, walking created_at in page order",
        f"SELECT count(*) FROM (SELECT 1 FROM cases WHERE search_tokens @> ARRAY['工资'] AND {WORD} "
        f"ORDER BY created_at DESC LIMIT {CAP + 1}) s",
    ),
    Candidate(
        "name_search",
        f"total capped at {CAP}",
        "SELECT count(*) FROM (SELECT 1 FROM cases WHERE search_tokens @> ARRAY['杨书'] AND (title ILIKE "
        f"'%杨书%' OR description ILIKE '%杨书%' OR worker_name ILIKE '%杨书%') LIMIT {CAP + 1}) s",
    ),
]


async def measure_candidates(conn: asyncpg.Connection, runs: int) -> list[dict[str, Any]]:
    results = []
    for candidate in CANDIDATES:
        for _ in range(3):
            await conn.fetch(candidate.sql)
        times = []
        rows: list[Any] = []
        for _ in range(runs):
            t0 = time.perf_counter()
            rows = await conn.fetch(candidate.sql)
            times.append(time.perf_counter() - t0)
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + candidate.sql))
        results.append(
            {
                "probe": candidate.probe,
                "shape": candidate.shape,
                "sql": candidate.sql,
                "result": rows[0][0] if len(rows) == 1 else len(rows),
                "p50_ms": ms(percentile(times, 50)),
                "p99_ms": ms(percentile(times, 99)),
                "plan": plan,
            }
        )
    return results


async def custom_plans_only(url: str, runs: int) -> dict[str, Any]:
    """The same list_cases calls on an engine whose connections never keep a generic plan."""
    engine = create_async_engine(
        url,
        pool_size=1,
        max_overflow=1,
        pool_pre_ping=True,
        connect_args={"server_settings": {"plan_cache_mode": "force_custom_plan"}},
    )
    try:
        clock = StatementClock(engine)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        results = await time_probes(sessions, clock, runs)
        for timing in results.values():
            timing.pop("_statements")
        return results
    finally:
        await engine.dispose()


# --- the benchmark -----------------------------------------------------------------------------


def quotient(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


def sizes_for(args: argparse.Namespace) -> list[int]:
    if args.rm_sizes:
        return sorted({int(s.replace("_", "")) for s in args.rm_sizes.split(",") if s.strip()})
    return [10_000, 100_000, 1_000_000] if getattr(args, "large", False) else [10_000, 100_000]


async def run_benchmark(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    sizes = sizes_for(args)
    say(f"data dir {data_dir}; starting PostgreSQL; sizes {sizes}")
    pg = await asyncio.to_thread(start_postgres, data_dir, free_port())
    try:
        await upgrade_async(pg.url)
        conn = await asyncpg.connect(pg.dsn())
        # One connection: the prepared statements (and their plan modes) are those the timings used.
        engine = make_engine(pg.url, pool_size=1)
        try:
            return await measure(args, sizes, conn, engine, pg.url)
        finally:
            await engine.dispose()
            await conn.close()
    finally:
        pg.stop(timeout=60)


async def measure(
    args: argparse.Namespace, sizes: list[int], conn: asyncpg.Connection, engine: AsyncEngine, url: str
) -> dict[str, Any]:
    clock = StatementClock(engine)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    generator = DataGenerator()
    per_size: dict[int, dict[str, Any]] = {}
    statements: dict[str, dict[str, tuple[str, Any]]] = {}
    loaded = 0
    for size in sizes:
        t0 = time.perf_counter()
        load_timings = await load(conn, generator, size - loaded)
        loaded = size
        counts = {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in TABLES}
        table_mb = {
            t: round(int(await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", t)) / 2**20, 1)
            for t in TABLES
        }
        share = await conn.fetchrow(
            "SELECT avg(overdue::int)::float AS overdue, "
            "avg((status = 'in_progress' AND departments @> ARRAY['traffic']::varchar[])::int)::float AS inbox "
            "FROM cases"
        )
        say(f"{size} cases loaded in {time.perf_counter() - t0:.0f} s {load_timings}; rows {counts}; MiB {table_mb}")
        results = await time_probes(sessions, clock, args.rm_runs)
        for probe in PROBES:
            timing = results[probe.key]
            statements[probe.key] = timing.pop("_statements")
            say(
                f"  {size:>9} {probe.label:<40} total={timing['total_matches']:<7} p50 {timing['p50_ms']:>7} ms "
                f"p99 {timing['p99_ms']:>7} ms (page p50 {timing['page_p50_ms']}, count p50 {timing['count_p50_ms']})"
            )
        per_size[size] = {
            "rows": counts,
            "table_mib": table_mb,
            "overdue_share": round(share["overdue"], 4),
            "inbox_share": round(share["inbox"], 4),
            "load_s": load_timings,
            "queries": results,
        }

    largest, smallest = sizes[-1], sizes[0]
    modes = await prepared_plan_modes(engine)
    plans: dict[str, dict[str, Any]] = {}
    seq_scans = 0
    for probe in PROBES:
        plans[probe.key] = {}
        for kind, (statement, parameters) in sorted(statements[probe.key].items(), reverse=True):
            used = modes.get(normalise(statement))
            item: dict[str, Any] = {
                "sql": normalise(statement),
                "parameters": [str(p) for p in (parameters or ())],
                "plan_modes_used": used,
            }
            item["plan"] = await explain(conn, statement, parameters, "force_custom_plan")
            item["flags"] = plan_flags(item["plan"])
            if used and used["generic"]:
                item["generic_plan"] = await explain(conn, statement, parameters, "force_generic_plan")
                item["generic_flags"] = plan_flags(item["generic_plan"])
            seq_scans += any("sequential scan" in f for f in item["flags"] + item.get("generic_flags", []))
            plans[probe.key][kind] = item
    candidates = [] if args.rm_no_fixes else await measure_candidates(conn, max(args.rm_runs // 2, 10))
    custom_only = {} if args.rm_no_fixes else await custom_plans_only(url, args.rm_runs)

    ratios: dict[str, Any] = {}
    targets = []
    for probe in PROBES:
        small = per_size[smallest]["queries"][probe.key]
        large = per_size[largest]["queries"][probe.key]
        ratio = large["p99_ms"] / small["p99_ms"] if small["p99_ms"] else math.nan
        ratios[probe.key] = {
            "p99_ms_smallest": small["p99_ms"],
            "p99_ms_largest": large["p99_ms"],
            "ratio_p99": round(ratio, 2),
            "ratio_p50": quotient(large["p50_ms"], small["p50_ms"]),
            "page_ratio_p50": quotient(large["page_p50_ms"], small["page_p50_ms"]),
            "count_ratio_p50": quotient(large["count_p50_ms"], small["count_p50_ms"]),
        }
        targets.append(target(f"{probe.key}: p99 at {largest} / p99 at {smallest}", ratio, "<=", RATIO_TARGET))
    targets.append(target(f"hot statements with a sequential scan of cases at {largest}", seq_scans, "<=", 0))
    return {
        "name": NAME,
        "sizes": sizes,
        "per_size": {str(k): v for k, v in per_size.items()},
        "ratios": ratios,
        "explain_at_largest": plans,
        "candidate_shapes_at_largest": candidates,
        "custom_plans_only_at_largest": custom_only,
        "postgres": {
            "version": await conn.fetchval("SHOW server_version"),
            "shared_buffers": await conn.fetchval("SHOW shared_buffers"),
            "work_mem": await conn.fetchval("SHOW work_mem"),
        },
        "targets": targets,
    }


def report(result: dict[str, Any]) -> None:
    sizes = result["sizes"]
    largest = sizes[-1]
    print(
        f"\n== {NAME}: read model at scale (PostgreSQL {result['postgres']['version']}, "
        f"shared_buffers {result['postgres']['shared_buffers']}) =="
    )
    heading = "list_cases (page + total), ms".ljust(44) + "".join(f"{f'{s} p50 / p99':>24}" for s in sizes)
    print(f"{heading}   ratio p99 (p50)")
    for probe in PROBES:
        cells = "".join(
            f"{result['per_size'][str(s)]['queries'][probe.key]['p50_ms']:>12} / "
            f"{result['per_size'][str(s)]['queries'][probe.key]['p99_ms']:<9}"
            for s in sizes
        )
        r = result["ratios"][probe.key]
        print(f"{probe.label:<44}{cells}   {r['ratio_p99']:>6}x ({r['ratio_p50']}x)")
    print(f"\nstatements at {largest} (p50 ms; matches = the total the count returns):")
    for probe in PROBES:
        q = result["per_size"][str(largest)]["queries"][probe.key]
        r = result["ratios"][probe.key]
        print(
            f"  {probe.label:<42} page {q['page_p50_ms']:>8} (x{r['page_ratio_p50']})  "
            f"count {q['count_p50_ms']:>8} (x{r['count_ratio_p50']})  matches {q['total_matches']}"
        )
    print(f"\n-- EXPLAIN (ANALYZE, BUFFERS) at {largest} cases, as the application bound them --")
    for probe in PROBES:
        for kind, item in result["explain_at_largest"][probe.key].items():
            modes = item["plan_modes_used"]
            used = f"generic {modes['generic']} / custom {modes['custom']} executions" if modes else "?"
            print(f"\n# {probe.label} — {kind}; parameters {item['parameters']}; plans used: {used}")
            print(item["sql"])
            print(item["plan"])
            if item["flags"]:
                print("  => " + "; ".join(item["flags"]))
            if "generic_plan" in item:
                print("  the GENERIC plan PostgreSQL switched this prepared statement to, run with the same values:")
                print("  " + item["generic_plan"].replace("\n", "\n  "))
                if item["generic_flags"]:
                    print("  => " + "; ".join(item["generic_flags"]))
    if result["candidate_shapes_at_largest"]:
        print(f"\n-- candidate shapes at {largest} cases (measured here; the application is unchanged) --")
        for c in result["candidate_shapes_at_largest"]:
            print(
                f"  {c['probe']:<17} {c['shape']:<62} p50 {c['p50_ms']:>8} ms  p99 {c['p99_ms']:>8} ms -> {c['result']}"
            )
        print("\n  their plans:")
        for c in result["candidate_shapes_at_largest"]:
            print(f"\n  # {c['probe']}: {c['shape']}\n  {c['sql']}\n  " + c["plan"].replace("\n", "\n  "))
    if result["custom_plans_only_at_largest"]:
        print(f"\n-- list_cases at {largest} with plan_cache_mode=force_custom_plan on the connection --")
        for probe in PROBES:
            q = result["custom_plans_only_at_largest"][probe.key]
            now = result["per_size"][str(largest)]["queries"][probe.key]
            print(
                f"  {probe.label:<42} p50 {q['p50_ms']:>8} ms  p99 {q['p99_ms']:>8} ms  (page p50 {q['page_p50_ms']}, "
                f"count p50 {q['count_p50_ms']}; as shipped: p50 {now['p50_ms']} / p99 {now['p99_ms']})"
            )
    print()
    for item in result["targets"]:
        verdict = "PASS" if item["met"] else "MISS"
        print(f"{verdict}: {item['name']} = {item['value']} (target {item['op']} {item['threshold']})")


async def main(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="casebridge-bench-readmodel-"))
    keep = bool(getattr(args, "keep_data", False))
    load_before = [round(x, 2) for x in os.getloadavg()]
    try:
        result = await run_benchmark(args, data_dir)
    finally:
        if keep:
            say(f"kept {data_dir}")
        else:
            with contextlib.suppress(OSError):
                shutil.rmtree(data_dir)
    result["load_average"] = {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]}
    report(result)
    return result


if __name__ == "__main__":
    run_module(NAME, add_arguments, main, __doc__)
