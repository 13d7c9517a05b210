"""The read model writer: a transition's events and the case's projection rows, in one transaction.

Idempotent: events are keyed by ``(case_id, seq)`` and inserted with ON CONFLICT DO NOTHING; the
case row is only overwritten by a snapshot at least as new as the one it holds. Running the same
batch twice, or an older batch after a newer one, changes nothing.
"""

from __future__ import annotations

from decimal import Decimal

import structlog
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from casebridge.activities.webhooks import enqueue_deliveries
from casebridge.db.models import Assignment, Case, CaseEvent
from casebridge.db.search import tokens_for
from casebridge.db.writes import append_events, upsert_if_newer
from casebridge.domain.model import CaseSnapshot, ProjectionBatch

log = structlog.get_logger(__name__)


def _amount(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def case_row(snapshot: CaseSnapshot) -> dict[str, object]:
    worker = snapshot.worker
    return {
        "id": snapshot.id,
        "version": snapshot.version,
        "status": snapshot.status,
        "category": snapshot.category,
        "title": snapshot.title,
        "description": snapshot.description,
        "worker_name": worker.name,
        "worker_phone": worker.phone,
        "worker_occupation": worker.occupation,
        "worker_platform": worker.platform,
        "station": snapshot.station,
        "counterparty": snapshot.counterparty,
        "amount_claimed": _amount(snapshot.amount_claimed),
        "channel": snapshot.channel,
        "external_id": snapshot.external_id,
        "amount_recovered": _amount(snapshot.amount_recovered),
        "created_at": snapshot.created_at,
        "updated_at": snapshot.updated_at,
        "due_at": snapshot.due_at,
        "meeting_id": snapshot.meeting_id,
        "departments": sorted({a.department for a in snapshot.assignments}),
        "overdue": any(a.overdue for a in snapshot.assignments),
        "search_tokens": tokens_for(snapshot.title, snapshot.description, worker.name),
    }


async def write_batch(session: AsyncSession, batch: ProjectionBatch) -> bool:
    """Write one batch inside the caller's transaction; True when the case row was (re)written."""
    await enqueue_deliveries(session, batch)  # the webhook outbox: same transaction, new events only
    await append_events(session, CaseEvent, "case_id", batch.case.id, batch.events)
    written = await upsert_if_newer(session, Case, case_row(batch.case))
    if written:
        await session.execute(delete(Assignment).where(Assignment.case_id == batch.case.id))
        if batch.case.assignments:
            await session.execute(
                insert(Assignment).values(
                    [
                        {
                            "case_id": batch.case.id,
                            "department": a.department,
                            "role": a.role,
                            "status": a.status,
                            "issued_at": a.issued_at,
                            "ack_due_at": a.ack_due_at,
                            "due_at": a.due_at,
                            "provisional": a.provisional,
                            "warning": a.warning,
                            "overdue": a.overdue,
                            "suspended": a.suspended,
                            "supervised": a.supervised,
                            "extension_requested": a.extension_requested,
                            "suspension_requested": a.suspension_requested,
                            "returns": a.returns,
                            "acknowledged_at": a.acknowledged_at,
                            "completed_at": a.completed_at,
                        }
                        for a in batch.case.assignments
                    ]
                )
            )
    return written


class ProjectionActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @activity.defn(name="project_case")
    async def project_case(self, batch: ProjectionBatch) -> None:
        async with self._sessions() as session, session.begin():
            written = await write_batch(session, batch)
        log.debug(
            "projected",
            case_id=batch.case.id,
            version=batch.case.version,
            events=len(batch.events),
            written=written,
        )
