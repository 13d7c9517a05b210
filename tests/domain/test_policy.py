"""The routing and deadline policy: the shipped default, and what a bad policy file says."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from casebridge.domain.durations import parse_duration
from casebridge.domain.policy import PolicyError
from casebridge.policy_source import load_policy
from casebridge.settings import DEFAULT_POLICY

DEFAULT_CATEGORIES = [
    "wage_arrears",
    "work_injury",
    "traffic_accident",
    "social_insurance",
    "labor_relation",
    "platform_rules",
    "safety_hazard",
    "other",
]
DURATION_KEYS = ("ack_within", "resolve_within", "escalate_after_overdue")


# --- the shipped default ------------------------------------------------------------------------


def test_default_policy_has_the_designed_categories_and_departments() -> None:
    policy = load_policy(DEFAULT_POLICY)
    assert sorted(policy.categories) == sorted(DEFAULT_CATEGORIES)
    assert sorted(policy.departments) == ["hrss", "justice", "traffic"]
    assert all(d.name for d in policy.departments.values())
    assert policy.source == str(DEFAULT_POLICY)
    assert policy.meeting_interval == "30 days"


def test_default_policy_routes_every_category_to_known_departments() -> None:
    policy = load_policy(DEFAULT_POLICY)
    for code, category in policy.categories.items():
        assert category.category == code
        assert category.label, code
        assert category.lead in policy.departments, code
        assert set(category.assist) <= set(policy.departments), code
        assert category.lead not in category.assist, code
        assert category.warn_at and all(0 < f < 1 for f in category.warn_at), code
        assert category.warn_at == sorted(category.warn_at), code


def test_default_policy_durations_are_written_canonically() -> None:
    raw = tomllib.loads(DEFAULT_POLICY.read_text(encoding="utf-8"))
    policy = load_policy(DEFAULT_POLICY)
    assert str(parse_duration(raw["meeting"]["interval"])) == raw["meeting"]["interval"]
    for code, category in policy.categories.items():
        for key in DURATION_KEYS:
            written = raw["categories"][code][key]
            assert str(parse_duration(written)) == written, f"{code}.{key} = {written!r} is not canonical"
            assert getattr(category, key) == written


def test_default_policy_follows_the_statutes_design_names() -> None:
    categories = load_policy(DEFAULT_POLICY).categories
    wage = categories["wage_arrears"]
    # DESIGN's own example, and labour-inspection complaints: 60 working days.
    assert (wage.lead, wage.assist) == ("hrss", ["justice"])
    assert (wage.ack_within, wage.resolve_within) == ("1 working day", "60 working days")
    assert (wage.warn_at, wage.escalate_after_overdue) == ([0.5, 0.8], "5 working days")
    assert categories["social_insurance"].resolve_within == "60 working days"
    assert categories["traffic_accident"].lead == "traffic"


# --- bad policies -------------------------------------------------------------------------------

VALID = """
[meeting]
interval = "30 days"

[departments.hrss]
name = "人力资源和社会保障局"

[departments.justice]
name = "司法局"

[categories.wage_arrears]
lead = "hrss"
assist = ["justice"]
ack_within = "1 working day"
resolve_within = "60 working days"
warn_at = [0.5, 0.8]
escalate_after_overdue = "5 working days"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _replace(old: str, new: str) -> str:
    assert old in VALID
    return VALID.replace(old, new, 1)


def test_the_valid_sample_loads(tmp_path: Path) -> None:
    policy = load_policy(_write(tmp_path, VALID))
    assert list(policy.categories) == ["wage_arrears"]
    assert policy.categories["wage_arrears"].assist == ["justice"]


BAD: list[tuple[str, str, str, str]] = [
    # (id, policy text, key named, words of the problem)
    ("unknown lead", _replace('lead = "hrss"', 'lead = "police"'), "categories.wage_arrears.lead", "police"),
    (
        "unknown assist",
        _replace('assist = ["justice"]', 'assist = ["traffic"]'),
        "categories.wage_arrears.assist",
        "traffic",
    ),
    ("missing lead", _replace('lead = "hrss"\n', ""), "categories.wage_arrears.lead", "missing"),
    (
        "missing resolve_within",
        _replace('resolve_within = "60 working days"\n', ""),
        "categories.wage_arrears.resolve_within",
        "missing",
    ),
    (
        "unparseable duration",
        _replace('"60 working days"', '"sixty working days"'),
        "categories.wage_arrears.resolve_within",
        "sixty working days",
    ),
    (
        "zero duration",
        _replace('ack_within = "1 working day"', 'ack_within = "0 working days"'),
        "categories.wage_arrears.ack_within",
        "0 working days",
    ),
    (
        "duration not a string",
        _replace('escalate_after_overdue = "5 working days"', "escalate_after_overdue = 5"),
        "categories.wage_arrears.escalate_after_overdue",
        "string",
    ),
    ("warn_at above 1", _replace("[0.5, 0.8]", "[0.5, 1.2]"), "categories.wage_arrears.warn_at", "between 0 and 1"),
    ("warn_at of 1", _replace("[0.5, 0.8]", "[1.0]"), "categories.wage_arrears.warn_at", "between 0 and 1"),
    ("warn_at of 0", _replace("[0.5, 0.8]", "[0, 0.5]"), "categories.wage_arrears.warn_at", "between 0 and 1"),
    ("warn_at negative", _replace("[0.5, 0.8]", "[-0.5]"), "categories.wage_arrears.warn_at", "between 0 and 1"),
    ("warn_at a string", _replace("[0.5, 0.8]", '"0.5"'), "categories.wage_arrears.warn_at", "between 0 and 1"),
    ("warn_at a bool", _replace("[0.5, 0.8]", "[true]"), "categories.wage_arrears.warn_at", "between 0 and 1"),
    (
        "unknown category key",
        _replace("warn_at = [0.5, 0.8]", "warn_at = [0.5, 0.8]\nresolve_in = '5 days'"),
        "categories.wage_arrears.resolve_in",
        "unknown key",
    ),
    ("unknown section", VALID + '\n[meetings]\ninterval = "7 days"\n', "meetings", "unknown"),
    (
        "unknown meeting key",
        _replace('interval = "30 days"', 'intervall = "14 days"'),
        "meeting.intervall",
        "unknown",
    ),
    (
        "unknown department key",
        _replace('name = "司法局"', 'name = "司法局"\nlead_time = "2 days"'),
        "departments.justice.lead_time",
        "unknown",
    ),
    (
        "bad meeting interval",
        _replace('interval = "30 days"', 'interval = "monthly"'),
        "meeting.interval",
        "monthly",
    ),
    (
        "department without a name",
        _replace('name = "司法局"', 'title = "司法局"'),
        "departments.justice.name",
        "non-empty string",
    ),
    (
        "lead also assists",
        _replace('assist = ["justice"]', 'assist = ["hrss"]'),
        "categories.wage_arrears.assist",
        "twice",
    ),
    (
        "assist not a list",
        _replace('assist = ["justice"]', 'assist = "justice"'),
        "categories.wage_arrears.assist",
        "list",
    ),
    ("category not a table", VALID + '\n[categories]\nother = "hrss"\n', "categories.other", "table"),
    ("no categories", VALID.split("[categories.wage_arrears]", maxsplit=1)[0], "categories", "required"),
    ("bad TOML", _replace('lead = "hrss"', "lead = hrss"), "-", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "key", "problem"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_policy_names_the_file_the_key_and_the_problem(tmp_path: Path, text: str, key: str, problem: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(PolicyError) as raised:
        load_policy(path)
    message = str(raised.value)
    assert str(path) in message
    assert raised.value.source == str(path)
    assert key in message
    if key:
        assert raised.value.key.startswith(key)
    assert problem in message
    assert raised.value.problem


def test_missing_policy_file_is_a_policy_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "policy.toml"
    with pytest.raises(PolicyError) as raised:
        load_policy(path)
    assert str(path) in str(raised.value)
    assert "not found" in str(raised.value)


def test_bad_toml_message_says_where(tmp_path: Path) -> None:
    path = _write(tmp_path, _replace('lead = "hrss"', "lead = hrss"))
    with pytest.raises(PolicyError) as raised:
        load_policy(path)
    assert "line" in raised.value.problem
