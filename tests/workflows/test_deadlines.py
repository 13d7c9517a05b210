"""Deadlines as a user sees them: dates on the working-day calendar, warnings, overdue, escalation,
suspension and extension, on the time-skipping Temporal server with the real read model.

The time-skipping server's clock starts at the real now and only moves forward, and the server is
shared by the whole session: every instant here is derived from the case's own ``created_at`` (its
issue time) and compared with an independent computation, never with a fixed "today".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowHandle
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from casebridge.activities.deadlines import DeadlineActivities, compute_schedule
from casebridge.calendar_source import load_calendar
from casebridge.db.models import CaseEvent
from casebridge.domain.model import (
    Actor,
    AssignmentRole,
    AssignmentView,
    CaseSnapshot,
    CategoryPolicy,
    DecisionCommand,
    DepartmentCommand,
    ExtensionCommand,
    RouteCommand,
    Schedule,
    ScheduleRequest,
    SuspendCommand,
    TextCommand,
)
from casebridge.workflows import CaseWorkflow
from tests.support import (
    OFFICER,
    SHANGHAI,
    courier,
    default_policy,
    dept,
    hazard,
    new_case_id,
    running_worker,
    truck_driver,
)

pytestmark = pytest.mark.timeout(20)

ADMIN = Actor("admin", "admin")
# How late a timer may be recorded after the instant it was set for.
TIMER_SLACK = timedelta(seconds=5)
MINUTE = timedelta(minutes=1)


def _span(first: str, last: str) -> set[date]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return {start + timedelta(days=i) for i in range((end - start).days + 1)}


# 国务院办公厅关于2026年部分节假日安排的通知, written out independently of the calendar package.
HOLIDAYS_2026 = (
    _span("2026-01-01", "2026-01-03")
    | _span("2026-02-15", "2026-02-23")
    | _span("2026-04-04", "2026-04-06")
    | _span("2026-05-01", "2026-05-05")
    | _span("2026-06-19", "2026-06-21")
    | _span("2026-09-25", "2026-09-27")
    | _span("2026-10-01", "2026-10-07")
)
WORKDAYS_2026 = {
    date.fromisoformat(d) for d in ("2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10")
}

# An override for 2027 in the format of policy/calendar-override.example.toml (invented dates).
HOLIDAYS_2027 = (
    _span("2027-01-01", "2027-01-03")
    | _span("2027-02-06", "2027-02-14")
    | _span("2027-04-03", "2027-04-05")
    | _span("2027-05-01", "2027-05-05")
    | {date(2027, 6, 9), date(2027, 9, 15)}
    | _span("2027-10-01", "2027-10-07")
)
WORKDAYS_2027 = {date.fromisoformat(d) for d in ("2027-02-20", "2027-04-25", "2027-05-08", "2027-09-26", "2027-10-09")}
OVERRIDE_2027 = (
    "# Casebridge calendar override for the test\n\n[years.2027]\n"
    f"holidays = [{', '.join(repr(d.isoformat()) for d in sorted(HOLIDAYS_2027))}]\n"
    f"workdays = [{', '.join(repr(d.isoformat()) for d in sorted(WORKDAYS_2027))}]\n"
).replace("'", '"')


def end_of_nth_working_day(
    issued_at: datetime, n: int, holidays: set[date], workdays: set[date], known_years: set[int]
) -> datetime:
    """The statutory count, written out: the day after issue is day one; ends at 24:00 local."""
    day, counted = issued_at.astimezone(SHANGHAI).date(), 0
    while counted < n:
        day += timedelta(days=1)
        if day.year in known_years:
            working = day in workdays or (day.weekday() < 5 and day not in holidays)
        else:
            working = day.weekday() < 5
        counted += working
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=SHANGHAI)


def wage_request(issued_at: datetime, extensions: list[str] | None = None) -> ScheduleRequest:
    wage = default_policy().categories["wage_arrears"]
    return ScheduleRequest(
        issued_at, wage.ack_within, wage.resolve_within, wage.escalate_after_overdue, list(extensions or [])
    )


def schedule_on(request: ScheduleRequest, overrides: Path | None = None) -> Schedule:
    return compute_schedule(request, load_calendar(overrides), SHANGHAI)


def assignment(snap: CaseSnapshot, department: str) -> AssignmentView:
    return next(a for a in snap.assignments if a.department == department)


async def case_events(sessions: async_sessionmaker[AsyncSession], case_id: str) -> list[CaseEvent]:
    async with sessions() as session:
        rows = await session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq))
        events = list(rows)
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), "seq must be gapless"
    return events


async def eventually(
    sessions: async_sessionmaker[AsyncSession], case_id: str, found: Callable[[list[CaseEvent]], Any]
) -> list[CaseEvent]:
    """The read model may trail the workflow by one projection activity; wait (real time) a little."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3
    while True:
        events = await case_events(sessions, case_id)
        if found(events) or loop.time() > deadline:
            return events
        await asyncio.sleep(0.05)


def of_type(events: list[CaseEvent], type_: str, **data: Any) -> list[CaseEvent]:
    return [e for e in events if e.type == type_ and all(e.data.get(k) == v for k, v in data.items())]


async def sleep_until(env: WorkflowEnvironment, instant: datetime) -> None:
    now = await env.get_current_time()
    assert instant > now, f"{instant} is already past (server time {now})"
    await env.sleep(instant - now)


async def snapshot(handle: WorkflowHandle[CaseWorkflow, str]) -> CaseSnapshot:
    return await handle.query(CaseWorkflow.snapshot)


def assert_recorded_at(event: CaseEvent, instant: datetime) -> None:
    assert instant <= event.at <= instant + TIMER_SLACK, f"{event.type} recorded at {event.at}, due {instant}"


# --- the calendar: Spring Festival 2026 --------------------------------------------------------


async def test_sixty_working_days_issued_before_spring_festival_2026_lands_on_14_may() -> None:
    """劳动保障监察 60 working days from Tuesday 2026-02-10: 春节 (2-15 … 2-23) does not count,
    the make-up Saturdays 2-14 and 2-28 and 5-9 do, and so does nothing of 清明 and 劳动节."""
    issued = datetime(2026, 2, 10, 10, 0, tzinfo=SHANGHAI)
    activities = DeadlineActivities(lambda: load_calendar(None), SHANGHAI)
    schedule: Schedule = await ActivityEnvironment().run(activities.compute_schedule, wage_request(issued))
    assert schedule.due_at == datetime(2026, 5, 15, 0, 0, tzinfo=SHANGHAI)  # 24:00 on Thursday 5-14
    assert schedule.due_at == end_of_nth_working_day(issued, 60, HOLIDAYS_2026, WORKDAYS_2026, {2026})
    assert schedule.ack_due_at == datetime(2026, 2, 12, 0, 0, tzinfo=SHANGHAI)  # 24:00 Wednesday 2-11
    assert schedule.provisional is False
    # Issued on the Friday before the holiday: Saturday 2-14 is a working day and counts as day one.
    friday = datetime(2026, 2, 13, 18, 0, tzinfo=SHANGHAI)
    for when in (friday, datetime(2026, 2, 14, 9, 0, tzinfo=SHANGHAI), datetime(2026, 2, 20, 9, 0, tzinfo=SHANGHAI)):
        got: Schedule = await ActivityEnvironment().run(activities.compute_schedule, wage_request(when))
        assert got.due_at == end_of_nth_working_day(when, 60, HOLIDAYS_2026, WORKDAYS_2026, {2026}), when
        assert got.ack_due_at == end_of_nth_working_day(when, 1, HOLIDAYS_2026, WORKDAYS_2026, {2026}), when
    friday_ack: Schedule = await ActivityEnvironment().run(activities.compute_schedule, wage_request(friday))
    assert friday_ack.ack_due_at == datetime(2026, 2, 15, 0, 0, tzinfo=SHANGHAI)  # 24:00 on make-up Saturday 2-14


async def test_workflow_deadlines_are_the_schedule_activity_anchored_at_issue(
    time_env: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with running_worker(time_env.client, sessions) as cases:
        _, snap = await cases.open(courier(new_case_id(), default_policy()))
    expected = schedule_on(wage_request(snap.created_at))
    for a in snap.assignments:
        assert (a.ack_due_at, a.due_at, a.provisional) == (expected.ack_due_at, expected.due_at, expected.provisional)
    assert snap.due_at == expected.due_at
    events = await case_events(sessions, snap.id)
    issued = of_type(events, "assignment.issued")
    assert [datetime.fromisoformat(e.data["due_at"]) for e in issued] == [expected.due_at] * 2
    assert [e.data["provisional"] for e in issued] == [expected.provisional] * 2


async def test_workflow_uses_the_policy_the_case_was_opened_with(
    time_env: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A case keeps its policy: a category written with other clocks is what its deadlines follow."""
    case = courier(new_case_id(), default_policy())
    case.policy = CategoryPolicy(
        "wage_arrears", "hrss", [], "2 hours", "60 working days", [0.5], "1 working day", label="劳动报酬"
    )
    async with running_worker(time_env.client, sessions) as cases:
        _, snap = await cases.open(case)
    assert [a.department for a in snap.assignments] == ["hrss"]
    expected = schedule_on(ScheduleRequest(snap.created_at, "2 hours", "60 working days", "1 working day"))
    hrss = assignment(snap, "hrss")
    assert hrss.ack_due_at == snap.created_at + timedelta(hours=2) == expected.ack_due_at
    assert hrss.due_at == expected.due_at


async def test_deadlines_count_from_the_instant_the_assignment_records_as_issued(
    time_env: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """DESIGN: ack_within and resolve_within count from the moment the assignment is issued. With an
    hours-based clock (安全隐患: acknowledge within 2 hours) that moment shows to the minute, and a
    later recomputation (extension, calendar) counts again from the recorded ``issued_at``."""
    async with running_worker(time_env.client, sessions) as cases:
        handle, snap = await cases.open(hazard(new_case_id(), default_policy()))
        traffic = assignment(snap, "traffic")
        events = await case_events(sessions, snap.id)
        [issued] = of_type(events, "assignment.issued")
        assert datetime.fromisoformat(issued.data["issued_at"]) == traffic.issued_at
        # Routed later by the officer: the same rule.
        routed = await handle.execute_update(CaseWorkflow.route, RouteCommand(OFFICER, "hrss", AssignmentRole.ASSIST))
        hrss = assignment(routed, "hrss")
    counted = {
        "traffic (opened)": traffic.ack_due_at - traffic.issued_at,
        "hrss (routed)": hrss.ack_due_at - hrss.issued_at,
    }
    assert counted == dict.fromkeys(counted, timedelta(hours=2)), (
        f"ack_due_at - issued_at per assignment: {counted}; the deadlines are counted from an instant "
        "before the one the assignment records as issued"
    )


# --- provisional deadlines and the override file ----------------------------------------------


async def test_deadline_into_an_unpublished_year_is_provisional_until_the_override_is_loaded(
    time_env: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    overrides = tmp_path / "calendar-override.toml"
    overrides.write_text("# no years yet: the 2027 schedule is not published\n", encoding="utf-8")
    async with running_worker(time_env.client, sessions, overrides=overrides) as cases:
        handle, snap = await cases.open(courier(new_case_id(), default_policy()))
        issued = snap.created_at
        if issued.astimezone(SHANGHAI).year != 2026:
            pytest.skip("the scenario needs a case issued in 2026 whose 60 working days run into 2027")
        weekdays_only = end_of_nth_working_day(issued, 60, HOLIDAYS_2026, WORKDAYS_2026, {2026})
        assert weekdays_only.year == 2027
        for a in snap.assignments:
            assert a.provisional is True
            assert a.due_at == weekdays_only

        # The State Council publishes 2027; the operator drops it into the override file.
        overrides.write_text(OVERRIDE_2027, encoding="utf-8")
        exact = end_of_nth_working_day(
            issued, 60, HOLIDAYS_2026 | HOLIDAYS_2027, WORKDAYS_2026 | WORKDAYS_2027, {2026, 2027}
        )
        assert exact > weekdays_only, "the override must put holidays inside the counted range"
        moved = await handle.execute_update(CaseWorkflow.recompute_deadlines, ADMIN)
        assert moved == 2
        snap = await snapshot(handle)
        for a in snap.assignments:
            assert a.provisional is False
            assert a.due_at == exact
        assert snap.due_at == exact
        events = await eventually(sessions, snap.id, lambda ev: len(of_type(ev, "assignment.deadline_recomputed")) == 2)
        recomputed = of_type(events, "assignment.deadline_recomputed")
        assert sorted(e.data["department"] for e in recomputed) == ["hrss", "justice"]
        for e in recomputed:
            assert datetime.fromisoformat(e.data["previous_due_at"]) == weekdays_only
            assert datetime.fromisoformat(e.data["due_at"]) == exact
            assert e.data["provisional"] is False
        # Nothing left to recompute.
        assert await handle.execute_update(CaseWorkflow.recompute_deadlines, ADMIN) == 0


# --- acknowledgement missed: overdue, then escalation --------------------------------------------


async def test_missed_acknowledgement_goes_overdue_at_ack_due_and_escalates_after_five_working_days(
    time_env: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with running_worker(time_env.client, sessions) as cases:
        handle, snap = await cases.open(courier(new_case_id(), default_policy()))
        await handle.execute_update(CaseWorkflow.acknowledge, DepartmentCommand(dept("hrss"), "hrss"))
        schedule = schedule_on(wage_request(snap.created_at))
        assert assignment(snap, "justice").ack_due_at == schedule.ack_due_at

        await sleep_until(time_env, schedule.ack_due_at - MINUTE)
        assert not assignment(await snapshot(handle), "justice").overdue
        assert of_type(await case_events(sessions, snap.id), "assignment.overdue") == []

        await sleep_until(time_env, schedule.ack_due_at + MINUTE)
        events = await eventually(sessions, snap.id, lambda ev: of_type(ev, "assignment.overdue"))
        [overdue] = of_type(events, "assignment.overdue")
        assert overdue.data["department"] == "justice"
        assert overdue.data["deadline"] == "ack"
        assert datetime.fromisoformat(overdue.data["due_at"]) == schedule.ack_due_at
        assert_recorded_at(overdue, schedule.ack_due_at)
        now = await snapshot(handle)
        assert assignment(now, "justice").overdue and now.status == "in_progress"

        # escalate_after_overdue = 5 working days after the ack deadline.
        await sleep_until(time_env, schedule.ack_escalate_at - MINUTE)
        assert (await snapshot(handle)).status == "in_progress"
        assert of_type(await case_events(sessions, snap.id), "case.escalated") == []

        await sleep_until(time_env, schedule.ack_escalate_at + MINUTE)
        events = await eventually(sessions, snap.id, lambda ev: of_type(ev, "case.escalated"))
        [escalated] = of_type(events, "case.escalated")
        assert escalated.data["trigger"] == "overdue"
        assert (escalated.data["department"], escalated.data["deadline"]) == ("justice", "ack")
        assert_recorded_at(escalated, schedule.ack_escalate_at)
        assert (await snapshot(handle)).status == "escalated"


# --- suspension ---------------------------------------------------------------------------------


async def test_suspension_stops_the_clock_and_moves_deadlines_by_the_suspended_time(
    time_env: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """安全隐患: acknowledge within 2 hours, resolve within 2 working days. The officer stops the clock
    for ten days: both deadlines pass meanwhile and nothing fires; afterwards they are ten days later."""
    days = 10
    async with running_worker(time_env.client, sessions) as cases:
        handle, snap = await cases.open(hazard(new_case_id(), default_policy()))
        before = assignment(snap, "traffic")
        await handle.execute_update(CaseWorkflow.suspend, SuspendCommand(OFFICER, "traffic", "等待物业提供产权资料"))
        assert assignment(await snapshot(handle), "traffic").suspended

        await time_env.sleep(timedelta(days=days))
        during = await snapshot(handle)
        assert during.status == "in_progress"
        assert during.assignments[0].suspended and not during.assignments[0].overdue
        assert not during.assignments[0].warning
        assert before.due_at < await time_env.get_current_time()  # the original deadline has passed

        resumed = await handle.execute_update(CaseWorkflow.resume, DepartmentCommand(OFFICER, "traffic"))
        after = assignment(resumed, "traffic")
        events = await case_events(sessions, snap.id)
        [suspended_event] = of_type(events, "assignment.suspended")
        [resumed_event] = of_type(events, "assignment.resumed")
        paused = resumed_event.at - suspended_event.at
        assert abs(paused - timedelta(days=days)) < timedelta(seconds=5)
        assert resumed_event.data["suspended_seconds"] == paused.total_seconds()
        assert after.ack_due_at - before.ack_due_at == paused
        assert after.due_at - before.due_at == paused
        assert not after.suspended and not after.overdue
        assert of_type(events, "assignment.overdue") == [] and of_type(events, "assignment.warning") == []

        # The moved acknowledgement deadline is the one that now fires.
        await sleep_until(time_env, after.ack_due_at + MINUTE)
        events = await eventually(sessions, snap.id, lambda ev: of_type(ev, "assignment.overdue"))
        [overdue] = of_type(events, "assignment.overdue")
        assert datetime.fromisoformat(overdue.data["due_at"]) == after.ack_due_at
        assert_recorded_at(overdue, after.ack_due_at)


async def test_requested_suspension_waiting_on_traffic_ends_when_traffic_completes(
    time_env: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """工伤认定 waits for the traffic police's liability finding (DESIGN's own example)."""
    async with running_worker(time_env.client, sessions) as cases:
        handle, snap = await cases.open(truck_driver(new_case_id(), default_policy()))
        before = assignment(snap, "hrss")
        await handle.execute_update(CaseWorkflow.acknowledge, DepartmentCommand(dept("hrss"), "hrss"))
        requested = await handle.execute_update(
            CaseWorkflow.suspend, SuspendCommand(dept("hrss"), "hrss", "等待事故责任认定", "traffic")
        )
        hrss = assignment(requested, "hrss")
        assert hrss.suspension_requested and not hrss.suspended
        approved = await handle.execute_update(CaseWorkflow.decide_suspension, DecisionCommand(OFFICER, "hrss", True))
        assert assignment(approved, "hrss").suspended
        await handle.execute_update(CaseWorkflow.acknowledge, DepartmentCommand(dept("traffic"), "traffic"))
        await time_env.sleep(timedelta(days=3))
        done = await handle.execute_update(
            CaseWorkflow.complete, TextCommand(dept("traffic"), "traffic", "事故责任认定书已送达")
        )
        hrss = assignment(done, "hrss")
        assert not hrss.suspended
        events = await case_events(sessions, snap.id)
        [started] = of_type(events, "assignment.suspended")
        [ended] = of_type(events, "assignment.resumed")
        assert ended.actor == "system" and ended.data["because"] == "traffic completed"
        assert hrss.due_at - before.due_at == ended.at - started.at >= timedelta(days=3)


# --- extension ----------------------------------------------------------------------------------


async def test_approved_extension_moves_the_due_date_by_the_extension(
    time_env: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with running_worker(time_env.client, sessions) as cases:
        handle, snap = await cases.open(courier(new_case_id(), default_policy()))
        await handle.execute_update(CaseWorkflow.acknowledge, DepartmentCommand(dept("hrss"), "hrss"))
        requested = await handle.execute_update(
            CaseWorkflow.request_extension,
            ExtensionCommand(dept("hrss"), "hrss", "30 working days", "用人单位负责人失联，需公安协查"),
        )
        assert assignment(requested, "hrss").extension_requested
        approved = await handle.execute_update(CaseWorkflow.decide_extension, DecisionCommand(OFFICER, "hrss", True))
    expected = schedule_on(wage_request(snap.created_at, ["30 working days"]))
    hrss = assignment(approved, "hrss")
    assert hrss.due_at == expected.due_at > assignment(snap, "hrss").due_at
    assert hrss.provisional == expected.provisional
    assert not hrss.extension_requested
    assert assignment(approved, "justice").due_at == assignment(snap, "justice").due_at
    events = await case_events(sessions, snap.id)
    [event] = of_type(events, "assignment.extension_approved")
    assert datetime.fromisoformat(event.data["due_at"]) == expected.due_at
    assert datetime.fromisoformat(event.data["previous_due_at"]) == assignment(snap, "hrss").due_at


# --- warnings (runs last: it skips the shared server clock forward by about two months) ------------


async def test_warning_at_half_the_resolve_window_stands_until_completion(
    time_env: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with running_worker(time_env.client, sessions) as cases:
        handle, snap = await cases.open(courier(new_case_id(), default_policy()))
        for code in ("hrss", "justice"):
            await handle.execute_update(CaseWorkflow.acknowledge, DepartmentCommand(dept(code), code))
        issued = snap.created_at
        window = assignment(snap, "hrss").due_at - issued
        half, four_fifths = issued + window * 0.5, issued + window * 0.8

        await sleep_until(time_env, half - MINUTE)
        assert not assignment(await snapshot(handle), "hrss").warning
        assert of_type(await case_events(sessions, snap.id), "assignment.warning") == []

        await sleep_until(time_env, half + MINUTE)
        events = await eventually(sessions, snap.id, lambda ev: len(of_type(ev, "assignment.warning")) == 2)
        warnings = of_type(events, "assignment.warning", deadline="resolve", fraction=0.5)
        assert sorted(e.data["department"] for e in warnings) == ["hrss", "justice"]
        for e in warnings:
            assert_recorded_at(e, half)
        now = await snapshot(handle)
        assert assignment(now, "hrss").warning and assignment(now, "justice").warning
        assert not assignment(now, "hrss").overdue

        await sleep_until(time_env, four_fifths + MINUTE)
        events = await eventually(sessions, snap.id, lambda ev: of_type(ev, "assignment.warning", fraction=0.8))
        assert len(of_type(events, "assignment.warning", deadline="resolve", fraction=0.8)) == 2
        assert assignment(await snapshot(handle), "hrss").warning

        done = await handle.execute_update(CaseWorkflow.complete, TextCommand(dept("hrss"), "hrss", "工资已支付"))
        assert not assignment(done, "hrss").warning
        assert assignment(done, "justice").warning
