"""Webhooks out, the I/O half: the transactional outbox written with a case's events, and the
activities a subscription's dispatcher workflow runs (read its queue, deliver one, disable it).

At least once: a delivery row is written in the same transaction as its event, so no committed
event is missed; a row is marked delivered only after a 2xx, so a crash between the POST and the
mark sends it again under the same ``X-Casebridge-Event-Id``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import structlog
from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from casebridge.db.models import CaseEvent, WebhookDelivery, WebhookEvent, WebhookSubscription
from casebridge.domain.model import ProjectionBatch
from casebridge.domain.webhooks import (
    DELIVERY_FAILED,
    EVENT_ID_HEADER,
    REQUEST_TIMEOUT,
    DeliveryOutcome,
    DeliveryQueue,
    DisableRequest,
    NextDeliveriesRequest,
    SubscriptionEventType,
    delivery_headers,
    event_body,
    short_error,
    sign,
    wants,
)

log = structlog.get_logger(__name__)

SYSTEM = "system"


async def enqueue_deliveries(session: AsyncSession, batch: ProjectionBatch) -> int:
    """The outbox: inside the projection's transaction and *before* its events are appended, one
    delivery row per (active subscription that wants it, event not stored yet).

    Only new events: a retried batch, or a re-projection from history, must not send a
    subscription the events written before it existed. Rows are keyed by (subscription, case,
    seq), so two overlapping attempts of one batch still queue each event once."""
    if not batch.events:
        return 0
    subscriptions = (
        await session.execute(
            select(WebhookSubscription.id, WebhookSubscription.event_types, WebhookSubscription.departments).where(
                WebhookSubscription.active
            )
        )
    ).all()
    if not subscriptions:
        return 0
    stored = set(
        await session.scalars(
            select(CaseEvent.seq).where(
                CaseEvent.case_id == batch.case.id, CaseEvent.seq.in_([e.seq for e in batch.events])
            )
        )
    )
    case_departments = {a.department for a in batch.case.assignments}
    rows = [
        {"subscription_id": sub_id, "case_id": batch.case.id, "seq": event.seq, "event_type": event.type}
        for sub_id, event_types, departments in subscriptions
        for event in batch.events
        if event.seq not in stored and wants(event_types, departments, event.type, case_departments)
    ]
    if rows:
        await session.execute(
            insert(WebhookDelivery)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["subscription_id", "case_id", "seq"])
        )
    return len(rows)


class WebhookActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], request_timeout: float | None = None) -> None:
        self._sessions = sessions
        self._timeout = request_timeout if request_timeout is not None else REQUEST_TIMEOUT.total_seconds()
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        # One client for the worker's lifetime, made on first use inside the worker's event loop:
        # making one costs ~50 ms (its TLS context), and it keeps connections to receivers alive.
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    @activity.defn(name="webhook_next_deliveries")
    async def next_deliveries(self, request: NextDeliveriesRequest) -> DeliveryQueue:
        """The subscription's undelivered rows, oldest first (so each case's events go in seq order)."""
        async with self._sessions() as session:
            active = await session.scalar(
                select(WebhookSubscription.active).where(WebhookSubscription.id == request.subscription_id)
            )
            if not active:
                return DeliveryQueue(active=False)
            ids = await session.scalars(
                select(WebhookDelivery.id)
                .where(
                    WebhookDelivery.subscription_id == request.subscription_id, WebhookDelivery.delivered_at.is_(None)
                )
                .order_by(WebhookDelivery.id)
                .limit(request.limit)
            )
            return DeliveryQueue(active=True, delivery_ids=list(ids))

    @activity.defn(name="webhook_deliver")
    async def deliver(self, delivery_id: int) -> DeliveryOutcome:
        """One attempt: POST the signed event; a non-2xx or a transport error fails the attempt
        (recorded on the delivery and the subscription) and Temporal retries it with backoff."""
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(WebhookDelivery, WebhookSubscription, CaseEvent)
                    .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
                    .outerjoin(
                        CaseEvent,
                        and_(CaseEvent.case_id == WebhookDelivery.case_id, CaseEvent.seq == WebhookDelivery.seq),
                    )
                    .where(WebhookDelivery.id == delivery_id)
                )
            ).first()
        if row is None:
            return DeliveryOutcome.SKIPPED
        delivery, subscription, event = row
        if delivery.delivered_at is not None:
            return DeliveryOutcome.DELIVERED  # a retry after the mark was written
        if not subscription.active:
            return DeliveryOutcome.INACTIVE
        if event is None:
            return DeliveryOutcome.SKIPPED
        body = event_body(event.case_id, event.seq, event.type, event.at, event.actor, event.data)
        timestamp = str(int(time.time()))
        headers = delivery_headers(event.case_id, event.seq, timestamp, sign(subscription.secret, timestamp, body))
        status, error = await self._post(subscription.url, body, headers)
        await self._record(delivery.id, subscription.id, status, error)
        if error is not None:
            log.warning(
                "webhook delivery failed",
                subscription_id=subscription.id,
                delivery_id=delivery.id,
                event_id=headers[EVENT_ID_HEADER],
                attempt=activity.info().attempt,
                error=error,
            )
            # Retryable, so the retry policy's backoff applies. Benign: recorded on the rows and logged
            # above, the SDK need not log a traceback per attempt.
            raise ApplicationError(error, type=DELIVERY_FAILED, category=ApplicationErrorCategory.BENIGN)
        return DeliveryOutcome.DELIVERED

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
        try:
            async with self._client().stream("POST", url, content=body, headers=headers) as response:
                # The body is not read: a receiver answers with its status, and a huge reply must
                # not cost the worker memory.
                status = response.status_code
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return None, short_error(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        if 200 <= status < 300:
            return status, None
        return status, f"HTTP {status}"

    async def _record(self, delivery_id: int, subscription_id: str, status: int | None, error: str | None) -> None:
        now = datetime.now(UTC)
        ok = error is None
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id)
                .values(
                    attempts=WebhookDelivery.attempts + 1,
                    last_status=status,
                    last_error=error,
                    last_attempt_at=now,
                    delivered_at=now if ok else None,
                )
            )
            subscription = WebhookSubscription
            await session.execute(
                update(subscription)
                .where(subscription.id == subscription_id)
                .values(
                    last_attempt_at=now,
                    last_error=subscription.last_error if ok else error,
                    failing_since=None if ok else func.coalesce(subscription.failing_since, now),
                    delivered=subscription.delivered + (1 if ok else 0),
                    failed=subscription.failed + (0 if ok else 1),
                )
            )

    @activity.defn(name="webhook_disable_subscription")
    async def disable_subscription(self, request: DisableRequest) -> bool:
        """Deactivate a subscription that failed for a day and log that it was, once (a retried
        activity finds it inactive already and logs nothing)."""
        async with self._sessions() as session, session.begin():
            disabled = await session.scalar(
                update(WebhookSubscription)
                .where(WebhookSubscription.id == request.subscription_id, WebhookSubscription.active)
                .values(active=False)
                .returning(WebhookSubscription.id)
            )
            if disabled is None:
                return False
            last_error = await session.scalar(
                select(WebhookSubscription.last_error).where(WebhookSubscription.id == request.subscription_id)
            )
            session.add(
                WebhookEvent(
                    subscription_id=request.subscription_id,
                    type=SubscriptionEventType.DISABLED,
                    at=request.at,
                    actor=SYSTEM,
                    data={
                        "reason": "deliveries failed for a day",
                        "failing_since": request.failing_since.isoformat(),
                        "last_error": last_error,
                    },
                )
            )
        log.warning("webhook subscription disabled", subscription_id=request.subscription_id)
        return True
