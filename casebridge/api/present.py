"""Read-model rows → API bodies, with the worker's phone masked for those who do not handle the case."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from casebridge.api.schemas import AssignmentOut, CaseOut, EventOut, WorkerOut
from casebridge.api.security import CurrentUserInfo
from casebridge.db.models import Assignment, Case, CaseEvent


def mask_phone(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 7 else "****"


def handles(user: CurrentUserInfo, case: Case) -> bool:
    """The officer and the departments assigned to the case see the worker's phone in full."""
    return user.role == "officer" or (
        user.role == "department" and user.department is not None and user.department in case.departments
    )


def can_see(user: CurrentUserInfo, case: Case) -> bool:
    if user.role == "department":
        return user.department is not None and user.department in case.departments
    return True


def _local(value: datetime, tz: ZoneInfo) -> datetime:
    return value.astimezone(tz)


def _amount(value: Decimal | None) -> str | None:
    return f"{value:.2f}" if value is not None else None


def case_out(case: Case, assignments: list[Assignment], user: CurrentUserInfo, tz: ZoneInfo) -> CaseOut:
    return CaseOut(
        id=case.id,
        status=case.status,
        category=case.category,
        title=case.title,
        description=case.description,
        worker=WorkerOut(
            name=case.worker_name,
            phone=case.worker_phone if handles(user, case) else mask_phone(case.worker_phone),
            occupation=case.worker_occupation,
            platform=case.worker_platform,
        ),
        station=case.station,
        counterparty=case.counterparty,
        amount_claimed=_amount(case.amount_claimed),
        amount_recovered=_amount(case.amount_recovered),
        created_at=_local(case.created_at, tz),
        updated_at=_local(case.updated_at, tz),
        due_at=_local(case.due_at, tz) if case.due_at else None,
        meeting_id=case.meeting_id,
        channel=case.channel,
        assignments=[
            AssignmentOut(
                department=a.department,
                role=a.role,
                status=a.status,
                ack_due_at=_local(a.ack_due_at, tz),
                due_at=_local(a.due_at, tz),
                provisional=a.provisional,
                warning=a.warning,
                overdue=a.overdue,
                suspended=a.suspended,
                supervised=a.supervised,
                extension_requested=a.extension_requested,
                suspension_requested=a.suspension_requested,
            )
            for a in assignments
        ],
    )


def event_out(event: CaseEvent, tz: ZoneInfo) -> EventOut:
    return EventOut(seq=event.seq, type=event.type, at=_local(event.at, tz), actor=event.actor, data=event.data)
