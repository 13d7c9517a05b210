"""CaseMachine without Temporal: the case lifecycle, its errors, and its clocks.

Schedules come from the real deadline computation (``compute_schedule`` on the packaged calendar)
so the instants asserted here are the ones a worker would record. Every case starts on Monday
2026-03-02 10:00 Asia/Shanghai, a year the calendar knows (nothing here is provisional).
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from datetime import datetime, timedelta
from typing import Any

import pytest

from casebridge.activities.deadlines import compute_schedule
from casebridge.calendar_source import load_calendar
from casebridge.domain.case import CaseMachine
from casebridge.domain.errors import (
    DomainError,
    Forbidden,
    InvalidInput,
    InvalidTransition,
    NotFound,
    UnknownDepartment,
)
from casebridge.domain.model import (
    SYSTEM_ACTOR,
    AssignmentRole,
    AssignmentView,
    CaseInput,
    Event,
    Schedule,
    ScheduleRequest,
)
from tests.support import LEADER, OFFICER, SHANGHAI, courier, default_policy, dept, truck_driver

CALENDAR = load_calendar(None)
POLICY = default_policy()
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)  # a Monday
US = timedelta(microseconds=1)
LEAD = AssignmentRole.LEAD
ASSIST = AssignmentRole.ASSIST


# --- helpers ------------------------------------------------------------------------------------


def schedule_for(machine: CaseMachine, department: str, now: datetime, resolve_within: str | None = None) -> Schedule:
    return compute_schedule(machine.schedule_request(department, now, resolve_within), CALENDAR, SHANGHAI)


def opened(case: CaseInput | None = None, now: datetime = T0) -> CaseMachine:
    """A case opened and routed the way CaseWorkflow.run does it."""
    case = case or courier("CB-DOMAIN1", POLICY)
    machine = CaseMachine.open(case, now)
    for department, role in machine.initial_routes(case.departments):
        machine.issue(department, role, schedule_for(machine, department, now), now, case.created_by)
    return machine


def wage_schedule(issued_at: datetime = T0, extensions: tuple[str, ...] = ()) -> Schedule:
    """wage_arrears deadlines computed independently of the machine's own requests."""
    request = ScheduleRequest(issued_at, "1 working day", "60 working days", "5 working days", list(extensions))
    return compute_schedule(request, CALENDAR, SHANGHAI)


def types(machine: CaseMachine) -> list[str]:
    return [e.type for e in machine.outbox]


def events_of(machine: CaseMachine, type_: str) -> list[Event]:
    return [e for e in machine.outbox if e.type == type_]


def view(machine: CaseMachine, department: str) -> AssignmentView:
    return next(a for a in machine.snapshot().assignments if a.department == department)


def new_events(machine: CaseMachine, action: Callable[[], Any]) -> list[Event]:
    before = len(machine.outbox)
    action()
    return machine.outbox[before:]


def assert_rejected(machine: CaseMachine, error: type[DomainError], action: Callable[[], Any]) -> DomainError:
    """The action raises exactly ``error`` (bilingual) and leaves state and outbox untouched."""
    state, outbox = deepcopy(machine.state), deepcopy(machine.outbox)
    with pytest.raises(DomainError) as raised:
        action()
    assert type(raised.value) is error, f"expected {error.__name__}, got {type(raised.value).__name__}: {raised.value}"
    assert raised.value.zh and raised.value.en
    assert machine.state == state, "a rejected action must not change the state"
    assert machine.outbox == outbox, "a rejected action must not append events"
    return raised.value


def assert_gapless(machine: CaseMachine) -> None:
    assert [e.seq for e in machine.outbox] == list(range(1, len(machine.outbox) + 1))
    assert machine.state.next_seq == len(machine.outbox) + 1


def ack(machine: CaseMachine, department: str, now: datetime) -> None:
    machine.acknowledge(dept(department), department, now)


def finish(machine: CaseMachine, department: str, now: datetime) -> None:
    ack(machine, department, now)
    machine.complete(dept(department), department, "已办结", now)


def escalated(machine: CaseMachine | None = None, now: datetime = T0 + timedelta(hours=1)) -> CaseMachine:
    machine = machine or opened()
    machine.escalate(OFFICER, "需要联席会议协调", now)
    return machine


def decide(
    machine: CaseMachine,
    now: datetime,
    lead: str = "hrss",
    assist: list[str] | None = None,
    meeting_id: str = "M1",
    resolve_within: str = "20 working days",
) -> None:
    assist = assist or []
    schedules = {d: schedule_for(machine, d, now, resolve_within) for d in [lead, *assist]}
    machine.record_decision(LEADER, meeting_id, "挂牌督办", schedules, lead, assist, resolve_within, now)


def resolved(machine: CaseMachine | None = None, now: datetime = T0 + timedelta(days=1)) -> CaseMachine:
    machine = machine or opened()
    for department in ("hrss", "justice"):
        finish(machine, department, now)
    machine.resolve(OFFICER, "工资已追回", "36000.00", now)
    return machine


def closed() -> CaseMachine:
    machine = resolved()
    machine.record_feedback(OFFICER, True, "满意", T0 + timedelta(days=2))
    return machine


def withdrawn() -> CaseMachine:
    machine = opened()
    machine.withdraw(OFFICER, "劳动者撤回", T0 + timedelta(hours=2))
    return machine


# --- opening and the case lifecycle ---------------------------------------------------------------


def test_open_routes_by_policy_and_numbers_events_from_one() -> None:
    machine = opened()
    assert machine.state.status == "in_progress"
    assert types(machine) == ["case.created", "assignment.issued", "assignment.issued"]
    assert_gapless(machine)
    snap = machine.snapshot()
    assert [(a.department, a.role, a.status) for a in snap.assignments] == [
        ("hrss", "lead", "pending_ack"),
        ("justice", "assist", "pending_ack"),
    ]
    expected = wage_schedule()
    for a in snap.assignments:
        assert (a.ack_due_at, a.due_at, a.provisional) == (expected.ack_due_at, expected.due_at, False)
    # 1 working day from Monday 10:00 ends at 24:00 Tuesday; 60 working days (with 清明 and 劳动节) on 5-28.
    assert expected.ack_due_at == datetime(2026, 3, 4, tzinfo=SHANGHAI)
    assert expected.due_at == datetime(2026, 5, 29, tzinfo=SHANGHAI)
    assert snap.due_at == expected.due_at


def test_officer_routing_overrides_policy_first_department_leads() -> None:
    machine = opened(truck_driver("CB-DOMAIN2", POLICY))
    assert [(a.department, a.role) for a in machine.state.assignments] == [("traffic", LEAD), ("hrss", ASSIST)]


def test_full_lifecycle_escalated_decision_resolved_closed() -> None:
    machine = opened()
    t = T0 + timedelta(hours=1)
    machine.escalate(OFFICER, "双方分歧大", t)
    assert machine.state.status == "escalated"
    assert events_of(machine, "case.escalated")[-1].data["trigger"] == "officer"
    machine.add_to_agenda(OFFICER, "M1", t)
    assert machine.state.meeting_id == "M1"
    decide(machine, t + timedelta(days=1), lead="hrss", assist=["justice"])
    assert machine.state.status == "in_progress"
    for department in ("hrss", "justice"):
        finish(machine, department, t + timedelta(days=2))
    machine.resolve(OFFICER, "已足额支付", "36000.00", t + timedelta(days=3))
    assert machine.state.status == "resolved"
    assert machine.state.amount_recovered == "36000.00"
    machine.record_feedback(OFFICER, True, "满意", t + timedelta(days=4))
    assert machine.state.status == "closed"
    assert types(machine) == [
        "case.created",
        "assignment.issued",
        "assignment.issued",
        "case.escalated",
        "case.added_to_agenda",
        "case.decision_recorded",
        "assignment.issued",
        "assignment.issued",
        "assignment.acknowledged",
        "assignment.completed",
        "assignment.acknowledged",
        "assignment.completed",
        "case.resolved",
        "case.feedback_recorded",
        "case.closed",
    ]
    assert_gapless(machine)
    assert machine.next_trigger_at() is None


def test_unsatisfied_feedback_reopens_the_case() -> None:
    machine = resolved()
    events = new_events(machine, lambda: machine.record_feedback(OFFICER, False, "钱没到账", T0 + timedelta(days=2)))
    assert machine.state.status == "in_progress"
    assert [e.type for e in events] == ["case.feedback_recorded", "case.reopened"]
    assert events[0].data["satisfied"] is False
    assert_gapless(machine)
    # 重办: the officer routes the work again; a completed department may be routed afresh.
    again = T0 + timedelta(days=3)
    machine.check_route("hrss", LEAD)
    machine.issue("hrss", LEAD, schedule_for(machine, "hrss", again), again, "officer")
    assert view(machine, "hrss").status == "pending_ack"
    assert view(machine, "hrss").due_at == wage_schedule(again).due_at
    assert_gapless(machine)


@pytest.mark.parametrize("make", [opened, escalated, resolved], ids=["in_progress", "escalated", "resolved"])
def test_withdraw_from_every_open_state(make: Callable[[], CaseMachine]) -> None:
    machine = make()
    machine.withdraw(OFFICER, "劳动者撤回", T0 + timedelta(days=3))
    assert machine.state.status == "withdrawn"
    assert types(machine)[-1] == "case.withdrawn"
    assert machine.next_trigger_at() is None
    assert_gapless(machine)


TERMINAL_ACTIONS: dict[str, Callable[[CaseMachine, datetime], Any]] = {
    "route": lambda m, t: m.check_route("traffic", ASSIST),
    "acknowledge": lambda m, t: m.acknowledge(dept("hrss"), "hrss", t),
    "return": lambda m, t: m.return_assignment(dept("hrss"), "hrss", "不属于本单位", t),
    "progress": lambda m, t: m.report_progress(dept("hrss"), "hrss", "进展", t),
    "complete": lambda m, t: m.complete(dept("hrss"), "hrss", "办结", t),
    "request_extension": lambda m, t: m.request_extension(dept("hrss"), "hrss", "10 days", "取证", t),
    "decide_extension": lambda m, t: m.decide_extension(OFFICER, "hrss", False, None, t),
    "suspend": lambda m, t: m.suspend(OFFICER, "hrss", "鉴定", None, t),
    "decide_suspension": lambda m, t: m.decide_suspension(OFFICER, "hrss", True, t),
    "resume": lambda m, t: m.resume(OFFICER, "hrss", t),
    "escalate": lambda m, t: m.escalate(OFFICER, "再议", t),
    "resolve": lambda m, t: m.resolve(OFFICER, "再次办结", None, t),
    "feedback": lambda m, t: m.record_feedback(OFFICER, True, None, t),
    "withdraw": lambda m, t: m.withdraw(OFFICER, "撤回", t),
    "add_to_agenda": lambda m, t: m.add_to_agenda(OFFICER, "M9", t),
    "record_decision": decide,
}


@pytest.mark.parametrize("make", [closed, withdrawn], ids=["closed", "withdrawn"])
@pytest.mark.parametrize("action", sorted(TERMINAL_ACTIONS))
def test_nothing_happens_to_a_closed_or_withdrawn_case(make: Callable[[], CaseMachine], action: str) -> None:
    machine = make()
    assert_rejected(machine, InvalidTransition, lambda: TERMINAL_ACTIONS[action](machine, T0 + timedelta(days=5)))


@pytest.mark.parametrize("make", [closed, withdrawn], ids=["closed", "withdrawn"])
def test_no_clock_runs_on_a_closed_or_withdrawn_case(make: Callable[[], CaseMachine]) -> None:
    machine = make()
    assert machine.next_trigger_at() is None
    state, outbox = deepcopy(machine.state), deepcopy(machine.outbox)
    machine.fire_due(T0 + timedelta(days=400))
    assert (machine.state, machine.outbox) == (state, outbox)


# --- illegal actions: the right error, and nothing changes ----------------------------------------

T1 = T0 + timedelta(hours=1)

ILLEGAL: list[tuple[str, type[DomainError], Callable[[CaseMachine], Any]]] = [
    ("other department acknowledges", Forbidden, lambda m: m.acknowledge(dept("justice"), "hrss", T1)),
    ("other department returns", Forbidden, lambda m: m.return_assignment(dept("justice"), "hrss", "x", T1)),
    ("other department completes", Forbidden, lambda m: m.complete(dept("justice"), "hrss", "x", T1)),
    ("other department reports", Forbidden, lambda m: m.report_progress(dept("justice"), "hrss", "x", T1)),
    ("other department extends", Forbidden, lambda m: m.request_extension(dept("traffic"), "hrss", "5 days", "x", T1)),
    ("other department suspends", Forbidden, lambda m: m.suspend(dept("justice"), "hrss", "x", None, T1)),
    ("department not on the case", NotFound, lambda m: m.acknowledge(dept("traffic"), "traffic", T1)),
    ("officer resumes absent", NotFound, lambda m: m.resume(OFFICER, "traffic", T1)),
    ("decide absent extension", NotFound, lambda m: m.decide_extension(OFFICER, "traffic", True, None, T1)),
    ("route unknown department", UnknownDepartment, lambda m: m.check_route("police", ASSIST)),
    (
        "extension duration garbage",
        InvalidInput,
        lambda m: m.request_extension(dept("hrss"), "hrss", "一阵子", "x", T1),
    ),
    ("extension duration zero", InvalidInput, lambda m: m.request_extension(dept("hrss"), "hrss", "0 days", "x", T1)),
    ("suspend waiting on itself", InvalidInput, lambda m: m.suspend(OFFICER, "hrss", "x", "hrss", T1)),
    ("suspend waiting on absent", InvalidTransition, lambda m: m.suspend(OFFICER, "hrss", "x", "traffic", T1)),
    ("route an open department", InvalidTransition, lambda m: m.check_route("justice", ASSIST)),
    ("second active lead", InvalidTransition, lambda m: m.check_route("traffic", LEAD)),
    ("complete before acknowledging", InvalidTransition, lambda m: m.complete(dept("hrss"), "hrss", "x", T1)),
    ("progress before acknowledging", InvalidTransition, lambda m: m.report_progress(dept("hrss"), "hrss", "x", T1)),
    ("resolve with open assignments", InvalidTransition, lambda m: m.resolve(OFFICER, "x", None, T1)),
    ("feedback on an open case", InvalidTransition, lambda m: m.record_feedback(OFFICER, True, None, T1)),
    ("decide without a request", InvalidTransition, lambda m: m.decide_extension(OFFICER, "hrss", True, None, T1)),
    ("suspension decision w/o request", InvalidTransition, lambda m: m.decide_suspension(OFFICER, "hrss", True, T1)),
    ("resume a running clock", InvalidTransition, lambda m: m.resume(OFFICER, "hrss", T1)),
    ("agenda before escalation", InvalidTransition, lambda m: m.add_to_agenda(OFFICER, "M1", T1)),
    ("decision before escalation", InvalidTransition, lambda m: decide(m, T1)),
]


@pytest.mark.parametrize(("error", "action"), [(e, a) for _, e, a in ILLEGAL], ids=[n for n, _, _ in ILLEGAL])
def test_illegal_action_raises_its_error_and_changes_nothing(
    error: type[DomainError], action: Callable[[CaseMachine], Any]
) -> None:
    machine = opened()
    assert_rejected(machine, error, lambda: action(machine))


def test_illegal_actions_on_an_escalated_case() -> None:
    machine = escalated()
    machine.add_to_agenda(OFFICER, "M1", T0 + timedelta(hours=1))
    t = T0 + timedelta(hours=2)
    assert_rejected(machine, InvalidTransition, lambda: machine.escalate(OFFICER, "again", t))
    assert_rejected(machine, UnknownDepartment, lambda: decide(machine, t, lead="police"))
    assert_rejected(machine, UnknownDepartment, lambda: decide(machine, t, assist=["police"]))
    assert_rejected(machine, InvalidInput, lambda: decide(machine, t, lead="hrss", assist=["hrss"]))
    assert_rejected(machine, InvalidInput, lambda: decide(machine, t, lead="hrss", assist=["justice", "justice"]))
    assert_rejected(machine, InvalidTransition, lambda: machine.resolve(OFFICER, "x", None, t))


def test_acknowledging_twice_is_an_invalid_transition() -> None:
    machine = opened()
    ack(machine, "hrss", T1)
    assert_rejected(machine, InvalidTransition, lambda: ack(machine, "hrss", T1))


def test_second_extension_request_waits_for_the_first() -> None:
    machine = opened()
    machine.request_extension(dept("hrss"), "hrss", "10 working days", "取证", T1)
    assert_rejected(
        machine, InvalidTransition, lambda: machine.request_extension(dept("hrss"), "hrss", "5 days", "x", T1)
    )


# --- resolving ------------------------------------------------------------------------------------


def test_resolve_waits_for_pending_and_acknowledged_assignments() -> None:
    machine = opened()
    t = T0 + timedelta(hours=3)
    finish(machine, "hrss", t)
    assert_rejected(machine, InvalidTransition, lambda: machine.resolve(OFFICER, "x", None, t))  # justice pending
    ack(machine, "justice", t)
    assert_rejected(machine, InvalidTransition, lambda: machine.resolve(OFFICER, "x", None, t))  # acknowledged
    machine.return_assignment(dept("justice"), "justice", "不属于法律援助范围", t)
    machine.resolve(OFFICER, "已办结", None, t)  # completed + returned: nothing open
    assert machine.state.status == "resolved"
    assert_gapless(machine)


# --- returns, re-routing and the single lead ------------------------------------------------------


def test_return_counts_and_the_second_return_escalates() -> None:
    machine = opened()
    t = T0 + timedelta(hours=2)
    events = new_events(machine, lambda: machine.return_assignment(dept("hrss"), "hrss", "应由交警处理", t))
    assert [e.type for e in events] == ["assignment.returned"]
    assert events[0].data == {"department": "hrss", "reason": "应由交警处理", "count": 1}
    assert machine.state.status == "in_progress"
    assert view(machine, "hrss").status == "returned"
    assert view(machine, "hrss").returns == 1

    # The officer re-routes the returned department (as lead again: the returned lead no longer leads).
    t2 = t + timedelta(hours=1)
    issued = new_events(machine, lambda: machine.issue("hrss", LEAD, schedule_for(machine, "hrss", t2), t2, "officer"))
    assert issued[0].type == "assignment.issued" and issued[0].data["reissued"] is True
    assert view(machine, "hrss").status == "pending_ack"
    assert view(machine, "hrss").issued_at == t2

    t3 = t2 + timedelta(hours=1)
    events = new_events(machine, lambda: machine.return_assignment(dept("hrss"), "hrss", "仍不属于本单位", t3))
    assert [e.type for e in events] == ["assignment.returned", "case.escalated"]
    assert events[0].data["count"] == 2
    assert events[1].data["trigger"] == "returned_twice"
    assert events[1].data["department"] == "hrss"
    assert events[1].actor == SYSTEM_ACTOR
    assert machine.state.status == "escalated"
    assert view(machine, "hrss").returns == 2
    assert_gapless(machine)


def test_returned_department_can_be_rerouted_but_an_open_one_cannot() -> None:
    machine = opened()
    assert_rejected(machine, InvalidTransition, lambda: machine.check_route("hrss", LEAD))
    machine.return_assignment(dept("hrss"), "hrss", "误派", T1)
    machine.check_route("hrss", LEAD)  # no error
    machine.check_route("traffic", LEAD)  # the returned lead no longer counts as the case's lead


def test_second_active_lead_is_refused_until_the_lead_ends() -> None:
    machine = opened()
    assert_rejected(machine, InvalidTransition, lambda: machine.check_route("traffic", LEAD))
    machine.check_route("traffic", ASSIST)
    ack(machine, "hrss", T1)
    assert_rejected(machine, InvalidTransition, lambda: machine.check_route("traffic", LEAD))
    machine.complete(dept("hrss"), "hrss", "办结", T1)
    machine.check_route("traffic", LEAD)


# --- fire_due: warnings, overdue, escalation -------------------------------------------------------


def test_warnings_fire_at_the_configured_fractions_of_the_resolve_window() -> None:
    machine = opened()
    ack(machine, "hrss", T1)
    ack(machine, "justice", T1)
    due = wage_schedule().due_at
    half, four_fifths = T0 + (due - T0) * 0.5, T0 + (due - T0) * 0.8
    assert machine.next_trigger_at() == half

    assert new_events(machine, lambda: machine.fire_due(half - US)) == []
    events = new_events(machine, lambda: machine.fire_due(half))
    assert [(e.type, e.data["department"], e.data["deadline"], e.data["fraction"]) for e in events] == [
        ("assignment.warning", "hrss", "resolve", 0.5),
        ("assignment.warning", "justice", "resolve", 0.5),
    ]
    assert events[0].data["due_at"] == due.isoformat()
    assert events[0].at == half and events[0].actor == SYSTEM_ACTOR
    assert view(machine, "hrss").warning and not view(machine, "hrss").overdue
    assert machine.next_trigger_at() == four_fifths

    events = new_events(machine, lambda: machine.fire_due(four_fifths))
    assert [(e.data["department"], e.data["fraction"]) for e in events] == [("hrss", 0.8), ("justice", 0.8)]
    assert machine.next_trigger_at() == due

    machine.complete(dept("hrss"), "hrss", "办结", four_fifths + timedelta(hours=1))
    assert not view(machine, "hrss").warning  # a completed assignment carries no warning
    assert view(machine, "justice").warning
    assert_gapless(machine)


def test_missed_acknowledgement_is_overdue_exactly_at_ack_due() -> None:
    machine = opened()
    ack(machine, "hrss", T1)
    ack_due = wage_schedule().ack_due_at
    before = new_events(machine, lambda: machine.fire_due(ack_due - US))
    # Only the acknowledgement warnings (50 % and 80 % of the ack window) so far.
    assert [(e.type, e.data["deadline"], e.data["fraction"]) for e in before] == [
        ("assignment.warning", "ack", 0.5),
        ("assignment.warning", "ack", 0.8),
    ]
    assert view(machine, "justice").warning and not view(machine, "justice").overdue
    events = new_events(machine, lambda: machine.fire_due(ack_due))
    assert [(e.type, e.data) for e in events] == [
        ("assignment.overdue", {"department": "justice", "deadline": "ack", "due_at": ack_due.isoformat()})
    ]
    assert view(machine, "justice").overdue
    assert not view(machine, "justice").warning
    assert not view(machine, "hrss").overdue
    assert machine.state.status == "in_progress"


def test_overdue_acknowledgement_escalates_at_the_recorded_escalate_instant() -> None:
    machine = opened()
    ack(machine, "hrss", T1)
    schedule = wage_schedule()
    # 5 working days after the end of Tuesday 3-3: 3-4 … 3-10, so 24:00 on 3-10.
    assert schedule.ack_escalate_at == datetime(2026, 3, 11, tzinfo=SHANGHAI)
    machine.fire_due(schedule.ack_due_at)
    assert machine.next_trigger_at() == schedule.ack_escalate_at
    assert new_events(machine, lambda: machine.fire_due(schedule.ack_escalate_at - US)) == []
    events = new_events(machine, lambda: machine.fire_due(schedule.ack_escalate_at))
    assert [e.type for e in events] == ["case.escalated"]
    assert events[0].data["trigger"] == "overdue"
    assert events[0].data["department"] == "justice"
    assert events[0].data["deadline"] == "ack"
    assert events[0].at == schedule.ack_escalate_at
    assert machine.state.status == "escalated"
    assert_gapless(machine)


def test_late_acknowledgement_ends_the_ack_overdue_and_prevents_its_escalation() -> None:
    """DESIGN: escalation when an assignment *stays* overdue. A late 签收 ends the ack overdue."""
    machine = opened()
    ack(machine, "hrss", T1)
    schedule = wage_schedule()
    machine.fire_due(schedule.ack_due_at)
    assert view(machine, "justice").overdue
    late = schedule.ack_due_at + timedelta(days=1)
    events = new_events(machine, lambda: ack(machine, "justice", late))
    assert events[0].data == {"department": "justice", "on_time": False}
    assert not view(machine, "justice").overdue
    # A late acknowledgement gains no time: the resolve deadline is unchanged.
    assert view(machine, "justice").due_at == schedule.due_at
    assert new_events(machine, lambda: machine.fire_due(schedule.ack_escalate_at + timedelta(days=1))) == []
    assert machine.state.status == "in_progress"


def test_resolve_deadline_overdue_then_escalation() -> None:
    machine = opened()
    ack(machine, "hrss", T1)
    ack(machine, "justice", T1)
    schedule = wage_schedule()
    machine.fire_due(schedule.due_at - US)
    assert not view(machine, "hrss").overdue
    events = new_events(machine, lambda: machine.fire_due(schedule.due_at))
    assert [(e.type, e.data["department"], e.data["deadline"], e.data["due_at"]) for e in events] == [
        ("assignment.overdue", "hrss", "resolve", schedule.due_at.isoformat()),
        ("assignment.overdue", "justice", "resolve", schedule.due_at.isoformat()),
    ]
    assert view(machine, "hrss").overdue and not view(machine, "hrss").warning
    assert machine.snapshot().due_at == schedule.due_at
    assert machine.next_trigger_at() == schedule.resolve_escalate_at
    machine.fire_due(schedule.resolve_escalate_at - US)
    assert machine.state.status == "in_progress"
    events = new_events(machine, lambda: machine.fire_due(schedule.resolve_escalate_at))
    assert [(e.type, e.data["department"], e.data["deadline"]) for e in events] == [
        ("case.escalated", "hrss", "resolve")
    ]
    assert machine.state.status == "escalated"


def test_no_escalation_once_the_overdue_assignments_are_completed() -> None:
    machine = opened()
    schedule = wage_schedule()
    ack(machine, "hrss", T1)
    ack(machine, "justice", T1)
    machine.fire_due(schedule.due_at)
    late = schedule.due_at + timedelta(days=1)
    events = new_events(machine, lambda: machine.complete(dept("hrss"), "hrss", "办结", late))
    assert events[0].data["on_time"] is False
    machine.complete(dept("justice"), "justice", "办结", late)
    assert machine.next_trigger_at() is None
    assert new_events(machine, lambda: machine.fire_due(schedule.resolve_escalate_at + timedelta(days=30))) == []
    assert machine.state.status == "in_progress"
    assert not view(machine, "hrss").overdue


def test_an_already_escalated_case_is_not_escalated_again_by_overdue() -> None:
    machine = escalated()
    schedule = wage_schedule()
    events = new_events(machine, lambda: machine.fire_due(schedule.ack_escalate_at))
    assert "case.escalated" not in [e.type for e in events]
    assert [e.type for e in events].count("assignment.overdue") == 2
    assert machine.state.status == "escalated"
    assert_gapless(machine)


# --- suspension -----------------------------------------------------------------------------------


def test_officer_suspends_at_once_and_the_clock_stops() -> None:
    machine = opened()
    ack(machine, "hrss", T1)
    schedule = wage_schedule()
    suspended_at = T0 + timedelta(hours=2)
    events = new_events(machine, lambda: machine.suspend(OFFICER, "justice", "等待鉴定", None, suspended_at))
    assert [(e.type, e.actor) for e in events] == [("assignment.suspended", "officer")]
    assert view(machine, "justice").suspended
    # Timers do not run while suspended: the next trigger is hrss's, not justice's ack warning.
    assert machine.next_trigger_at() == T0 + (schedule.due_at - T0) * 0.5
    quiet_until = T0 + timedelta(days=30)  # long past justice's ack deadline and its escalation
    assert new_events(machine, lambda: machine.fire_due(quiet_until)) == []
    assert not view(machine, "justice").overdue

    events = new_events(machine, lambda: machine.resume(OFFICER, "justice", quiet_until))
    paused = quiet_until - suspended_at
    assert events[0].type == "assignment.resumed"
    assert events[0].data["suspended_seconds"] == paused.total_seconds()
    after = view(machine, "justice")
    assert not after.suspended
    assert after.ack_due_at == schedule.ack_due_at + paused
    assert after.due_at == schedule.due_at + paused
    assert events[0].data["due_at"] == after.due_at.isoformat()
    # And the moved deadlines are the ones that fire.
    machine.fire_due(after.ack_due_at - US)
    assert not view(machine, "justice").overdue
    events = new_events(machine, lambda: machine.fire_due(after.ack_due_at))
    assert [(e.type, e.data["due_at"]) for e in events] == [("assignment.overdue", after.ack_due_at.isoformat())]
    assert machine.next_trigger_at() == schedule.ack_escalate_at + paused


def test_department_suspension_is_a_request_until_the_officer_approves() -> None:
    machine = opened()
    ack(machine, "hrss", T1)
    requested_at = T0 + timedelta(hours=2)
    events = new_events(machine, lambda: machine.suspend(dept("hrss"), "hrss", "等待工伤认定", None, requested_at))
    assert [e.type for e in events] == ["assignment.suspension_requested"]
    assert view(machine, "hrss").suspension_requested and not view(machine, "hrss").suspended
    assert machine.state.assignments[0].suspended_since is None  # the clock still runs
    assert_rejected(
        machine, InvalidTransition, lambda: machine.suspend(dept("hrss"), "hrss", "again", None, requested_at)
    )

    approved_at = requested_at + timedelta(days=1)
    events = new_events(machine, lambda: machine.decide_suspension(OFFICER, "hrss", True, approved_at))
    assert [(e.type, e.actor) for e in events] == [("assignment.suspended", "officer")]
    hrss = view(machine, "hrss")
    assert hrss.suspended and not hrss.suspension_requested
    machine.resume(dept("hrss"), "hrss", approved_at + timedelta(days=3))
    assert view(machine, "hrss").due_at == wage_schedule().due_at + timedelta(days=3)


def test_rejected_suspension_request_leaves_the_clock_running() -> None:
    machine = opened()
    machine.suspend(dept("hrss"), "hrss", "等待材料", None, T1)
    events = new_events(machine, lambda: machine.decide_suspension(OFFICER, "hrss", False, T1 + timedelta(hours=1)))
    assert [e.type for e in events] == ["assignment.suspension_rejected"]
    hrss = view(machine, "hrss")
    assert not hrss.suspended and not hrss.suspension_requested
    assert hrss.due_at == wage_schedule().due_at


def test_suspension_waiting_on_another_department_ends_when_it_completes() -> None:
    machine = opened(truck_driver("CB-DOMAIN3", POLICY))  # traffic leads, hrss assists
    ack(machine, "hrss", T1)
    before = view(machine, "hrss")
    suspended_at = T0 + timedelta(hours=2)
    machine.suspend(OFFICER, "hrss", "工伤认定等待交警事故责任认定", "traffic", suspended_at)
    completed_at = suspended_at + timedelta(days=6, hours=3)
    ack(machine, "traffic", completed_at - timedelta(days=1))
    events = new_events(machine, lambda: machine.complete(dept("traffic"), "traffic", "责任认定书已出具", completed_at))
    assert [e.type for e in events] == ["assignment.completed", "assignment.resumed"]
    resumed = events[1]
    assert resumed.actor == SYSTEM_ACTOR
    assert resumed.data["department"] == "hrss"
    assert resumed.data["because"] == "traffic completed"
    paused = completed_at - suspended_at
    assert resumed.data["suspended_seconds"] == paused.total_seconds()
    after = view(machine, "hrss")
    assert not after.suspended
    assert after.due_at == before.due_at + paused
    assert after.ack_due_at == before.ack_due_at + paused
    assert_gapless(machine)


def test_suspension_request_on_a_department_that_completes_can_still_be_decided() -> None:
    """Looks wrong: a department asks to wait for traffic's finding; traffic completes before the
    officer decides. ``check_decide_suspension`` then refuses approve *and* reject, so the request
    can never be decided, and it blocks every new suspension request of that assignment."""
    machine = opened(truck_driver("CB-DOMAIN4", POLICY))
    t = T0 + timedelta(hours=2)
    machine.suspend(dept("hrss"), "hrss", "等待事故责任认定", "traffic", t)
    finish(machine, "traffic", t + timedelta(days=1))
    if view(machine, "hrss").suspension_requested:
        # The request is still there: the officer must at least be able to turn it down.
        machine.decide_suspension(OFFICER, "hrss", False, t + timedelta(days=2))
    assert not view(machine, "hrss").suspension_requested
    machine.suspend(dept("hrss"), "hrss", "等待劳动者材料", None, t + timedelta(days=3))


# --- extensions -----------------------------------------------------------------------------------


def _extend(machine: CaseMachine, department: str, duration: str, requested: datetime, decided: datetime) -> Event:
    machine.request_extension(dept(department), department, duration, "需要补充调查", requested)
    assignment = machine.assignment(department)
    assert assignment.extension_request is not None
    schedule = compute_schedule(
        CaseMachine.reschedule_request(assignment, assignment.extension_request.duration), CALENDAR, SHANGHAI
    )
    machine.decide_extension(OFFICER, department, True, schedule, decided)
    return machine.outbox[-1]


def test_approved_extension_moves_the_due_date() -> None:
    machine = opened()
    ack(machine, "hrss", T1)
    event = _extend(machine, "hrss", "30 Working Days", T1, T1 + timedelta(hours=1))
    expected = wage_schedule(extensions=("30 working days",))
    assert event.type == "assignment.extension_approved"
    assert event.data["duration"] == "30 working days"  # canonical
    assert event.data["previous_due_at"] == wage_schedule().due_at.isoformat()
    assert event.data["due_at"] == expected.due_at.isoformat()
    hrss = view(machine, "hrss")
    assert hrss.due_at == expected.due_at > wage_schedule().due_at
    assert hrss.ack_due_at == expected.ack_due_at
    assert not hrss.extension_requested
    assert view(machine, "justice").due_at == wage_schedule().due_at


def test_extension_approved_after_the_due_date_clears_overdue_when_the_new_due_is_ahead() -> None:
    machine = opened()
    ack(machine, "hrss", T1)
    ack(machine, "justice", T1)
    schedule = wage_schedule()
    machine.fire_due(schedule.due_at)
    assert view(machine, "hrss").overdue
    late = schedule.due_at + timedelta(days=2)
    _extend(machine, "hrss", "30 days", late, late)
    expected = wage_schedule(extensions=("30 days",))
    hrss = view(machine, "hrss")
    assert hrss.due_at == expected.due_at > late
    assert not hrss.overdue
    # The old escalation is gone; hrss now goes overdue at its new due date, justice still escalates.
    assert machine.next_trigger_at() == schedule.resolve_escalate_at
    events = new_events(machine, lambda: machine.fire_due(schedule.resolve_escalate_at))
    assert [(e.type, e.data["department"]) for e in events] == [("case.escalated", "justice")]
    events = new_events(machine, lambda: machine.fire_due(expected.due_at))
    assert [(e.type, e.data["department"], e.data["due_at"]) for e in events] == [
        ("assignment.overdue", "hrss", expected.due_at.isoformat())
    ]


def test_extension_that_ends_in_the_past_leaves_the_assignment_overdue() -> None:
    machine = opened()
    ack(machine, "hrss", T1)
    schedule = wage_schedule()
    machine.fire_due(schedule.due_at)
    late = schedule.due_at + timedelta(days=20)
    _extend(machine, "hrss", "1 working day", late, late)
    hrss = view(machine, "hrss")
    assert hrss.due_at == wage_schedule(extensions=("1 working day",)).due_at < late
    assert hrss.overdue


def test_rejected_extension_changes_no_deadline() -> None:
    machine = opened()
    ack(machine, "hrss", T1)
    schedule = wage_schedule()
    machine.fire_due(schedule.due_at)
    machine.request_extension(dept("hrss"), "hrss", "10 days", "x", schedule.due_at + timedelta(hours=1))
    events = new_events(
        machine, lambda: machine.decide_extension(OFFICER, "hrss", False, None, schedule.due_at + timedelta(hours=2))
    )
    assert [(e.type, e.data["duration"]) for e in events] == [("assignment.extension_rejected", "10 days")]
    hrss = view(machine, "hrss")
    assert hrss.due_at == schedule.due_at
    assert hrss.overdue and not hrss.extension_requested
    assert machine.assignment("hrss").extensions == []


# --- the joint meeting seam ----------------------------------------------------------------------


def test_decision_reissues_only_the_named_departments_as_supervised() -> None:
    machine = opened()
    ack(machine, "hrss", T1)
    escalated(machine, T1)
    machine.add_to_agenda(OFFICER, "M1", T1)
    justice_before = deepcopy(machine.assignment("justice"))
    decided_at = T0 + timedelta(days=7)
    events = new_events(machine, lambda: decide(machine, decided_at, lead="hrss", assist=["traffic"]))
    assert [e.type for e in events] == ["case.decision_recorded", "assignment.issued", "assignment.issued"]
    assert events[0].data["meeting_id"] == "M1"
    assert [(e.data["department"], e.data["supervised"], e.data["reissued"]) for e in events[1:]] == [
        ("hrss", True, True),
        ("traffic", True, False),
    ]
    assert all(e.data["meeting_id"] == "M1" for e in events[1:])
    assert machine.state.status == "in_progress"
    fresh = compute_schedule(
        ScheduleRequest(decided_at, "1 working day", "20 working days", "5 working days"), CALENDAR, SHANGHAI
    )
    for code, role in (("hrss", "lead"), ("traffic", "assist")):
        a = view(machine, code)
        assert (a.status, a.role, a.supervised, a.issued_at) == ("pending_ack", role, True, decided_at)
        assert (a.ack_due_at, a.due_at) == (fresh.ack_due_at, fresh.due_at)
    assert machine.assignment("justice") == justice_before
    assert_gapless(machine)


def test_decision_naming_a_new_lead_demotes_the_old_lead_to_assist() -> None:
    """Code: a case keeps one lead, so the old lead becomes an assist (its status and deadlines stay).
    DESIGN says the decision 'leaves the other departments' assignments as they are'."""
    machine = escalated()
    machine.add_to_agenda(OFFICER, "M1", T1)
    before = deepcopy(machine.assignment("hrss"))
    decide(machine, T0 + timedelta(days=1), lead="justice")
    hrss = machine.assignment("hrss")
    assert hrss.role is ASSIST
    assert (hrss.status, hrss.schedule, hrss.issued_at) == (before.status, before.schedule, before.issued_at)
    assert view(machine, "justice").role == "lead"


def test_decision_must_come_from_the_meeting_whose_agenda_holds_the_case() -> None:
    """Looks wrong: the case is on M1's agenda, yet a decision recorded for M2 is accepted."""
    machine = escalated()
    machine.add_to_agenda(OFFICER, "M1", T1)
    assert_rejected(machine, InvalidTransition, lambda: decide(machine, T0 + timedelta(days=1), meeting_id="M2"))


def test_adding_to_the_same_agenda_twice_is_a_no_op() -> None:
    machine = escalated()
    first = new_events(machine, lambda: machine.add_to_agenda(OFFICER, "M1", T1))
    assert [(e.type, e.data) for e in first] == [("case.added_to_agenda", {"meeting_id": "M1"})]
    assert machine.check_add_to_agenda("M1") is False
    state, outbox = deepcopy(machine.state), deepcopy(machine.outbox)
    machine.add_to_agenda(OFFICER, "M1", T1 + timedelta(hours=1))
    assert (machine.state, machine.outbox) == (state, outbox)
    # Carried over to the next meeting: a different meeting is a real change.
    moved = new_events(machine, lambda: machine.add_to_agenda(OFFICER, "M2", T1 + timedelta(days=30)))
    assert [e.data["meeting_id"] for e in moved] == ["M2"]
    assert machine.state.meeting_id == "M2"
    assert_gapless(machine)


# --- sequence numbers over a long, busy case -------------------------------------------------------


def test_seq_stays_gapless_through_every_kind_of_event() -> None:
    machine = opened(truck_driver("CB-DOMAIN5", POLICY))
    t = T0
    machine.suspend(OFFICER, "hrss", "等待认定", "traffic", t + timedelta(hours=1))
    ack(machine, "traffic", t + timedelta(hours=2))
    machine.report_progress(dept("traffic"), "traffic", "已勘查现场", t + timedelta(hours=3))
    machine.request_extension(dept("traffic"), "traffic", "5 days", "等待鉴定", t + timedelta(hours=4))
    machine.decide_extension(OFFICER, "traffic", False, None, t + timedelta(hours=5))
    machine.fire_due(t + timedelta(days=90))  # traffic's 60-day deadline passes and escalates
    machine.add_to_agenda(OFFICER, "M1", t + timedelta(days=91))
    decide(machine, t + timedelta(days=92), lead="traffic")
    finish(machine, "traffic", t + timedelta(days=93))  # ends hrss's suspension
    finish(machine, "hrss", t + timedelta(days=94))
    machine.resolve(OFFICER, "已赔付", "50000", t + timedelta(days=95))
    machine.record_feedback(OFFICER, False, "金额不足", t + timedelta(days=96))
    machine.withdraw(OFFICER, "已另行诉讼", t + timedelta(days=97))
    assert "case.escalated" in types(machine)
    assert "assignment.resumed" in types(machine)
    assert_gapless(machine)
    assert machine.snapshot().version == len(machine.outbox)
