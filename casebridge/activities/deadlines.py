"""Deadline computation on the working-day calendar.

It is an activity because the calendar is data that changes between releases (a new year's
holidays, an override file): its answer is recorded in workflow history, so replay never depends
on the calendar a worker happens to have today.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo

from temporalio import activity

from casebridge.domain.calendar import Deadline, WorkingCalendar, add_duration
from casebridge.domain.durations import DurationUnit, parse_duration
from casebridge.domain.model import Schedule, ScheduleRequest


def _after(deadline_at: datetime, text: str, calendar: WorkingCalendar, tz: tzinfo) -> Deadline:
    """A period that follows a deadline. A deadline in days ends at 24:00, which is 00:00 of the
    next date; the following period must start counting the day after the *last day*, not the
    day after that, so day-based periods count from the instant just before the deadline."""
    duration = parse_duration(text)
    if duration.unit in (DurationUnit.DAYS, DurationUnit.WORKING_DAYS):
        deadline_at = deadline_at - timedelta(microseconds=1)
    return add_duration(deadline_at, duration, calendar, tz)


def compute_schedule(request: ScheduleRequest, calendar: WorkingCalendar, tz: tzinfo) -> Schedule:
    """The pure computation behind the activity (also used by the API to preview deadlines)."""
    ack = add_duration(request.issued_at, parse_duration(request.ack_within), calendar, tz)
    due = add_duration(request.issued_at, parse_duration(request.resolve_within), calendar, tz)
    provisional = ack.provisional or due.provisional
    due_at = due.at
    # An approved extension adds its period to the deadline as it stood, counted the same way.
    for extension in request.extensions:
        extended = _after(due_at, extension, calendar, tz)
        due_at = extended.at
        provisional = provisional or extended.provisional
    ack_escalate = _after(ack.at, request.escalate_after_overdue, calendar, tz)
    resolve_escalate = _after(due_at, request.escalate_after_overdue, calendar, tz)
    return Schedule(
        ack_due_at=ack.at,
        due_at=due_at,
        ack_escalate_at=ack_escalate.at,
        resolve_escalate_at=resolve_escalate.at,
        # Provisional describes the deadlines people see; the escalation instants follow them.
        provisional=provisional,
    )


class DeadlineActivities:
    def __init__(self, load_calendar: Callable[[], WorkingCalendar], tz: tzinfo) -> None:
        # The loader re-reads the override file when it changes, so no restart is needed.
        self._load_calendar = load_calendar
        self._tz = tz

    @activity.defn(name="compute_schedule")
    async def compute_schedule(self, request: ScheduleRequest) -> Schedule:
        return compute_schedule(request, self._load_calendar(), self._tz)
