"""Webhooks out: what a delivery carries, how it is signed, which events a subscription wants, and
when a subscription that keeps failing is disabled. Pure: no I/O, no clock (callers pass ``now``).

A receiver verifies a delivery by recomputing
``sha256=hex(HMAC-SHA256(secret, f"{X-Casebridge-Timestamp}.{raw body}"))``, comparing it with
``X-Casebridge-Signature`` in constant time, refusing timestamps outside its replay window, and
de-duplicating by ``X-Casebridge-Event-Id`` (delivery is at least once).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

SIGNATURE_PREFIX = "sha256="
EVENT_ID_HEADER = "X-Casebridge-Event-Id"
TIMESTAMP_HEADER = "X-Casebridge-Timestamp"
SIGNATURE_HEADER = "X-Casebridge-Signature"
USER_AGENT = "Casebridge-Webhooks/1"

# A subscription whose deliveries have failed without a success for this long is disabled.
DISABLE_AFTER = timedelta(days=1)
# How long a receiver should accept a timestamp (replay window of ``verify_signature``).
DEFAULT_TOLERANCE = timedelta(minutes=5)
# The dispatcher's idle poll of its delivery queue: quick after activity, slower while idle.
IDLE_WAIT_FIRST = timedelta(seconds=1)
IDLE_WAIT_MAX = timedelta(seconds=30)
# Retries of one delivery (activity retry policy): 2 s, 4 s, 8 s … then every 10 minutes.
RETRY_INITIAL = timedelta(seconds=2)
RETRY_BACKOFF = 2.0
RETRY_MAX_INTERVAL = timedelta(minutes=10)
# One activity call retries for at most this long; then the dispatcher checks the disable rule
# (with workflow time) and calls again. So a dead receiver is disabled within DISABLE_AFTER + this.
RETRY_WINDOW = timedelta(hours=1)
# What one HTTP attempt may take (the receiver should answer quickly and work asynchronously).
REQUEST_TIMEOUT = timedelta(seconds=10)
# Kept on the rows for display; a receiver's error text is cut to this length.
ERROR_LIMIT = 500
# The ApplicationError type of an attempt the receiver failed (non-2xx, refused, timed out).
DELIVERY_FAILED = "DeliveryFailed"


class DeliveryOutcome(StrEnum):
    DELIVERED = "delivered"  # this attempt or an earlier one got a 2xx
    SKIPPED = "skipped"  # the delivery or its event no longer exists
    INACTIVE = "inactive"  # the subscription was deactivated: stop dispatching


class SubscriptionEventType(StrEnum):
    """What the log kept per subscription (``webhook_events.type``) records."""

    CREATED = "subscription.created"
    DEACTIVATED = "subscription.deactivated"
    ENABLED = "subscription.enabled"
    DISABLED = "subscription.disabled"


# --- payloads of the dispatcher workflow and its activities ----------------------------------


@dataclass
class DispatcherState:
    # Workflow time of the first delivery call that failed without a success since; None when healthy.
    failing_since: datetime | None = None
    delivered: int = 0


@dataclass
class DispatcherInput:
    subscription_id: str
    state: DispatcherState = field(default_factory=DispatcherState)


@dataclass
class NextDeliveriesRequest:
    subscription_id: str
    limit: int


@dataclass
class DeliveryQueue:
    active: bool
    delivery_ids: list[int] = field(default_factory=list)


@dataclass
class DisableRequest:
    subscription_id: str
    at: datetime
    failing_since: datetime


# --- what is sent ---------------------------------------------------------------------------


def event_id(case_id: str, seq: int) -> str:
    """The idempotency key of one case event: the same for every attempt and every subscription."""
    return f"{case_id}:{seq}"


def event_body(case_id: str, seq: int, type_: str, at: datetime, actor: str, data: dict[str, Any]) -> bytes:
    """The JSON body of a delivery. Compact and key-ordered, so a resend carries the same bytes."""
    payload = {
        "id": event_id(case_id, seq),
        "case_id": case_id,
        "seq": seq,
        "type": type_,
        "at": at.isoformat(),
        "actor": actor,
        "data": data,
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``: the timestamp is signed with the
    body so a captured delivery cannot be replayed later under a fresh timestamp."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    now: datetime,
    tolerance: timedelta = DEFAULT_TOLERANCE,
) -> bool:
    """What a receiver does: the signature matches and the timestamp is within the replay window."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now.timestamp() - sent) > tolerance.total_seconds():
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def delivery_headers(case_id: str, seq: int, timestamp: str, signature: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: event_id(case_id, seq),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature,
    }


# --- which events a subscription wants --------------------------------------------------------


def event_type_matches(patterns: Sequence[str], event_type: str) -> bool:
    """No patterns, or ``*``, means every event; ``assignment.*`` means every event whose type starts
    with ``assignment.``; anything else must equal the type."""
    if not patterns:
        return True
    for pattern in patterns:
        if pattern in ("*", event_type):
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def departments_match(wanted: Sequence[str], case_departments: Iterable[str]) -> bool:
    """No departments means every case; otherwise the case must have an assignment for one of them
    (as the case stands when the event is written: events before a department was routed to are not
    its business)."""
    return not wanted or not set(wanted).isdisjoint(case_departments)


def wants(
    event_types: Sequence[str], departments: Sequence[str], event_type: str, case_departments: Iterable[str]
) -> bool:
    return event_type_matches(event_types, event_type) and departments_match(departments, case_departments)


# --- failure ----------------------------------------------------------------------------------


def should_disable(failing_since: datetime | None, now: datetime, after: timedelta = DISABLE_AFTER) -> bool:
    """A subscription is disabled once it has failed continuously for ``after`` (a day)."""
    return failing_since is not None and now - failing_since >= after


def next_idle_wait(current: timedelta) -> timedelta:
    """The next wait of an idle dispatcher: doubling, up to ``IDLE_WAIT_MAX``."""
    return min(current * 2, IDLE_WAIT_MAX)


def short_error(text: str) -> str:
    return text if len(text) <= ERROR_LIMIT else text[: ERROR_LIMIT - 1] + "…"
