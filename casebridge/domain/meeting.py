"""The joint meeting (联席会议): its agenda, the leaders' review, decisions and minutes.

``MeetingMachine`` wraps a ``MeetingState`` the way ``CaseMachine`` wraps a case: ``check_*``
raises and changes nothing (update validators call these), the action methods check again,
mutate and append events to ``outbox``. What a decision does to the case happens in the case's
own workflow; the meeting only records it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from casebridge.domain.errors import Forbidden, InvalidInput, InvalidTransition, NotFound
from casebridge.domain.model import Actor, Event


class MeetingStatus(StrEnum):
    PLANNED = "planned"
    AGENDA_APPROVED = "agenda_approved"
    CLOSED = "closed"


MEETING_STATUS_ZH = {
    MeetingStatus.PLANNED: "议程征集中",
    MeetingStatus.AGENDA_APPROVED: "议程已审定",
    MeetingStatus.CLOSED: "已闭会",
}


@dataclass
class Decision:
    decision: str
    lead_department: str
    assist_departments: list[str]
    resolve_within: str
    decided_by: str
    decided_at: datetime


@dataclass
class AgendaItem:
    """One item: a case escalated to the meeting, or a systemic topic (突出问题) the leader accepted."""

    key: str  # the case id, or "topic:<proposal key>"
    reason: str
    departments: list[str]
    overdue_days: int = 0
    case_id: str | None = None
    title: str = ""
    case_ids: list[str] = field(default_factory=list)  # a topic's cases
    positions: dict[str, str] = field(default_factory=dict)
    decision: Decision | None = None
    carried_from: str | None = None
    added_at: datetime | None = None


@dataclass
class MeetingInput:
    id: str
    title: str
    scheduled_for: datetime
    created_by: str
    department_names: dict[str, str]


@dataclass
class MeetingState:
    id: str
    title: str
    scheduled_for: datetime
    status: MeetingStatus
    department_names: dict[str, str]
    created_at: datetime
    updated_at: datetime
    items: list[AgendaItem] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    dismissed_proposals: list[str] = field(default_factory=list)
    minutes: str | None = None
    carried_over_to: str | None = None
    next_seq: int = 1


# --- payloads -------------------------------------------------------------------------------


@dataclass
class AddItemCommand:
    case_id: str
    reason: str
    departments: list[str]
    overdue_days: int
    title: str
    carried_from: str | None = None


@dataclass
class PositionCommand:
    actor: Actor
    case_id: str
    department: str
    text: str


@dataclass
class ReorderCommand:
    actor: Actor
    keys: list[str]


@dataclass
class DropCommand:
    actor: Actor
    key: str
    reason: str


@dataclass
class ItemDecisionCommand:
    actor: Actor
    key: str
    decision: str
    lead_department: str
    assist_departments: list[str]
    resolve_within: str


@dataclass
class TopicCommand:
    actor: Actor
    proposal_key: str
    title: str
    reason: str
    case_ids: list[str]
    departments: list[str]


@dataclass
class DismissCommand:
    actor: Actor
    proposal_key: str
    reason: str


@dataclass
class MeetingSnapshot:
    id: str
    version: int
    title: str
    scheduled_for: datetime
    status: str
    created_at: datetime
    updated_at: datetime
    items: list[AgendaItem]
    dropped: list[str]
    dismissed_proposals: list[str]
    minutes: str | None


@dataclass
class MeetingProjection:
    meeting: MeetingSnapshot
    events: list[Event]


def _leader(actor: Actor) -> None:
    if actor.role != "leader":
        raise Forbidden("只有联席会议召集人或分管领导可以这样做", "only the meeting's leaders may do this")


class MeetingMachine:
    def __init__(self, state: MeetingState) -> None:
        self.state = state
        self.outbox: list[Event] = []

    @classmethod
    def plan(cls, meeting: MeetingInput, now: datetime) -> MeetingMachine:
        machine = cls(
            MeetingState(
                id=meeting.id,
                title=meeting.title,
                scheduled_for=meeting.scheduled_for,
                status=MeetingStatus.PLANNED,
                department_names=dict(meeting.department_names),
                created_at=now,
                updated_at=now,
            )
        )
        machine._emit(
            "meeting.planned",
            now,
            meeting.created_by,
            title=meeting.title,
            scheduled_for=meeting.scheduled_for.isoformat(),
        )
        return machine

    def _emit(self, type_: str, at: datetime, actor: str, **data: Any) -> None:
        self.outbox.append(Event(self.state.next_seq, type_, at, actor, data))
        self.state.next_seq += 1
        self.state.updated_at = at

    def item(self, key: str) -> AgendaItem:
        for item in self.state.items:
            if item.key == key:
                return item
        raise NotFound(f"议程中没有 {key}", f"the agenda has no item {key}")

    def _require(self, *statuses: MeetingStatus) -> None:
        if self.state.status not in statuses:
            wanted = "、".join(MEETING_STATUS_ZH[s] for s in statuses)
            raise InvalidTransition(
                f"会议{MEETING_STATUS_ZH[self.state.status]}，此操作仅限{wanted}时",
                f"the meeting is {self.state.status.value}; this needs {', '.join(s.value for s in statuses)}",
            )

    # --- the agenda assembles itself ----------------------------------------------------------

    def check_add_item(self, cmd: AddItemCommand) -> bool:
        """True when the case is new to the agenda; adding it again is a no-op (retries, races)."""
        self._require(MeetingStatus.PLANNED)
        return all(item.key != cmd.case_id for item in self.state.items)

    def add_item(self, cmd: AddItemCommand, now: datetime) -> None:
        if not self.check_add_item(cmd):
            return
        self.state.items.append(
            AgendaItem(
                key=cmd.case_id,
                case_id=cmd.case_id,
                reason=cmd.reason,
                departments=list(cmd.departments),
                overdue_days=cmd.overdue_days,
                title=cmd.title,
                carried_from=cmd.carried_from,
                added_at=now,
            )
        )
        self._emit(
            "meeting.item_added",
            now,
            "system",
            case_id=cmd.case_id,
            reason=cmd.reason,
            departments=cmd.departments,
            carried_from=cmd.carried_from,
        )

    def check_position(self, cmd: PositionCommand) -> AgendaItem:
        self._require(MeetingStatus.PLANNED, MeetingStatus.AGENDA_APPROVED)
        if cmd.actor.role != "department" or cmd.actor.department != cmd.department:
            raise Forbidden("只能提交本单位的意见", "a department may submit only its own position")
        item = self.item(cmd.case_id)
        if cmd.department not in item.departments:
            raise Forbidden("本单位未参与该议题", "the department is not involved in this item")
        return item

    def submit_position(self, cmd: PositionCommand, now: datetime) -> None:
        item = self.check_position(cmd)
        item.positions[cmd.department] = cmd.text
        self._emit("meeting.position_submitted", now, cmd.actor.username, key=item.key, department=cmd.department)

    # --- leader review ------------------------------------------------------------------------

    def check_reorder(self, cmd: ReorderCommand) -> None:
        _leader(cmd.actor)
        self._require(MeetingStatus.PLANNED)
        if sorted(cmd.keys) != sorted(item.key for item in self.state.items):
            raise InvalidInput("新顺序须恰好包含全部议题", "the new order must list every agenda item exactly once")

    def reorder(self, cmd: ReorderCommand, now: datetime) -> None:
        self.check_reorder(cmd)
        position = {key: index for index, key in enumerate(cmd.keys)}
        self.state.items.sort(key=lambda item: position[item.key])
        self._emit("meeting.agenda_reordered", now, cmd.actor.username, order=cmd.keys)

    def check_drop(self, cmd: DropCommand) -> AgendaItem:
        _leader(cmd.actor)
        self._require(MeetingStatus.PLANNED)
        return self.item(cmd.key)

    def drop(self, cmd: DropCommand, now: datetime) -> AgendaItem:
        item = self.check_drop(cmd)
        self.state.items.remove(item)
        self.state.dropped.append(item.key)
        self._emit("meeting.item_dropped", now, cmd.actor.username, key=item.key, reason=cmd.reason)
        return item

    def check_accept_topic(self, cmd: TopicCommand) -> None:
        _leader(cmd.actor)
        self._require(MeetingStatus.PLANNED)
        key = f"topic:{cmd.proposal_key}"
        if any(item.key == key for item in self.state.items) or cmd.proposal_key in self.state.dismissed_proposals:
            raise InvalidTransition("该突出问题已处理", "that proposal has already been accepted or dismissed")

    def accept_topic(self, cmd: TopicCommand, now: datetime) -> None:
        self.check_accept_topic(cmd)
        self.state.items.append(
            AgendaItem(
                key=f"topic:{cmd.proposal_key}",
                reason=cmd.reason,
                departments=list(cmd.departments),
                title=cmd.title,
                case_ids=list(cmd.case_ids),
                added_at=now,
            )
        )
        self._emit(
            "meeting.topic_accepted", now, cmd.actor.username, key=cmd.proposal_key, title=cmd.title, cases=cmd.case_ids
        )

    def check_dismiss(self, cmd: DismissCommand) -> None:
        _leader(cmd.actor)
        self._require(MeetingStatus.PLANNED)
        if cmd.proposal_key in self.state.dismissed_proposals:
            raise InvalidTransition("该突出问题已驳回", "that proposal has already been dismissed")

    def dismiss(self, cmd: DismissCommand, now: datetime) -> None:
        self.check_dismiss(cmd)
        self.state.dismissed_proposals.append(cmd.proposal_key)
        self._emit("meeting.proposal_dismissed", now, cmd.actor.username, key=cmd.proposal_key, reason=cmd.reason)

    def check_approve(self, actor: Actor) -> None:
        _leader(actor)
        self._require(MeetingStatus.PLANNED)

    def approve(self, actor: Actor, now: datetime) -> None:
        self.check_approve(actor)
        self.state.status = MeetingStatus.AGENDA_APPROVED
        self._emit("meeting.agenda_approved", now, actor.username, items=[item.key for item in self.state.items])

    # --- decisions and minutes ----------------------------------------------------------------

    def check_decide(self, cmd: ItemDecisionCommand) -> AgendaItem:
        _leader(cmd.actor)
        self._require(MeetingStatus.AGENDA_APPROVED)
        item = self.item(cmd.key)
        if item.decision is not None:
            raise InvalidTransition("该议题已有会议决定", "this item has already been decided")
        for department in [cmd.lead_department, *cmd.assist_departments]:
            if department not in self.state.department_names:
                raise InvalidInput(f"未知单位 {department}", f"unknown department {department!r}")
        if cmd.lead_department in cmd.assist_departments or len(set(cmd.assist_departments)) != len(
            cmd.assist_departments
        ):
            raise InvalidInput("配合单位重复或与牵头单位相同", "assisting departments repeat or include the lead")
        return item

    def decide(self, cmd: ItemDecisionCommand, now: datetime) -> None:
        item = self.check_decide(cmd)
        item.decision = Decision(
            cmd.decision, cmd.lead_department, list(cmd.assist_departments), cmd.resolve_within, cmd.actor.username, now
        )
        self._emit(
            "meeting.decision_recorded",
            now,
            cmd.actor.username,
            key=item.key,
            decision=cmd.decision,
            lead_department=cmd.lead_department,
            assist_departments=cmd.assist_departments,
            resolve_within=cmd.resolve_within,
        )

    def undecided(self) -> list[AgendaItem]:
        return [item for item in self.state.items if item.decision is None and item.case_id is not None]

    def check_close(self, actor: Actor) -> None:
        _leader(actor)
        self._require(MeetingStatus.AGENDA_APPROVED)

    def close(self, actor: Actor, now: datetime) -> None:
        self.check_close(actor)
        self.state.status = MeetingStatus.CLOSED
        self.state.minutes = build_minutes(self.state)
        self._emit(
            "meeting.closed",
            now,
            actor.username,
            decided=[item.key for item in self.state.items if item.decision is not None],
            carried_over=[item.key for item in self.undecided()],
        )

    def record_carry_over(self, next_meeting_id: str, now: datetime) -> None:
        self.state.carried_over_to = next_meeting_id
        self._emit(
            "meeting.items_carried_over",
            now,
            "system",
            to=next_meeting_id,
            items=[item.key for item in self.undecided()],
        )

    def snapshot(self) -> MeetingSnapshot:
        s = self.state
        return MeetingSnapshot(
            id=s.id,
            version=s.next_seq - 1,
            title=s.title,
            scheduled_for=s.scheduled_for,
            status=s.status.value,
            created_at=s.created_at,
            updated_at=s.updated_at,
            items=list(s.items),
            dropped=list(s.dropped),
            dismissed_proposals=list(s.dismissed_proposals),
            minutes=s.minutes,
        )


def build_minutes(state: MeetingState) -> str:
    """会议纪要: who decided what, who leads, by when — built from the recorded decisions."""

    def name(code: str) -> str:
        return state.department_names.get(code, code)

    lines = [f"{state.title} 会议纪要", f"会议时间：{state.scheduled_for.date().isoformat()}", ""]
    decided = [item for item in state.items if item.decision is not None]
    for number, item in enumerate(decided, start=1):
        decision = item.decision
        assert decision is not None
        assist = "、".join(name(d) for d in decision.assist_departments) or "无"
        subject = f"个案 {item.case_id}" if item.case_id else "突出问题"
        lines += [
            f"{number}. {subject}：{item.title}",
            f"   议定：{decision.decision}",
            f"   牵头单位：{name(decision.lead_department)}；配合单位：{assist}；办结时限：{decision.resolve_within}",
            f"   （{decision.decided_by} 于 {decision.decided_at.date().isoformat()} 决定，挂牌督办）",
        ]
    undecided = [item for item in state.items if item.decision is None]
    if undecided:
        lines += ["", "未议定事项（转下次会议）：", *(f"- {item.title or item.key}" for item in undecided)]
    return "\n".join(lines)
