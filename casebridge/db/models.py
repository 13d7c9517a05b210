"""The read model: rows written from events by the projection activity; lists and dashboards read it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(50), primary_key=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(20))
    department: Mapped[str | None] = mapped_column(String(50))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    worker_name: Mapped[str] = mapped_column(String(50))
    worker_phone: Mapped[str] = mapped_column(String(20))
    worker_occupation: Mapped[str | None] = mapped_column(String(50))
    worker_platform: Mapped[str | None] = mapped_column(String(100))
    station: Mapped[str | None] = mapped_column(String(200))
    counterparty: Mapped[str | None] = mapped_column(String(200))
    amount_claimed: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    amount_recovered: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    meeting_id: Mapped[str | None] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(20), server_default="station")
    external_id: Mapped[str | None] = mapped_column(String(100))
    # Denormalised for index-backed filters: every department with an assignment on the case,
    # whether any assignment is overdue, and character uni/bigrams for substring search in Chinese
    # (the embedded server ships no pg_trgm).
    departments: Mapped[list[str]] = mapped_column(ARRAY(String(50)))
    overdue: Mapped[bool] = mapped_column(Boolean)
    search_tokens: Mapped[list[str]] = mapped_column(ARRAY(Text))

    __table_args__ = (
        Index("ix_cases_created_at_id", "created_at", "id"),
        Index("ix_cases_status_created_at", "status", "created_at"),
        Index("ix_cases_category_created_at", "category", "created_at"),
        Index("ix_cases_departments", "departments", postgresql_using="gin"),
        Index("ix_cases_search_tokens", "search_tokens", postgresql_using="gin"),
        Index("ix_cases_overdue_created_at", "created_at", postgresql_where="overdue"),
        # One case per order of an outside system (12345 work order number, Open311 token).
        Index("uq_cases_channel_external_id", "channel", "external_id", unique=True),
    )


class Assignment(Base):
    __tablename__ = "assignments"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    department: Mapped[str] = mapped_column(String(50), primary_key=True)
    role: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ack_due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    provisional: Mapped[bool] = mapped_column(Boolean)
    warning: Mapped[bool] = mapped_column(Boolean)
    overdue: Mapped[bool] = mapped_column(Boolean)
    suspended: Mapped[bool] = mapped_column(Boolean)
    supervised: Mapped[bool] = mapped_column(Boolean)
    extension_requested: Mapped[bool] = mapped_column(Boolean)
    suspension_requested: Mapped[bool] = mapped_column(Boolean)
    returns: Mapped[int] = mapped_column(Integer)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_assignments_department_status_ack_due_at", "department", "status", "ack_due_at"),)


class CaseEvent(Base):
    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(60))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(50))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (UniqueConstraint("case_id", "seq"), Index("ix_case_events_recorded_at", "recorded_at"))


class Meeting(Base):
    __tablename__ = "meetings"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    scheduled_for: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The agenda as the workflow holds it (items with positions and decisions), for display.
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    dismissed_proposals: Mapped[list[str]] = mapped_column(JSONB)
    minutes: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_meetings_status_scheduled_for", "status", "scheduled_for"),)


class MeetingItem(Base):
    """One row per agenda item, for the queries that must not scan JSON: is this case already on an
    open agenda, which decisions are still being followed up."""

    __tablename__ = "meeting_items"

    meeting_id: Mapped[str] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    case_id: Mapped[str | None] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20))  # open | decided | dropped
    meeting_status: Mapped[str] = mapped_column(String(20))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lead_department: Mapped[str | None] = mapped_column(String(50))
    resolve_within: Mapped[str | None] = mapped_column(String(40))
    decision: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_meeting_items_case_id_state", "case_id", "state"),
        Index("ix_meeting_items_state_meeting_status", "state", "meeting_status"),
    )


class MeetingEvent(Base):
    __tablename__ = "meeting_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    meeting_id: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(60))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(50))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)

    __table_args__ = (UniqueConstraint("meeting_id", "seq"),)


class WebhookSubscription(Base):
    """An outside system that wants case events POSTed to it, signed with its secret."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    # Needed in clear to sign deliveries; never returned by the API.
    secret: Mapped[str] = mapped_column(String(200))
    departments: Mapped[list[str]] = mapped_column(ARRAY(String(50)))
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(60)))
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str] = mapped_column(String(50))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # First failed attempt with no success since; None while deliveries succeed.
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered: Mapped[int] = mapped_column(BigInteger, server_default="0")
    failed: Mapped[int] = mapped_column(BigInteger, server_default="0")  # failed attempts


class WebhookDelivery(Base):
    """The transactional outbox: one row per (subscription, case event), written with the event."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"))
    case_id: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(Integer)
    event_type: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("subscription_id", "case_id", "seq"),
        # The dispatcher's queue: a subscription's undelivered rows in insertion order.
        Index("ix_webhook_deliveries_pending", "subscription_id", "id", postgresql_where="delivered_at IS NULL"),
    )


class WebhookEvent(Base):
    """What happened to a subscription: created, deactivated, enabled, disabled after failing a day."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(60))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(50))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)

    __table_args__ = (Index("ix_webhook_events_subscription_id_id", "subscription_id", "id"),)
