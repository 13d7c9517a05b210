"""The dashboard's figures, computed in SQL from the read model (events and projection rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Boolean, Date, Float, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from casebridge.db.models import Assignment, Case, CaseEvent
from casebridge.db.queries import ACTIVE_ASSIGNMENT, OPEN_STATUSES


@dataclass
class DepartmentRates:
    department: str
    acknowledged: int = 0
    acknowledged_on_time: int = 0
    completed: int = 0
    completed_on_time: int = 0
    open: int = 0
    overdue: int = 0

    @property
    def ack_rate(self) -> float | None:
        return self.acknowledged_on_time / self.acknowledged if self.acknowledged else None

    @property
    def completion_rate(self) -> float | None:
        return self.completed_on_time / self.completed if self.completed else None


@dataclass
class Dashboard:
    open_cases: int
    overdue_cases: int
    escalated_cases: int
    departments: list[DepartmentRates]
    weeks: list[date]  # Mondays, oldest first
    by_category: dict[str, list[int]]  # category → cases taken in, per week
    feedback: int
    satisfied: int
    resolved: int
    average_days_to_resolve: float | None
    status_counts: dict[str, int] = field(default_factory=dict)

    @property
    def satisfaction_rate(self) -> float | None:
        return self.satisfied / self.feedback if self.feedback else None


async def _department_rates(session: AsyncSession) -> list[DepartmentRates]:
    rates: dict[str, DepartmentRates] = {}
    department = CaseEvent.data["department"].astext
    on_time = cast(CaseEvent.data["on_time"].astext, Boolean)
    rows = await session.execute(
        select(CaseEvent.type, department, func.count(), func.count().filter(on_time))
        .where(CaseEvent.type.in_(("assignment.acknowledged", "assignment.completed")))
        .group_by(CaseEvent.type, department)
    )
    for type_, code, total, in_time in rows:
        entry = rates.setdefault(code, DepartmentRates(code))
        if type_ == "assignment.acknowledged":
            entry.acknowledged, entry.acknowledged_on_time = total, in_time
        else:
            entry.completed, entry.completed_on_time = total, in_time
    open_rows = await session.execute(
        select(Assignment.department, func.count(), func.count().filter(Assignment.overdue))
        .join(Case, Case.id == Assignment.case_id)
        .where(Assignment.status.in_(ACTIVE_ASSIGNMENT), Case.status.in_(OPEN_STATUSES))
        .group_by(Assignment.department)
    )
    for code, total, overdue in open_rows:
        entry = rates.setdefault(code, DepartmentRates(code))
        entry.open, entry.overdue = total, overdue
    return [rates[code] for code in sorted(rates)]


async def dashboard(session: AsyncSession, now: datetime, tz_name: str, weeks: int = 12) -> Dashboard:
    status_counts = dict((await session.execute(select(Case.status, func.count()).group_by(Case.status))).all())
    open_cases = sum(count for status, count in status_counts.items() if status in OPEN_STATUSES)
    overdue_cases = int(
        await session.scalar(select(func.count()).select_from(Case).where(Case.overdue, Case.status.in_(OPEN_STATUSES)))
        or 0
    )

    # Weeks start on Monday, in local time: date_trunc('week') on the local wall-clock time.
    local_created = func.timezone(tz_name, Case.created_at)
    week = cast(func.date_trunc("week", local_created), Date)
    this_monday = now.date() - timedelta(days=now.weekday())
    mondays = [this_monday - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    by_category: dict[str, list[int]] = {}
    rows = await session.execute(
        select(week, Case.category, func.count()).where(week >= mondays[0]).group_by(week, Case.category)
    )
    index = {monday: i for i, monday in enumerate(mondays)}
    for monday, category, count in rows:
        if monday in index:
            by_category.setdefault(category, [0] * weeks)[index[monday]] += count

    satisfied_flag = cast(CaseEvent.data["satisfied"].astext, Boolean)
    feedback, satisfied = (
        await session.execute(
            select(func.count(), func.count().filter(satisfied_flag)).where(CaseEvent.type == "case.feedback_recorded")
        )
    ).one()
    days = func.extract("epoch", CaseEvent.at - Case.created_at) / 86400.0
    resolved, average = (
        await session.execute(
            select(func.count(), cast(func.avg(days), Float))
            .join(Case, Case.id == CaseEvent.case_id)
            .where(CaseEvent.type == "case.resolved")
        )
    ).one()
    return Dashboard(
        open_cases=open_cases,
        overdue_cases=overdue_cases,
        escalated_cases=status_counts.get("escalated", 0),
        departments=await _department_rates(session),
        weeks=mondays,
        by_category=dict(sorted(by_category.items())),
        feedback=int(feedback),
        satisfied=int(satisfied),
        resolved=int(resolved),
        average_days_to_resolve=float(average) if average is not None else None,
        status_counts=status_counts,
    )
