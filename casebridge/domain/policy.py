"""The routing and deadline policy: which departments own a category, and their clocks.

``parse_policy`` is pure (it takes the already-read TOML mapping); ``casebridge.policy_source``
reads the file. Every problem names the file, the key and what is wrong, so a bad policy stops
start-up with a message an operator can act on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from casebridge.domain.durations import parse_duration
from casebridge.domain.errors import InvalidDuration
from casebridge.domain.model import CategoryPolicy

CATEGORY_KEYS = frozenset(
    {"label", "lead", "assist", "ack_within", "resolve_within", "warn_at", "escalate_after_overdue"}
)


class PolicyError(ValueError):
    def __init__(self, source: str, key: str, problem: str) -> None:
        super().__init__(f"policy {source}: [{key}] {problem}")
        self.source = source
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class Department:
    code: str
    name: str


@dataclass(frozen=True)
class SystemicRules:
    """When the agenda proposes a topic that is not a single case (突出问题)."""

    window_days: int = 90  # look back this many days
    min_cases: int = 3  # open cases against one counterparty, or new cases of a category
    surge_factor: float = 2.0  # intake this many times the previous window's


@dataclass(frozen=True)
class Policy:
    source: str
    digest: str
    meeting_interval: str
    departments: Mapping[str, Department]
    categories: Mapping[str, CategoryPolicy]
    systemic: SystemicRules = SystemicRules()

    def category(self, code: str) -> CategoryPolicy | None:
        return self.categories.get(code)


def _text(source: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PolicyError(source, key, "must be a non-empty string")
    return value.strip()


def _duration(source: str, key: str, value: Any) -> str:
    text = _text(source, key, value)
    try:
        return str(parse_duration(text))
    except InvalidDuration as exc:
        raise PolicyError(source, key, str(exc)) from exc


def _department(source: str, key: str, value: Any, departments: Mapping[str, Department]) -> str:
    code = _text(source, key, value)
    if code not in departments:
        known = ", ".join(sorted(departments)) or "none"
        raise PolicyError(source, key, f"unknown department {code!r} (known: {known})")
    return code


def _category(source: str, code: str, raw: Any, departments: Mapping[str, Department]) -> CategoryPolicy:
    prefix = f"categories.{code}"
    if not isinstance(raw, Mapping):
        raise PolicyError(source, prefix, "must be a table")
    unknown = set(raw) - CATEGORY_KEYS
    if unknown:
        raise PolicyError(source, f"{prefix}.{sorted(unknown)[0]}", "unknown key")
    for required in ("lead", "ack_within", "resolve_within", "escalate_after_overdue"):
        if required not in raw:
            raise PolicyError(source, f"{prefix}.{required}", "is missing")
    lead = _department(source, f"{prefix}.lead", raw["lead"], departments)
    assist_raw = raw.get("assist", [])
    if not isinstance(assist_raw, list):
        raise PolicyError(source, f"{prefix}.assist", "must be a list of department codes")
    assist = [_department(source, f"{prefix}.assist", item, departments) for item in assist_raw]
    if lead in assist or len(set(assist)) != len(assist):
        raise PolicyError(source, f"{prefix}.assist", "names a department twice (or the lead)")
    warn_raw = raw.get("warn_at", [0.5, 0.8])
    if not isinstance(warn_raw, list) or not all(
        isinstance(f, int | float) and not isinstance(f, bool) and 0 < f < 1 for f in warn_raw
    ):
        raise PolicyError(source, f"{prefix}.warn_at", "must be a list of fractions between 0 and 1")
    label = raw.get("label", code)
    return CategoryPolicy(
        category=code,
        label=_text(source, f"{prefix}.label", label),
        lead=lead,
        assist=assist,
        ack_within=_duration(source, f"{prefix}.ack_within", raw["ack_within"]),
        resolve_within=_duration(source, f"{prefix}.resolve_within", raw["resolve_within"]),
        warn_at=sorted(float(f) for f in warn_raw),
        escalate_after_overdue=_duration(source, f"{prefix}.escalate_after_overdue", raw["escalate_after_overdue"]),
    )


def parse_policy(data: Mapping[str, Any], source: str) -> Policy:
    unknown = set(data) - {"meeting", "departments", "categories"}
    if unknown:
        raise PolicyError(source, sorted(unknown)[0], "unknown section")
    meeting = data.get("meeting", {})
    if not isinstance(meeting, Mapping):
        raise PolicyError(source, "meeting", "must be a table")
    for key in set(meeting) - {"interval", "systemic_window", "systemic_min_cases", "surge_factor"}:
        raise PolicyError(source, f"meeting.{key}", "unknown key")
    interval = _duration(source, "meeting.interval", meeting.get("interval", "30 days"))
    systemic = _systemic(source, meeting)

    raw_departments = data.get("departments")
    if not isinstance(raw_departments, Mapping) or not raw_departments:
        raise PolicyError(source, "departments", "at least one department is required")
    departments: dict[str, Department] = {}
    for code, raw in raw_departments.items():
        if not isinstance(raw, Mapping):
            raise PolicyError(source, f"departments.{code}", "must be a table with a name")
        name = _text(source, f"departments.{code}.name", raw.get("name"))
        for key in set(raw) - {"name"}:
            raise PolicyError(source, f"departments.{code}.{key}", "unknown key")
        departments[code] = Department(code, name)

    raw_categories = data.get("categories")
    if not isinstance(raw_categories, Mapping) or not raw_categories:
        raise PolicyError(source, "categories", "at least one category is required")
    categories = {code: _category(source, code, raw, departments) for code, raw in raw_categories.items()}

    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    return Policy(source, digest, interval, departments, categories, systemic)


def _systemic(source: str, meeting: Mapping[str, Any]) -> SystemicRules:
    window = parse_duration(_duration(source, "meeting.systemic_window", meeting.get("systemic_window", "90 days")))
    if window.unit.value != "days":
        raise PolicyError(source, "meeting.systemic_window", 'must be a number of days, e.g. "90 days"')
    min_cases = meeting.get("systemic_min_cases", 3)
    if not isinstance(min_cases, int) or isinstance(min_cases, bool) or not 2 <= min_cases <= 1000:
        raise PolicyError(source, "meeting.systemic_min_cases", "must be a whole number from 2 to 1000")
    factor = meeting.get("surge_factor", 2.0)
    if not isinstance(factor, int | float) or isinstance(factor, bool) or not 1 < factor <= 100:
        raise PolicyError(source, "meeting.surge_factor", "must be a number greater than 1")
    return SystemicRules(window.amount, min_cases, float(factor))
