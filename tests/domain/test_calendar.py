"""Deadline arithmetic on the 2026 schedule, written out here from the State Council's notice so
the domain is tested without the calendar package (tests/activities checks the package agrees)."""

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from casebridge.domain.calendar import (
    CalendarScanLimitExceeded,
    Deadline,
    WorkingCalendar,
    add_duration,
    working_days_between,
)
from casebridge.domain.durations import Duration, DurationUnit, parse_duration

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _span(first: str, last: str) -> set[date]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return {start + timedelta(days=i) for i in range((end - start).days + 1)}


# 国务院办公厅关于2026年部分节假日安排的通知
HOLIDAYS_2026 = (
    _span("2026-01-01", "2026-01-03")  # 元旦
    | _span("2026-02-15", "2026-02-23")  # 春节
    | _span("2026-04-04", "2026-04-06")  # 清明
    | _span("2026-05-01", "2026-05-05")  # 劳动节
    | _span("2026-06-19", "2026-06-21")  # 端午
    | _span("2026-09-25", "2026-09-27")  # 中秋
    | _span("2026-10-01", "2026-10-07")  # 国庆节
)
WORKDAYS_2026 = {
    date.fromisoformat(d) for d in ("2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10")
}
CAL_2026 = WorkingCalendar(frozenset(HOLIDAYS_2026), frozenset(WORKDAYS_2026), frozenset({2026}))


def at(text: str) -> datetime:
    """A Shanghai wall time, e.g. at("2026-03-06 16:00")."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def deadline(start: datetime, duration: str, calendar: WorkingCalendar = CAL_2026) -> Deadline:
    return add_duration(start, parse_duration(duration), calendar, SHANGHAI)


def test_makeup_saturday_is_a_working_day_and_the_holiday_weekdays_are_not() -> None:
    assert CAL_2026.is_working_day(date(2026, 2, 14))  # Saturday, 调休 for 春节
    assert not CAL_2026.is_working_day(date(2026, 2, 16))  # Monday, 春节
    assert not CAL_2026.is_working_day(date(2026, 2, 21))  # ordinary Saturday inside 春节
    assert CAL_2026.is_working_day(date(2026, 2, 24))  # first Tuesday after
    assert not CAL_2026.is_working_day(date(2026, 3, 7))  # ordinary Saturday


def test_unknown_year_counts_weekdays_only() -> None:
    assert not CAL_2026.is_known(date(2027, 1, 1))
    assert CAL_2026.is_working_day(date(2027, 1, 1))  # a Friday: no guessed New Year holiday
    assert not CAL_2026.is_working_day(date(2027, 1, 2))  # Saturday
    assert not WorkingCalendar().is_working_day(date(2026, 2, 14))  # no data: no make-up day either


def test_one_working_day_issued_friday_afternoon_ends_monday_midnight() -> None:
    result = deadline(at("2026-03-06 16:00"), "1 working day")  # Friday
    assert result == Deadline(at=at("2026-03-10 00:00"), provisional=False)  # = Monday 03-09 24:00
    assert result.at.tzinfo is SHANGHAI


def test_the_start_date_is_the_local_date_not_the_utc_date() -> None:
    # 17:00 UTC on Thursday is 01:00 on Friday in Shanghai: Friday is the (uncounted) start day.
    start = datetime(2026, 3, 5, 17, 0, tzinfo=UTC)
    assert deadline(start, "1 working day").at == at("2026-03-10 00:00")
    # One second before local midnight it is still Thursday: Friday is the working day.
    assert deadline(at("2026-03-05 23:59:59"), "1 working day").at == at("2026-03-07 00:00")


def test_one_working_day_issued_the_friday_before_qingming() -> None:
    # Fri 04-03 issued; Sat 04-04 – Mon 04-06 清明 off; Tue 04-07 is the working day.
    assert deadline(at("2026-04-03 16:00"), "1 working day").at == at("2026-04-08 00:00")


def test_one_working_day_issued_the_friday_before_spring_festival_is_the_makeup_saturday() -> None:
    # Fri 02-13 issued; Sat 02-14 is worked (调休), so the period ends at its 24:00.
    assert deadline(at("2026-02-13 16:00"), "1 working day").at == at("2026-02-15 00:00")


def test_sixty_working_days_across_spring_festival_qingming_and_labour_day() -> None:
    # Issued Tue 2026-02-10; counting starts Wed 02-11:
    #   Feb 11 12 13 = 1-3, Sat 14 (调休) = 4, 15-23 春节 off, 24 25 26 27 = 5-8, Sat 28 (调休) = 9
    #   Mar 2-6 = 10-14, 9-13 = 15-19, 16-20 = 20-24, 23-27 = 25-29, 30 31 = 30-31
    #   Apr 1 2 3 = 32-34, 4-6 清明 off, 7-10 = 35-38, 13-17 = 39-43, 20-24 = 44-48, 27-30 = 49-52
    #   May 1-5 劳动节 off, 6 7 8 = 53-55, Sat 9 (调休) = 56, 11 12 13 14 = 57-60
    # Last day Thu 2026-05-14, so the period ends at its 24:00.
    result = deadline(at("2026-02-10 10:00"), "60 working days")
    assert result == Deadline(at=at("2026-05-15 00:00"), provisional=False)


@pytest.mark.parametrize(
    ("issued", "expected", "why"),
    [
        ("2026-03-03 09:00", "2026-03-11 00:00", "last day Tue 03-10 is a working day"),
        ("2026-03-01 09:00", "2026-03-10 00:00", "last day Sun 03-08 rolls to Mon 03-09"),
        ("2026-09-24 09:00", "2026-10-09 00:00", "last day 10-01 国庆 rolls past 10-07 to Thu 10-08"),
        ("2026-02-12 09:00", "2026-02-25 00:00", "last day 02-19 春节 rolls to Tue 02-24"),
        ("2026-02-21 09:00", "2026-03-01 00:00", "last day Sat 02-28 is worked (调休): no roll"),
    ],
)
def test_seven_days_rolls_a_last_day_off_to_the_next_working_day(issued: str, expected: str, why: str) -> None:
    assert deadline(at(issued), "7 days") == Deadline(at=at(expected), provisional=False), why


def test_ten_days_counts_straight_through_national_day() -> None:
    # Calendar days count holidays inside the period; only the last day matters.
    assert deadline(at("2026-09-28 09:00"), "10 days").at == at("2026-10-09 00:00")  # last day Thu 10-08
    assert deadline(at("2026-09-30 09:00"), "10 days").at == at("2026-10-11 00:00")  # last day Sat 10-10 调休


def test_hours_minutes_and_seconds_are_exact_elapsed_time() -> None:
    friday_night = at("2026-03-06 22:30")
    assert deadline(friday_night, "2 hours") == Deadline(at=at("2026-03-07 00:30"), provisional=False)
    assert deadline(friday_night, "90 minutes").at == at("2026-03-07 00:00")
    assert deadline(friday_night, "45 seconds").at == at("2026-03-06 22:30:45")
    # During the Spring Festival too: no calendar involved.
    assert deadline(at("2026-02-16 10:00"), "24 hours").at == at("2026-02-17 10:00")


def test_hours_across_a_dst_change_are_elapsed_not_wall_clock() -> None:
    new_york = ZoneInfo("America/New_York")
    before = datetime(2026, 3, 8, 1, 30, tzinfo=new_york)  # EST; clocks jump 02:00 -> 03:00
    result = add_duration(before, parse_duration("1 hour"), WorkingCalendar(), new_york)
    # Same-zone datetime arithmetic in Python is wall-clock arithmetic, so compare in UTC.
    assert result.at.astimezone(UTC) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 03:30 EDT
    assert result.at.astimezone(UTC) - before.astimezone(UTC) == timedelta(hours=1)
    assert (result.at.hour, result.at.utcoffset()) == (3, timedelta(hours=-4))


def test_result_is_in_the_requested_zone_whatever_the_start_zone() -> None:
    start = datetime(2026, 3, 6, 16, 0, tzinfo=timezone(timedelta(hours=8)))
    result = deadline(start, "1 working day")
    assert result.at.tzinfo is SHANGHAI
    assert result.at.utcoffset() == timedelta(hours=8)


def test_working_days_running_into_an_unpublished_year_are_provisional() -> None:
    # Dec 2026 from Wed 12-02: 22 working days; 2027 weekdays only: Fri 01-01 = 23,
    # Jan 4-29 = 24-43, Feb 1-19 = 44-58, Mon 22 = 59, Tue 23 = 60.
    result = deadline(at("2026-12-01 10:00"), "60 working days")
    assert result == Deadline(at=at("2027-02-24 00:00"), provisional=True)

    schedule_2027 = WorkingCalendar(
        holidays=frozenset(_span("2027-01-01", "2027-01-03") | _span("2027-02-06", "2027-02-14")),
        makeup_workdays=frozenset({date(2027, 2, 20)}),
        known_years=frozenset({2027}),
    )
    # With 2027 known: Jan 1 off, Jan 4-29 = 23-42, Feb 1-5 = 43-47, Feb 8-12 off,
    # Feb 15-19 = 48-52, Sat 20 (调休) = 53, Feb 22-26 = 54-58, Mon Mar 1 = 59, Tue Mar 2 = 60.
    updated = deadline(at("2026-12-01 10:00"), "60 working days", CAL_2026.merged(schedule_2027))
    assert updated == Deadline(at=at("2027-03-03 00:00"), provisional=False)


def test_days_are_provisional_only_when_the_last_day_is_in_an_unknown_year() -> None:
    assert deadline(at("2026-12-01 10:00"), "30 days") == Deadline(at("2027-01-01 00:00"), False)
    # Last day Fri 2027-01-01: a weekday, but whether it is New Year's Day off is unknown.
    assert deadline(at("2026-12-01 10:00"), "31 days") == Deadline(at("2027-01-02 00:00"), True)


def test_a_single_skipped_unknown_day_makes_working_days_provisional() -> None:
    # Issued Fri 2022-12-30: Sat 12-31 is skipped, Sun 2023-01-01 skipped, Mon 01-02 counted.
    # The counted day's year is known, but whether Sat 12-31 was a make-up workday is not.
    only_2023 = WorkingCalendar(known_years=frozenset({2023}))
    assert deadline(at("2022-12-30 10:00"), "1 working day", only_2023) == Deadline(at("2023-01-03 00:00"), True)
    both_years = WorkingCalendar(known_years=frozenset({2022, 2023}))
    assert deadline(at("2022-12-30 10:00"), "1 working day", both_years) == Deadline(at("2023-01-03 00:00"), False)


def test_merged_replaces_whole_years_and_keeps_the_others() -> None:
    only_new_year = WorkingCalendar(frozenset({date(2026, 1, 1)}), frozenset(), frozenset({2026}))
    merged = CAL_2026.merged(only_new_year)
    assert not merged.is_working_day(date(2026, 1, 1))
    assert merged.is_working_day(date(2026, 2, 16))  # 春节 gone with the replaced year
    assert not merged.is_working_day(date(2026, 2, 14))  # and the make-up day with it
    assert merged.known_years == frozenset({2026})

    adds_2027 = WorkingCalendar(frozenset({date(2027, 1, 1)}), frozenset(), frozenset({2027}))
    both = CAL_2026.merged(adds_2027)
    assert both.known_years == frozenset({2026, 2027})
    assert not both.is_working_day(date(2026, 2, 16)) and not both.is_working_day(date(2027, 1, 1))


def test_working_days_between_basics() -> None:
    friday = at("2026-02-13 16:00")
    tuesday = at("2026-02-24 09:00")
    assert working_days_between(friday, tuesday, CAL_2026, SHANGHAI) == 2  # Sat 02-14 (调休), Tue 02-24
    assert working_days_between(tuesday, friday, CAL_2026, SHANGHAI) == -2
    assert working_days_between(friday, at("2026-02-13 23:00"), CAL_2026, SHANGHAI) == 0
    assert working_days_between(friday, at("2026-02-23 23:00"), CAL_2026, SHANGHAI) == 1
    # Unknown year: weekdays. Dec 2026 after the 1st = 22, Jan 1-8 2027 = 6.
    assert working_days_between(at("2026-12-01 10:00"), at("2027-01-08 10:00"), CAL_2026, SHANGHAI) == 28


def test_working_days_between_agrees_with_add_duration() -> None:
    for offset in range(0, 365, 5):
        start = at("2026-01-01 10:00") + timedelta(days=offset)
        for amount in (1, 5, 15, 60):
            result = deadline(start, f"{amount} working days")
            last_day_end = result.at - timedelta(microseconds=1)
            assert working_days_between(start, last_day_end, CAL_2026, SHANGHAI) == amount, start


def test_working_days_between_matches_counting_day_by_day() -> None:
    first = date(2025, 12, 20)
    for span in range(0, 420, 13):
        for shift in range(0, 60, 7):
            a = first + timedelta(days=shift)
            b = a + timedelta(days=span)
            expected = sum(CAL_2026.is_working_day(a + timedelta(days=i)) for i in range(1, span + 1))
            start = datetime.combine(a, datetime.min.time(), SHANGHAI)
            end = datetime.combine(b, datetime.min.time(), SHANGHAI)
            assert working_days_between(start, end, CAL_2026, SHANGHAI) == expected, (a, b)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add_duration(datetime(2026, 3, 6, 16, 0), Duration(1, DurationUnit.DAYS), CAL_2026, SHANGHAI)
    with pytest.raises(ValueError, match="timezone-aware"):
        working_days_between(at("2026-03-06 16:00"), datetime(2026, 3, 9), CAL_2026, SHANGHAI)


def test_a_calendar_with_no_working_day_stops_instead_of_looping() -> None:
    every_day = frozenset(_span("2030-01-01", "2055-12-31"))
    calendar = WorkingCalendar(every_day, frozenset(), frozenset(range(2030, 2056)))
    with pytest.raises(CalendarScanLimitExceeded):
        deadline(at("2030-01-01 10:00"), "1 working day", calendar)
    with pytest.raises(CalendarScanLimitExceeded):
        deadline(at("2030-01-01 10:00"), "1 day", calendar)


def test_a_date_cannot_be_both_holiday_and_makeup_workday() -> None:
    with pytest.raises(ValueError, match="2026-02-14"):
        WorkingCalendar(frozenset({date(2026, 2, 14)}), frozenset({date(2026, 2, 14)}), frozenset({2026}))
