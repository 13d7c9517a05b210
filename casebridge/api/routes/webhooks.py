"""Webhook subscriptions (admin): where case events are POSTed, signed, and how delivery is going.

Creating or enabling a subscription starts its dispatcher workflow (signal-with-start, so one that
is still running is woken instead); deactivating it stops the dispatcher (it is woken to look at once).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

import structlog
from fastapi import APIRouter, status
from pydantic import AfterValidator, BaseModel, Field, StringConstraints
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.service import RPCError, RPCStatusCode

from casebridge.api.deps import Admin, PolicyDep, SessionDep, StateDep
from casebridge.api.schemas import Code, Strict, printable_text
from casebridge.api.security import CurrentUserInfo
from casebridge.api.state import AppState
from casebridge.db.models import WebhookDelivery, WebhookEvent, WebhookSubscription
from casebridge.domain.errors import NotFound, UnknownDepartment
from casebridge.domain.webhooks import DispatcherInput, SubscriptionEventType
from casebridge.workflows.webhooks import WebhookDispatcherWorkflow, dispatcher_id

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/api/v1/admin/webhooks", tags=["webhooks"])

RECENT_DELIVERIES = 50
RECENT_EVENTS = 50


def http_url(value: str) -> str:
    parts = urlsplit(value)
    _ = parts.port  # raises ValueError when the port is out of range
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http or https URL with a host")
    if any(char.isspace() for char in value):
        raise ValueError("must not contain whitespace")
    return value


Url = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(printable_text),
    AfterValidator(http_url),
]
Secret = Annotated[str, StringConstraints(min_length=16, max_length=200), AfterValidator(printable_text)]
# An event type (``assignment.acknowledged``), a prefix (``assignment.*``) or ``*``.
EventTypePattern = Annotated[
    str, StringConstraints(max_length=60, pattern=r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$")
]


class WebhookCreate(Strict):
    url: Url
    secret: Secret = Field(description="Signs every delivery (HMAC-SHA256); write-only, never returned.")
    departments: Annotated[list[Code], Field(max_length=20)] = Field(
        default_factory=list, description="Only events of cases with an assignment for one of these; empty: all."
    )
    event_types: Annotated[list[EventTypePattern], Field(max_length=50)] = Field(
        default_factory=list, description='Event types or prefixes like "assignment.*"; empty: all.'
    )


class WebhookOut(BaseModel):
    id: str
    url: str
    departments: list[str]
    event_types: list[str]
    active: bool
    created_at: datetime
    last_error: str | None
    last_attempt_at: datetime | None
    failing_since: datetime | None
    delivered: int = Field(description="Deliveries that got a 2xx.")
    failed: int = Field(description="Attempts that failed (non-2xx, timeout, refused).")


class DeliveryOut(BaseModel):
    id: int
    event_id: str
    case_id: str
    seq: int
    event_type: str
    created_at: datetime
    attempts: int
    last_status: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None


class WebhookEventOut(BaseModel):
    type: str
    at: datetime
    actor: str
    data: dict[str, Any]


class WebhookDetail(WebhookOut):
    pending: int
    deliveries: list[DeliveryOut] = Field(description=f"The {RECENT_DELIVERIES} most recent, newest first.")
    events: list[WebhookEventOut] = Field(description="What happened to the subscription, newest first.")


def webhook_out(sub: WebhookSubscription) -> WebhookOut:
    return WebhookOut(
        id=sub.id,
        url=sub.url,
        departments=sub.departments,
        event_types=sub.event_types,
        active=sub.active,
        created_at=sub.created_at,
        last_error=sub.last_error,
        last_attempt_at=sub.last_attempt_at,
        failing_since=sub.failing_since,
        delivered=sub.delivered,
        failed=sub.failed,
    )


async def _get(session: AsyncSession, webhook_id: str) -> WebhookSubscription:
    sub = await session.get(WebhookSubscription, webhook_id, populate_existing=True)
    if sub is None:
        raise NotFound("订阅不存在", "no such webhook subscription")
    return sub


def _log(sub_id: str, type_: SubscriptionEventType, user: CurrentUserInfo, **data: Any) -> WebhookEvent:
    return WebhookEvent(subscription_id=sub_id, type=type_, at=datetime.now(UTC), actor=user.username, data=data)


async def _start_dispatcher(state: AppState, sub_id: str) -> None:
    await state.temporal.start_workflow(
        WebhookDispatcherWorkflow.run,
        DispatcherInput(sub_id),
        id=dispatcher_id(sub_id),
        task_queue=state.settings.task_queue,
        start_signal="new_events",
    )


@router.post("", response_model=WebhookOut, status_code=status.HTTP_201_CREATED, summary="Subscribe a URL")
async def create_webhook(
    body: WebhookCreate, user: Admin, session: SessionDep, state: StateDep, policy: PolicyDep
) -> WebhookOut:
    unknown = sorted(set(body.departments) - set(policy.departments))
    if unknown:
        raise UnknownDepartment(f"未知单位：{', '.join(unknown)}", f"unknown departments: {', '.join(unknown)}")
    sub = WebhookSubscription(
        id=secrets.token_hex(8),
        url=body.url,
        secret=body.secret,
        departments=sorted(set(body.departments)),
        event_types=sorted(set(body.event_types)),
        active=True,
        created_by=user.username,
        delivered=0,
        failed=0,
    )
    session.add(sub)
    await session.flush()  # the log row refers to it (no ORM relationship orders the inserts)
    session.add(
        _log(
            sub.id,
            SubscriptionEventType.CREATED,
            user,
            url=sub.url,
            departments=sub.departments,
            event_types=sub.event_types,
        )
    )
    await session.commit()
    await _start_dispatcher(state, sub.id)
    return webhook_out(await _get(session, sub.id))


@router.get("", response_model=list[WebhookOut], summary="Every subscription, newest first")
async def list_webhooks(_: Admin, session: SessionDep) -> list[WebhookOut]:
    subs = await session.scalars(
        select(WebhookSubscription).order_by(WebhookSubscription.created_at.desc(), WebhookSubscription.id)
    )
    return [webhook_out(s) for s in subs]


@router.get("/{webhook_id}", response_model=WebhookDetail, summary="One subscription with its recent deliveries")
async def get_webhook(webhook_id: str, _: Admin, session: SessionDep) -> WebhookDetail:
    sub = await _get(session, webhook_id)
    deliveries = await session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == webhook_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(RECENT_DELIVERIES)
    )
    pending = await session.scalar(
        select(func.count()).where(
            WebhookDelivery.subscription_id == webhook_id, WebhookDelivery.delivered_at.is_(None)
        )
    )
    events = await session.scalars(
        select(WebhookEvent)
        .where(WebhookEvent.subscription_id == webhook_id)
        .order_by(WebhookEvent.id.desc())
        .limit(RECENT_EVENTS)
    )
    return WebhookDetail(
        **webhook_out(sub).model_dump(),
        pending=int(pending or 0),
        deliveries=[
            DeliveryOut(
                id=d.id,
                event_id=f"{d.case_id}:{d.seq}",
                case_id=d.case_id,
                seq=d.seq,
                event_type=d.event_type,
                created_at=d.created_at,
                attempts=d.attempts,
                last_status=d.last_status,
                last_error=d.last_error,
                last_attempt_at=d.last_attempt_at,
                delivered_at=d.delivered_at,
            )
            for d in deliveries
        ],
        events=[WebhookEventOut(type=e.type, at=e.at, actor=e.actor, data=e.data) for e in events],
    )


@router.delete(
    "/{webhook_id}", response_model=WebhookOut, summary="Deactivate (no new deliveries; the dispatcher stops)"
)
async def deactivate_webhook(webhook_id: str, user: Admin, session: SessionDep, state: StateDep) -> WebhookOut:
    await _get(session, webhook_id)
    changed = await session.scalar(
        update(WebhookSubscription)
        .where(WebhookSubscription.id == webhook_id, WebhookSubscription.active)
        .values(active=False)
        .returning(WebhookSubscription.id)
    )
    if changed is not None:
        session.add(_log(webhook_id, SubscriptionEventType.DEACTIVATED, user))
    await session.commit()
    # Only a nudge so the dispatcher stops now rather than at its next look (at most 30 s away).
    handle = state.temporal.get_workflow_handle_for(WebhookDispatcherWorkflow.run, dispatcher_id(webhook_id))
    try:
        await handle.signal(WebhookDispatcherWorkflow.new_events)
    except RPCError as exc:
        if exc.status is not RPCStatusCode.NOT_FOUND:
            log.warning("could not wake the webhook dispatcher", webhook_id=webhook_id, error=str(exc))
    return webhook_out(await _get(session, webhook_id))


@router.post(
    "/{webhook_id}/enable", response_model=WebhookOut, summary="Enable again (after deactivation or disabling)"
)
async def enable_webhook(webhook_id: str, user: Admin, session: SessionDep, state: StateDep) -> WebhookOut:
    await _get(session, webhook_id)
    changed = await session.scalar(
        update(WebhookSubscription)
        .where(WebhookSubscription.id == webhook_id, WebhookSubscription.active.is_(False))
        .values(active=True, failing_since=None)
        .returning(WebhookSubscription.id)
    )
    if changed is not None:
        session.add(_log(webhook_id, SubscriptionEventType.ENABLED, user))
    await session.commit()
    # Also when it was active already: makes sure a dispatcher runs.
    await _start_dispatcher(state, webhook_id)
    return webhook_out(await _get(session, webhook_id))
