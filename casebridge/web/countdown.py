"""Deadline countdowns in working days, on the same calendar the deadlines were computed on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from casebridge.domain.calendar import CalendarScanLimitExceeded, WorkingCalendar, working_days_between
from casebridge.web.i18n import Translator

TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Countdown:
    kind: str  # "overdue" | "today" (ticks in the browser) | "days"
    text: str
    due_iso: str
    working_days: int


def describe(due: datetime, now: datetime, calendar: WorkingCalendar, tz: tzinfo, t: Translator) -> Countdown:
    """A deadline is 24:00 of its last day (00:00 of the next), so count to the instant before it."""
    iso = due.astimezone(tz).isoformat()
    try:
        if due <= now:
            days = max(working_days_between(due - TICK, now, calendar, tz), 0)
            return Countdown("overdue", t("cd.overdue_days", n=days) if days else t("cd.overdue"), iso, -days)
        days = working_days_between(now, due - TICK, calendar, tz)
    except CalendarScanLimitExceeded:  # a deadline years away: no count, just the date
        return Countdown("days", "", iso, 0)
    if days <= 0 or due - now < timedelta(hours=24):
        return Countdown("today", t("cd.today"), iso, 0)
    return Countdown("days", t("cd.days_left", n=days), iso, days)
