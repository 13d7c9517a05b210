"""Read-model queries behind the joint meeting's pages: the agenda's case summaries, systemic-issue
proposals (突出问题) and the follow-up of earlier decisions (闭环)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from casebridge.db.models import Assignment, Case, CaseEvent, Meeting, MeetingItem
from casebridge.domain.policy import Policy

OPEN_STATUSES = ("in_progress", "escalated", "resolved")


@dataclass
class Proposal:
    key: str
    kind: str  # counterparty | surge
    title: str
    reason: str
    case_ids: list[str]
    departments: list[str]


@dataclass
class ItemSummary:
    title: str
    category: str
    status: str
    occupation: str | None
    platform: str | None
    counterparty: str | None
    station: str | None
    assignments: list[dict[str, object]] = field(default_factory=list)
    returns: list[dict[str, object]] = field(default_factory=list)
    suspensions: list[dict[str, object]] = field(default_factory=list)


@dataclass
class FollowUp:
    meeting_id: str
    meeting_title: str
    case_id: str
    case_title: str
    case_status: str
    decision: str
    lead_department: str
    resolve_within: str
    decided_at: datetime
    lead_status: str | None
    due_at: datetime | None
    overdue: bool


async def list_meetings(session: AsyncSession) -> list[Meeting]:
    return list(await session.scalars(select(Meeting).order_by(Meeting.scheduled_for.desc(), Meeting.id)))


async def item_summaries(session: AsyncSession, case_ids: list[str]) -> dict[str, ItemSummary]:
    """What a leader needs to decide an item without opening five screens — never the phone."""
    if not case_ids:
        return {}
    cases = {c.id: c for c in await session.scalars(select(Case).where(Case.id.in_(case_ids)))}
    summaries = {
        c.id: ItemSummary(
            c.title, c.category, c.status, c.worker_occupation, c.worker_platform, c.counterparty, c.station
        )
        for c in cases.values()
    }
    for a in await session.scalars(
        select(Assignment).where(Assignment.case_id.in_(case_ids)).order_by(Assignment.issued_at)
    ):
        summaries[a.case_id].assignments.append(
            {
                "department": a.department,
                "role": a.role,
                "status": a.status,
                "overdue": a.overdue,
                "suspended": a.suspended,
                "supervised": a.supervised,
                "due_at": a.due_at,
            }
        )
    events = await session.scalars(
        select(CaseEvent)
        .where(
            CaseEvent.case_id.in_(case_ids),
            CaseEvent.type.in_(["assignment.returned", "assignment.suspended"]),
        )
        .order_by(CaseEvent.case_id, CaseEvent.seq)
    )
    for e in events:
        entry = {
            "department": e.data.get("department"),
            "reason": e.data.get("reason"),
            "at": e.at,
        }
        if e.type == "assignment.returned":
            summaries[e.case_id].returns.append(entry)
        else:
            summaries[e.case_id].suspensions.append({**entry, "until_department": e.data.get("until_department")})
    return summaries


def _key(prefix: str, text: str) -> str:
    return f"{prefix}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


async def proposals(session: AsyncSession, policy: Policy, now: datetime, exclude: set[str]) -> list[Proposal]:
    rules = policy.systemic
    window = timedelta(days=rules.window_days)
    found: list[Proposal] = []

    by_counterparty = await session.execute(
        # Departments are joined to text: array_agg of arrays of different lengths is an error.
        select(Case.counterparty, func.array_agg(Case.id), func.array_agg(func.array_to_string(Case.departments, ",")))
        .where(Case.status.in_(OPEN_STATUSES), Case.counterparty.is_not(None), Case.created_at >= now - window)
        .group_by(Case.counterparty)
        .having(func.count() >= rules.min_cases)
        .order_by(func.count().desc())
    )
    for against, ids, departments in by_counterparty:
        counterparty = str(against)
        found.append(
            Proposal(
                key=_key("counterparty", counterparty),
                kind="counterparty",
                title=f"针对「{counterparty}」的多起诉求",
                reason=f"近 {rules.window_days} 天内有 {len(ids)} 件未结诉求针对同一对象",
                case_ids=sorted(ids),
                departments=sorted({d for joined in departments for d in joined.split(",") if d}),
            )
        )

    recent = dict(
        (
            await session.execute(
                select(Case.category, func.count()).where(Case.created_at >= now - window).group_by(Case.category)
            )
        ).all()
    )
    before = dict(
        (
            await session.execute(
                select(Case.category, func.count())
                .where(Case.created_at >= now - 2 * window, Case.created_at < now - window)
                .group_by(Case.category)
            )
        ).all()
    )
    for category, count in sorted(recent.items()):
        previous = before.get(category, 0)
        if count >= rules.min_cases and count >= rules.surge_factor * max(previous, 1):
            ids = list(
                await session.scalars(
                    select(Case.id)
                    .where(Case.category == category, Case.created_at >= now - window)
                    .order_by(Case.created_at.desc())
                    .limit(50)
                )
            )
            label = policy.categories[category].label if category in policy.categories else category
            found.append(
                Proposal(
                    key=_key("surge", f"{category}:{(now - window).date().isoformat()[:7]}"),
                    kind="surge",
                    title=f"「{label}」类诉求明显增多",
                    reason=f"近 {rules.window_days} 天受理 {count} 件，前一周期 {previous} 件",
                    case_ids=ids,
                    departments=[policy.categories[category].lead] if category in policy.categories else [],
                )
            )
    return [p for p in found if p.key not in exclude]


async def follow_ups(session: AsyncSession, meeting_id: str) -> list[FollowUp]:
    """Decisions of earlier, closed meetings whose supervised work is not done yet."""
    rows = await session.execute(
        select(MeetingItem, Meeting.title, Case)
        .join(Meeting, Meeting.id == MeetingItem.meeting_id)
        .join(Case, Case.id == MeetingItem.case_id)
        .where(
            MeetingItem.state == "decided",
            MeetingItem.meeting_status == "closed",
            MeetingItem.meeting_id != meeting_id,
            Case.status.in_(("in_progress", "escalated")),
        )
        .order_by(MeetingItem.decided_at)
        .limit(200)
    )
    result: list[FollowUp] = []
    for item, meeting_title, case in rows:
        lead = await session.get(Assignment, (case.id, item.lead_department or ""))
        if lead is not None and lead.status == "completed":
            continue
        result.append(
            FollowUp(
                meeting_id=item.meeting_id,
                meeting_title=meeting_title,
                case_id=case.id,
                case_title=case.title,
                case_status=case.status,
                decision=item.decision or "",
                lead_department=item.lead_department or "",
                resolve_within=item.resolve_within or "",
                decided_at=item.decided_at or case.updated_at,
                lead_status=lead.status if lead else None,
                due_at=lead.due_at if lead else None,
                overdue=bool(lead and lead.overdue),
            )
        )
    return result
