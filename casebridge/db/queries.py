"""Read-model queries for the API. Every hot list is index-backed (see models.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Select, and_, case, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from casebridge.db.models import Assignment, Case, CaseEvent
from casebridge.db.search import like_pattern, query_tokens

_T = TypeVar("_T")

OPEN_STATUSES = ("in_progress", "escalated", "resolved")
ACTIVE_ASSIGNMENT = ("pending_ack", "acknowledged")


@dataclass(frozen=True)
class CaseFilter:
    status: str | None = None
    category: str | None = None
    department: str | None = None
    overdue: bool | None = None
    q: str | None = None
    # Set for department users: only cases with an assignment for this department.
    visible_to_department: str | None = None
    # Only cases still open (in progress, escalated, or resolved and waiting for feedback).
    open_only: bool = False


def _apply(statement: Select[_T], f: CaseFilter) -> Select[_T]:
    conditions = []
    if f.status:
        conditions.append(Case.status == f.status)
    if f.open_only:
        conditions.append(Case.status.in_(OPEN_STATUSES))
    if f.category:
        conditions.append(Case.category == f.category)
    for department in (f.department, f.visible_to_department):
        if department:
            conditions.append(Case.departments.contains([department]))
    if f.overdue is not None:
        # "WHERE overdue" (not "IS true"), so the planner can use the partial index on overdue cases.
        conditions.append(Case.overdue.expression if f.overdue else not_(Case.overdue))
    if f.q:
        searchable: list[InstrumentedAttribute[str]] = [Case.title, Case.description, Case.worker_name]
        for word in f.q.split():
            tokens = query_tokens(word)
            if tokens:
                conditions.append(Case.search_tokens.contains(tokens))
            pattern = like_pattern(word)
            conditions.append(or_(*(column.ilike(pattern, escape="\\") for column in searchable)))
    return statement.where(and_(*conditions)) if conditions else statement


# Lists count their matches up to this many and say "more" beyond it: an exact count of a million
# open cases reads every one of them, and no one pages that far (bench/read_model_scale.py: at a
# million cases a cap of 10 000 still cost a department's list 145 ms; 1 000, a few).
COUNT_CAP = 1_000


@dataclass(frozen=True)
class CasePage:
    items: list[Case]
    total: int  # matches, exact up to COUNT_CAP
    total_capped: bool  # more than COUNT_CAP match; total is COUNT_CAP


async def _counted(session: AsyncSession, f: CaseFilter, items: list[Case]) -> CasePage:
    matches = _apply(select(Case.id), f)
    if (f.department or f.visible_to_department) and not f.q and f.overdue is None:
        # A department matches a large share of all cases, and its GIN containment is a bitmap
        # built from every match before the first row is read; walking (status, created_at) in
        # page order instead stops at the cap. Not for searches or the overdue filter, whose own
        # indexes find few rows fast and would be passed over for a long walk.
        matches = matches.order_by(Case.created_at.desc())
    capped = matches.limit(COUNT_CAP + 1).subquery()
    counted = int(await session.scalar(select(func.count()).select_from(capped)) or 0)
    return CasePage(items, min(counted, COUNT_CAP), counted > COUNT_CAP)


async def list_cases(session: AsyncSession, f: CaseFilter, limit: int, offset: int) -> CasePage:
    page = _apply(select(Case), f).order_by(Case.created_at.desc(), Case.id.desc()).limit(limit).offset(offset)
    return await _counted(session, f, list(await session.scalars(page)))


async def list_by_urgency(session: AsyncSession, f: CaseFilter, limit: int, offset: int) -> CasePage:
    """The officer's queue: overdue first, then cases with a warning, then by the nearest deadline."""
    warned = (
        select(Assignment.case_id)
        .where(Assignment.case_id == Case.id, Assignment.warning, Assignment.status.in_(ACTIVE_ASSIGNMENT))
        .exists()
    )
    page = (
        _apply(select(Case), f)
        .order_by(
            Case.overdue.desc(),
            warned.desc(),
            Case.due_at.asc().nulls_last(),
            Case.created_at.desc(),
            Case.id,
        )
        .limit(limit)
        .offset(offset)
    )
    return await _counted(session, f, list(await session.scalars(page)))


async def department_inbox(session: AsyncSession, department: str, limit: int = 200) -> list[tuple[Assignment, Case]]:
    """A department's open assignments: those to acknowledge first, by acknowledgement deadline,
    then the acknowledged ones by resolution deadline."""
    pending_first = case((Assignment.status == "pending_ack", 0), else_=1)
    deadline = case((Assignment.status == "pending_ack", Assignment.ack_due_at), else_=Assignment.due_at)
    rows = await session.execute(
        select(Assignment, Case)
        .join(Case, Case.id == Assignment.case_id)
        .where(
            Assignment.department == department,
            Assignment.status.in_(ACTIVE_ASSIGNMENT),
            Case.status.in_(("in_progress", "escalated")),
            Case.departments.contains([department]),
        )
        .order_by(pending_first, deadline, Case.id)
        .limit(limit)
    )
    return [(assignment, case_) for assignment, case_ in rows]


async def assignments_for(session: AsyncSession, case_ids: Sequence[str]) -> dict[str, list[Assignment]]:
    result: dict[str, list[Assignment]] = {case_id: [] for case_id in case_ids}
    if not case_ids:
        return result
    rows = await session.scalars(
        select(Assignment).where(Assignment.case_id.in_(case_ids)).order_by(Assignment.issued_at, Assignment.department)
    )
    for row in rows:
        result[row.case_id].append(row)
    return result


async def get_case(session: AsyncSession, case_id: str) -> Case | None:
    return await session.get(Case, case_id, populate_existing=True)


async def events_for(session: AsyncSession, case_id: str) -> list[CaseEvent]:
    return list(await session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)))


async def open_cases_with_provisional_deadlines(session: AsyncSession) -> list[str]:
    rows = await session.scalars(
        select(Assignment.case_id)
        .join(Case, Case.id == Assignment.case_id)
        .where(
            Assignment.provisional.is_(True),
            Assignment.status.in_(["pending_ack", "acknowledged"]),
            Case.status.in_(["in_progress", "escalated", "resolved"]),
        )
        .distinct()
    )
    return list(rows)
