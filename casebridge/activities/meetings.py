"""Joint-meeting I/O: the meeting read model, placing escalated cases on an agenda, and carrying
meeting decisions to the cases (through the case workflows' own updates)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

import structlog
from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from casebridge.db.models import Assignment, Case, Meeting, MeetingEvent, MeetingItem
from casebridge.db.writes import append_events, upsert_if_newer
from casebridge.domain.calendar import WorkingCalendar, add_duration, working_days_between
from casebridge.domain.durations import parse_duration
from casebridge.domain.meeting import AddItemCommand, AgendaItem, MeetingInput, MeetingProjection, MeetingSnapshot
from casebridge.domain.model import (
    Actor,
    AgendaCommand,
    LeaveAgendaCommand,
    MeetingDecisionCommand,
    PlaceRequest,
)

log = structlog.get_logger(__name__)

# Serialises planning and placement across workers: two escalations at once must not plan two
# meetings or put a case on two agendas. A transaction-scoped advisory lock, so a crash frees it.
PLACEMENT_LOCK = 0x43415345  # "CASE"
CASE_NOT_RUNNING = "CaseNotRunning"
ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
SYSTEM = Actor("system", "system")


@dataclass
class CaseDecisionRequest:
    case_id: str
    meeting_id: str
    actor: Actor
    decision: str
    lead_department: str
    assist_departments: list[str]
    resolve_within: str


@dataclass
class ReleaseRequest:
    case_id: str
    meeting_id: str
    reason: str
    actor: Actor


def new_meeting_id(scheduled_for: datetime, tz: tzinfo) -> str:
    day = scheduled_for.astimezone(tz).strftime("%Y%m%d")
    return f"M-{day}-{''.join(secrets.choice(ID_ALPHABET) for _ in range(4))}"


def _item_json(item: AgendaItem) -> dict[str, Any]:
    return asdict(
        item, dict_factory=lambda pairs: {k: v.isoformat() if isinstance(v, datetime) else v for k, v in pairs}
    )


async def write_meeting(session: AsyncSession, batch: MeetingProjection) -> None:
    """Write one meeting batch inside the caller's transaction (events, the meeting row, its items)."""
    m = batch.meeting
    await append_events(session, MeetingEvent, "meeting_id", m.id, batch.events)
    row = {
        "id": m.id,
        "version": m.version,
        "title": m.title,
        "scheduled_for": m.scheduled_for,
        "status": m.status,
        "created_at": m.created_at,
        "updated_at": m.updated_at,
        "items": [_item_json(item) for item in m.items],
        "dismissed_proposals": m.dismissed_proposals,
        "minutes": m.minutes,
    }
    if not await upsert_if_newer(session, Meeting, row):
        return  # a newer snapshot is already there
    await session.execute(delete(MeetingItem).where(MeetingItem.meeting_id == m.id))
    rows = [_item_row(m, position, item) for position, item in enumerate(m.items)]
    rows += [
        {
            "meeting_id": m.id,
            "key": key,
            "case_id": key if not key.startswith("topic:") else None,
            "position": -1,
            "state": "dropped",
            "meeting_status": m.status,
            "decided_at": None,
            "lead_department": None,
            "resolve_within": None,
            "decision": None,
        }
        for key in m.dropped
        if all(item.key != key for item in m.items)
    ]
    if rows:
        await session.execute(insert(MeetingItem).values(rows))


def _item_row(m: MeetingSnapshot, position: int, item: AgendaItem) -> dict[str, Any]:
    decision = item.decision
    return {
        "meeting_id": m.id,
        "key": item.key,
        "case_id": item.case_id,
        "position": position,
        "state": "decided" if decision else "open",
        "meeting_status": m.status,
        "decided_at": decision.decided_at if decision else None,
        "lead_department": decision.lead_department if decision else None,
        "resolve_within": decision.resolve_within if decision else None,
        "decision": decision.decision if decision else None,
    }


class MeetingActivities:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: Callable[[], Client],
        task_queue: str,
        interval: str,
        department_names: dict[str, str],
        load_calendar: Callable[[], WorkingCalendar],
        tz: tzinfo,
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._task_queue = task_queue
        self._interval = interval
        self._department_names = department_names
        self._load_calendar = load_calendar
        self._tz = tz

    # --- read model -------------------------------------------------------------------------

    @activity.defn(name="project_meeting")
    async def project_meeting(self, batch: MeetingProjection) -> None:
        async with self._sessions() as session, session.begin():
            await write_meeting(session, batch)

    # --- placing cases on an agenda -----------------------------------------------------------

    @activity.defn(name="place_on_agenda")
    async def place_on_agenda(self, request: PlaceRequest) -> str:
        """The meeting whose agenda now holds the case: the one it is already on, else the
        earliest planned meeting, else a meeting planned now by the policy's cadence."""
        client = self._client()
        async with self._sessions() as session, session.begin():
            await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PLACEMENT_LOCK})
            already = await session.scalar(
                select(MeetingItem.meeting_id).where(
                    MeetingItem.case_id == request.case_id,
                    MeetingItem.state == "open",
                    MeetingItem.meeting_status != "closed",
                    MeetingItem.meeting_id != (request.carried_from or ""),
                )
            )
            if already is not None:
                return already
            command = await self._item_command(session, request)
            planned = list(
                await session.scalars(
                    select(Meeting.id).where(Meeting.status == "planned").order_by(Meeting.scheduled_for, Meeting.id)
                )
            )
            for meeting_id in planned:
                try:
                    await client.get_workflow_handle(meeting_id).execute_update("add_item", command)
                    return meeting_id
                except WorkflowUpdateFailedError:
                    continue  # approved (frozen) since we read it: try the next one
                except RPCError as exc:
                    if exc.status is not RPCStatusCode.NOT_FOUND:
                        raise
                    log.warning("planned meeting has no running workflow", meeting_id=meeting_id)
                    continue  # terminated by an operator: it can take no items
            meeting_id = await self._plan(client, None)
            await client.get_workflow_handle(meeting_id).execute_update("add_item", command)
            return meeting_id

    async def _item_command(self, session: AsyncSession, request: PlaceRequest) -> AddItemCommand:
        case = await session.get(Case, request.case_id)
        if case is None:
            raise ApplicationError(f"no case {request.case_id} in the read model yet", type="NotProjected")
        assignments = list(await session.scalars(select(Assignment).where(Assignment.case_id == case.id)))
        now = datetime.now(self._tz)
        calendar = self._load_calendar()
        overdue_days = 0
        for a in assignments:
            if a.overdue:
                due = a.ack_due_at if a.status == "pending_ack" and a.ack_due_at < now else a.due_at
                # The deadline is 24:00 of its last day; count the working days after that day.
                overdue_days = max(
                    overdue_days, working_days_between(due - timedelta(microseconds=1), now, calendar, self._tz)
                )
        return AddItemCommand(
            case_id=case.id,
            reason=request.reason,
            departments=sorted({a.department for a in assignments}),
            overdue_days=max(overdue_days, 0),
            title=case.title,
            carried_from=request.carried_from,
        )

    async def _plan(self, client: Client, after: datetime | None) -> str:
        """Plan the next meeting by the policy's cadence and return its id."""
        from casebridge.workflows.meeting import JointMeetingWorkflow, MeetingWorkflowInput

        base = max(after or datetime.now(self._tz), datetime.now(self._tz))
        scheduled = add_duration(base, parse_duration(self._interval), self._load_calendar(), self._tz).at
        scheduled = scheduled - timedelta(hours=24) + timedelta(hours=9)  # 09:00 on the last day
        meeting_id = new_meeting_id(scheduled, self._tz)
        title = f"新就业形态劳动者权益保障联席会议（{scheduled.astimezone(self._tz).strftime('%Y年%m月%d日')}）"
        handle = await client.start_workflow(
            JointMeetingWorkflow.run,
            MeetingWorkflowInput(MeetingInput(meeting_id, title, scheduled, "system", self._department_names)),
            id=meeting_id,
            task_queue=self._task_queue,
        )
        await handle.execute_update(JointMeetingWorkflow.opened)
        log.info("meeting planned", meeting_id=meeting_id, scheduled_for=scheduled.isoformat())
        return meeting_id

    @activity.defn(name="carry_over")
    async def carry_over(self, meeting: MeetingSnapshot) -> str:
        """After a meeting closes: make sure the next one is planned, and move the undecided
        cases onto its agenda (each case records the move on its own timeline)."""
        client = self._client()
        async with self._sessions() as session, session.begin():
            await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PLACEMENT_LOCK})
            next_id = await session.scalar(
                select(Meeting.id)
                .where(Meeting.status == "planned", Meeting.id != meeting.id)
                .order_by(Meeting.scheduled_for, Meeting.id)
            )
        if next_id is None:
            next_id = await self._plan(client, meeting.scheduled_for)
        for item in meeting.items:
            if item.decision is not None or item.case_id is None:
                continue
            if not await _running(client, item.case_id):
                # Closed (or terminated by an operator) since it joined the agenda: nothing to carry.
                log.warning("carry over skipped: the case is no longer running", case_id=item.case_id)
                continue
            placed = await self.place_on_agenda(PlaceRequest(item.case_id, item.reason, carried_from=meeting.id))
            try:
                await client.get_workflow_handle(item.case_id).execute_update(
                    "add_to_agenda", AgendaCommand(SYSTEM, placed), id=_update_id(item.case_id)
                )
            except WorkflowUpdateFailedError as exc:  # withdrawn meanwhile: nothing to carry
                log.warning("carry over skipped", case_id=item.case_id, error=str(exc.cause))
            except RPCError as exc:
                if exc.status is not RPCStatusCode.NOT_FOUND:
                    raise
                log.warning("carry over skipped: the case closed meanwhile", case_id=item.case_id)
        return next_id

    # --- decisions reach the cases ----------------------------------------------------------

    @activity.defn(name="apply_case_decision")
    async def apply_case_decision(self, request: CaseDecisionRequest) -> None:
        command = MeetingDecisionCommand(
            request.actor,
            request.meeting_id,
            request.decision,
            request.lead_department,
            request.assist_departments,
            request.resolve_within,
        )
        await self._case_update(request.case_id, "record_decision", command)

    @activity.defn(name="release_case")
    async def release_case(self, request: ReleaseRequest) -> None:
        command = LeaveAgendaCommand(request.actor, request.meeting_id, request.reason)
        try:
            await self._case_update(request.case_id, "leave_agenda", command)
        except ApplicationError as exc:
            if exc.type != CASE_NOT_RUNNING:
                raise
            # A case that is no longer running has nothing to go back to: dropping its item is enough.
            log.warning("dropped item's case is no longer running", case_id=request.case_id)

    async def _case_update(self, case_id: str, update: str, command: object) -> None:
        try:
            await self._client().get_workflow_handle(case_id).execute_update(update, command, id=_update_id(update))
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError):
                # The case refused: pass its reason on, by name, without retrying.
                raise ApplicationError(str(cause), *cause.details, type=cause.type, non_retryable=True) from exc
            raise
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
            # Retrying cannot bring a closed workflow back: say so at once, by name.
            zh, en = "个案已结束，无法执行会议决定", f"case {case_id} is no longer running"
            raise ApplicationError(f"{zh} / {en}", zh, en, type=CASE_NOT_RUNNING, non_retryable=True) from exc


def _update_id(key: str) -> str:
    """The same update id on every attempt of this activity: when an attempt's update reached the
    case but its answer was lost (a timeout, a killed worker), the retry is answered by the case
    with what it answered the first time (CaseWorkflow.applied_once), not applied again or refused
    as no longer valid."""
    info = activity.info()
    return f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}/{key}"


async def _running(client: Client, case_id: str) -> bool:
    """Whether the case's workflow is still running (a closed or unknown one takes no updates)."""
    try:
        description = await client.get_workflow_handle(case_id).describe()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return description.status is WorkflowExecutionStatus.RUNNING
