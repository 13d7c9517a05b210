"""The Chinese working-day calendar and statutory deadline arithmetic.

Pure: no I/O, no clock. The calendar data is loaded by ``casebridge.calendar_source`` in an
activity and handed in, so a deadline is computed from data recorded in history.

Counting follows 民法典 第二百零一条 (the starting day is not counted; a period in days starts
the next day; hours count from the instant) and 第二百零三条 (a period ends at 24:00 of its last
day; a last day that is a statutory day off moves to the next working day).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import chain

from casebridge.domain.durations import Duration, DurationUnit

# Upper bound on the days any single computation may walk. Durations are capped at about ten
# years (durations.MAX_AMOUNT); twenty years leaves room for holidays and still stops a
# corrupt calendar (every day a holiday) from looping for ever.
MAX_SCAN_DAYS = 20 * 366

_ONE_DAY = timedelta(days=1)
_ELAPSED_UNITS = frozenset({DurationUnit.HOURS, DurationUnit.MINUTES, DurationUnit.SECONDS})


class CalendarScanLimitExceeded(ValueError):
    """No deadline within MAX_SCAN_DAYS: the calendar data marks (nearly) every day as a day off."""


@dataclass(frozen=True)
class WorkingCalendar:
    """Which days are worked, for the years whose official schedule is known.

    ``holidays`` are days off by the State Council schedule (they may fall on weekends);
    ``makeup_workdays`` are weekends worked instead (调休). Outside ``known_years`` only
    Monday to Friday count: the schedule is published each November, and guessing holidays
    would be worse than a weekday-only deadline that is marked provisional.
    """

    holidays: frozenset[date] = frozenset()
    makeup_workdays: frozenset[date] = frozenset()
    known_years: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        # working_days_between relies on the two sets being disjoint.
        both = self.holidays & self.makeup_workdays
        if both:
            listed = ", ".join(d.isoformat() for d in sorted(both))
            raise ValueError(f"dates both holiday and make-up workday: {listed}")

    def is_known(self, day: date) -> bool:
        return day.year in self.known_years

    def is_working_day(self, day: date) -> bool:
        is_weekday = day.weekday() < 5
        if not self.is_known(day):
            return is_weekday
        return day in self.makeup_workdays or (is_weekday and day not in self.holidays)

    def merged(self, other: WorkingCalendar) -> WorkingCalendar:
        """This calendar with every year that ``other`` knows replaced by ``other``'s data."""

        def take(mine: frozenset[date], theirs: frozenset[date]) -> frozenset[date]:
            kept = (d for d in mine if d.year not in other.known_years)
            replaced = (d for d in theirs if d.year in other.known_years)
            return frozenset(chain(kept, replaced))

        return WorkingCalendar(
            holidays=take(self.holidays, other.holidays),
            makeup_workdays=take(self.makeup_workdays, other.makeup_workdays),
            known_years=self.known_years | other.known_years,
        )


@dataclass(frozen=True)
class Deadline:
    """When a period ends (tz-aware) and whether it rests on a year without published data."""

    at: datetime
    provisional: bool


def add_duration(start: datetime, duration: Duration, calendar: WorkingCalendar, tz: tzinfo) -> Deadline:
    """The end of ``duration`` counted from the instant ``start``, as an aware datetime in ``tz``.

    Days and working days start the day after ``start``'s local date and end at 24:00 local
    of the last day (returned as 00:00 of the following day). Hours, minutes and seconds are
    exact elapsed time from ``start``, whatever the calendar says.
    """
    _require_aware(start, "start")
    if duration.unit in _ELAPSED_UNITS:
        # Through UTC so a DST change in tz cannot stretch or shrink the period.
        elapsed = timedelta(**{duration.unit.value: duration.amount})
        return Deadline(at=(start.astimezone(UTC) + elapsed).astimezone(tz), provisional=False)

    start_day = start.astimezone(tz).date()
    if duration.unit is DurationUnit.WORKING_DAYS:
        last_day, provisional = _nth_working_day_after(start_day, duration.amount, calendar)
    else:
        last_day, provisional = _last_day_of_days(start_day, duration.amount, calendar)
    return Deadline(at=_end_of_day(last_day, tz), provisional=provisional)


def working_days_between(start: datetime, end: datetime, calendar: WorkingCalendar, tz: tzinfo) -> int:
    """Working days after ``start``'s local date up to and including ``end``'s; negative if end is earlier.

    Beware of deadlines: ``Deadline.at`` is 00:00 of the day *after* the last day, so a
    countdown to it counts that following day too when it is a working day.
    """
    _require_aware(start, "start")
    _require_aware(end, "end")
    start_day = start.astimezone(tz).date()
    end_day = end.astimezone(tz).date()
    if end_day < start_day:
        return -_working_days_in(end_day, start_day, calendar)
    return _working_days_in(start_day, end_day, calendar)


def _nth_working_day_after(start_day: date, amount: int, calendar: WorkingCalendar) -> tuple[date, bool]:
    # Every day walked over, counted or skipped, decides the result: any unknown one makes it provisional.
    counted = 0
    provisional = False
    for day in _days_from(start_day + _ONE_DAY):
        provisional = provisional or not calendar.is_known(day)
        if calendar.is_working_day(day):
            counted += 1
            if counted == amount:
                return day, provisional
    raise _scan_limit(start_day)


def _last_day_of_days(start_day: date, amount: int, calendar: WorkingCalendar) -> tuple[date, bool]:
    # Calendar days do not depend on the calendar, except the last day and its roll-over
    # to the next working day (第二百零三条); only those days can make the result provisional.
    provisional = False
    for day in _days_from(start_day + timedelta(days=amount)):
        provisional = provisional or not calendar.is_known(day)
        if calendar.is_working_day(day):
            return day, provisional
    raise _scan_limit(start_day)


def _working_days_in(after: date, through: date, calendar: WorkingCalendar) -> int:
    """Working days d with after < d <= through, in time independent of the span's length."""
    count = _weekdays_up_to(through) - _weekdays_up_to(after)
    # Only holidays and make-up days of known years differ from the weekday rule.
    for day in chain(calendar.holidays, calendar.makeup_workdays):
        if after < day <= through and calendar.is_known(day):
            count += int(calendar.is_working_day(day)) - int(day.weekday() < 5)
    return count


def _weekdays_up_to(day: date) -> int:
    # Ordinal 1 (0001-01-01) is a Monday, so whole weeks hold 5 weekdays each.
    weeks, rest = divmod(day.toordinal(), 7)
    return 5 * weeks + min(rest, 5)


def _days_from(first: date) -> Iterator[date]:
    for offset in range(MAX_SCAN_DAYS):
        yield first + timedelta(days=offset)


def _end_of_day(day: date, tz: tzinfo) -> datetime:
    # 24:00 of the last day is 00:00 of the next. The UTC round trip turns a midnight that a
    # DST jump skips into the real first instant of that day (irrelevant for Asia/Shanghai).
    midnight = datetime.combine(day + _ONE_DAY, time(), tzinfo=tz)
    return midnight.astimezone(UTC).astimezone(tz)


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {moment.isoformat()}")


def _scan_limit(start_day: date) -> CalendarScanLimitExceeded:
    return CalendarScanLimitExceeded(
        f"no deadline found within {MAX_SCAN_DAYS} days after {start_day.isoformat()}; check the calendar data"
    )
