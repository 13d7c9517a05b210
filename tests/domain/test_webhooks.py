"""Webhooks, the pure rules: the signature a receiver checks, which events a subscription gets, and
when a failing subscription is disabled."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from casebridge.domain.webhooks import (
    IDLE_WAIT_FIRST,
    IDLE_WAIT_MAX,
    delivery_headers,
    departments_match,
    event_body,
    event_type_matches,
    next_idle_wait,
    should_disable,
    sign,
    verify_signature,
    wants,
)

pytestmark = pytest.mark.timeout(10)

SECRET = "s3cret-s3cret-s3cret"
AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = event_body("CB-1", 3, "assignment.acknowledged", AT, "hrss", {"department": "hrss", "on_time": True})
    expected = hmac.new(SECRET.encode(), b"1772443800." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, "1772443800", body) == f"sha256={expected}"
    # Another secret, another timestamp or another body: another signature.
    assert sign("another-secret-000", "1772443800", body) != sign(SECRET, "1772443800", body)
    assert sign(SECRET, "1772443801", body) != sign(SECRET, "1772443800", body)
    assert sign(SECRET, "1772443800", body + b" ") != sign(SECRET, "1772443800", body)


def test_body_carries_the_event_and_its_idempotency_key() -> None:
    body = event_body("CB-1", 3, "case.created", AT, "officer", {"title": "快递员一年工资未发"})
    assert json.loads(body) == {
        "id": "CB-1:3",
        "case_id": "CB-1",
        "seq": 3,
        "type": "case.created",
        "at": "2026-03-02T09:30:00+00:00",
        "actor": "officer",
        "data": {"title": "快递员一年工资未发"},
    }
    assert "快递员" in body.decode()  # UTF-8, not \\u escapes
    # The same event is the same bytes every time (a retry re-signs identical content).
    assert body == event_body("CB-1", 3, "case.created", AT, "officer", {"title": "快递员一年工资未发"})
    headers = delivery_headers("CB-1", 3, "1772443800", "sha256=ab")
    assert headers["X-Casebridge-Event-Id"] == "CB-1:3"
    assert headers["X-Casebridge-Timestamp"] == "1772443800"
    assert headers["X-Casebridge-Signature"] == "sha256=ab"


def test_receiver_verification_refuses_forgeries_and_replays() -> None:
    body = event_body("CB-1", 1, "case.created", AT, "officer", {})
    ts = str(int(AT.timestamp()))
    good = sign(SECRET, ts, body)
    assert verify_signature(SECRET, ts, body, good, AT + timedelta(seconds=30))
    assert not verify_signature(SECRET, ts, body + b"x", good, AT)  # body changed
    assert not verify_signature("wrong-secret-00000", ts, body, good, AT)
    assert not verify_signature(SECRET, ts, body, good, AT + timedelta(minutes=6))  # replayed late
    assert not verify_signature(SECRET, "not-a-number", body, good, AT)
    # A fresh timestamp on an old body does not carry the old signature.
    fresh = str(int(AT.timestamp()) + 600)
    assert not verify_signature(SECRET, fresh, body, good, AT + timedelta(minutes=10))


@pytest.mark.parametrize(
    ("patterns", "event_type", "wanted"),
    [
        ([], "case.created", True),
        (["*"], "assignment.overdue", True),
        (["assignment.*"], "assignment.acknowledged", True),
        (["assignment.*"], "case.created", False),
        (["assignment.*"], "assignment", False),
        (["case.created"], "case.created", True),
        (["case.created"], "case.created_again", False),
        (["case"], "case.created", False),
        (["case.closed", "assignment.*"], "case.closed", True),
    ],
)
def test_event_type_patterns(patterns: list[str], event_type: str, wanted: bool) -> None:
    assert event_type_matches(patterns, event_type) is wanted


def test_department_filter() -> None:
    assert departments_match([], [])  # no filter: every case, even one not routed yet
    assert departments_match([], ["hrss"])
    assert departments_match(["justice"], ["hrss", "justice"])
    assert not departments_match(["justice"], ["traffic"])
    assert not departments_match(["justice"], [])
    assert wants(["case.*"], ["hrss"], "case.created", {"hrss"})
    assert not wants(["case.*"], ["hrss"], "assignment.issued", {"hrss"})
    assert not wants(["case.*"], ["justice"], "case.created", {"hrss"})


def test_disabled_after_failing_for_a_day_not_before() -> None:
    assert not should_disable(None, AT)
    assert not should_disable(AT, AT + timedelta(hours=23, minutes=59))
    assert should_disable(AT, AT + timedelta(days=1))
    assert should_disable(AT, AT + timedelta(days=3))


def test_idle_wait_backs_off_to_a_ceiling() -> None:
    waits = [IDLE_WAIT_FIRST]
    for _ in range(8):
        waits.append(next_idle_wait(waits[-1]))
    assert waits[:4] == [timedelta(seconds=s) for s in (1, 2, 4, 8)]
    assert waits[-1] == IDLE_WAIT_MAX == timedelta(seconds=30)
