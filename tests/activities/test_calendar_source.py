import os
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import casebridge
from casebridge.calendar_source import CalendarOverrideError, load_calendar, package_calendar
from casebridge.domain.calendar import Deadline, WorkingCalendar, add_duration
from casebridge.domain.durations import parse_duration

SHANGHAI = ZoneInfo("Asia/Shanghai")
EXAMPLE = Path(casebridge.__file__).parent / "policy" / "calendar-override.example.toml"

OVERRIDE_2027 = """
[years.2027]
holidays = ["2027-01-01", "2027-01-02", "2027-01-03",
            "2027-02-06", "2027-02-07", "2027-02-08", "2027-02-09", "2027-02-10",
            "2027-02-11", "2027-02-12", "2027-02-13", "2027-02-14"]
workdays = ["2027-02-20"]
"""


def _span(first: str, last: str) -> set[date]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return {start + timedelta(days=i) for i in range((end - start).days + 1)}


def _in_year(days: frozenset[date], year: int) -> set[date]:
    return {d for d in days if d.year == year}


def _write(tmp_path: Path, text: str, name: str = "calendar.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _sixty_working_days_from_december_2026(calendar: WorkingCalendar) -> Deadline:
    start = datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI)
    return add_duration(start, parse_duration("60 working days"), calendar, SHANGHAI)


def test_package_data_matches_the_published_2025_and_2026_schedules() -> None:
    calendar = package_calendar()
    # 国务院办公厅关于2026年部分节假日安排的通知
    assert _in_year(calendar.holidays, 2026) == (
        _span("2026-01-01", "2026-01-03")
        | _span("2026-02-15", "2026-02-23")
        | _span("2026-04-04", "2026-04-06")
        | _span("2026-05-01", "2026-05-05")
        | _span("2026-06-19", "2026-06-21")
        | _span("2026-09-25", "2026-09-27")
        | _span("2026-10-01", "2026-10-07")
    )
    assert _in_year(calendar.makeup_workdays, 2026) == {
        date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28),
        date(2026, 5, 9), date(2026, 9, 20), date(2026, 10, 10),
    }  # fmt: skip
    # 国务院办公厅关于2025年部分节假日安排的通知
    assert _in_year(calendar.holidays, 2025) == (
        {date(2025, 1, 1)}
        | _span("2025-01-28", "2025-02-04")
        | _span("2025-04-04", "2025-04-06")
        | _span("2025-05-01", "2025-05-05")
        | _span("2025-05-31", "2025-06-02")
        | _span("2025-10-01", "2025-10-08")
    )
    assert _in_year(calendar.makeup_workdays, 2025) == {
        date(2025, 1, 26), date(2025, 2, 8), date(2025, 4, 27), date(2025, 9, 28), date(2025, 10, 11),
    }  # fmt: skip


def test_package_knows_the_years_it_has_data_for_and_not_2027() -> None:
    known = package_calendar().known_years
    assert set(range(2004, 2027)) <= known
    assert 2027 not in known
    assert load_calendar(None) is package_calendar()


def test_override_for_2027_turns_a_provisional_deadline_into_an_exact_one(tmp_path: Path) -> None:
    # Without 2027 data: 22 working days in Dec 2026, then weekdays to Tue 2027-02-23 (day 60).
    before = _sixty_working_days_from_december_2026(load_calendar(None))
    assert before == Deadline(datetime(2027, 2, 24, tzinfo=SHANGHAI), provisional=True)

    # With it: Jan 1 and Feb 8-12 are off, Sat Feb 20 is worked, so day 60 is Tue 2027-03-02.
    after = _sixty_working_days_from_december_2026(load_calendar(_write(tmp_path, OVERRIDE_2027)))
    assert after == Deadline(datetime(2027, 3, 3, tzinfo=SHANGHAI), provisional=False)


def test_an_override_year_replaces_the_package_year(tmp_path: Path) -> None:
    path = _write(tmp_path, '[years.2026]\nholidays = ["2026-01-01"]\n')
    calendar = load_calendar(path)
    assert not calendar.is_working_day(date(2026, 1, 1))
    assert calendar.is_working_day(date(2026, 2, 16))  # 春节 no longer in the data
    assert not calendar.is_working_day(date(2026, 2, 14))  # nor its make-up Saturday
    assert not calendar.is_working_day(date(2025, 1, 28))  # other years untouched


def test_bare_toml_dates_and_a_missing_workdays_list_are_accepted(tmp_path: Path) -> None:
    calendar = load_calendar(_write(tmp_path, "[years.2027]\nholidays = [2027-01-01]\n"))
    assert calendar.is_known(date(2027, 1, 1))
    assert not calendar.is_working_day(date(2027, 1, 1))


def test_an_empty_override_file_changes_nothing(tmp_path: Path) -> None:
    assert load_calendar(_write(tmp_path, "# nothing published yet\n")) == package_calendar()


def test_the_shipped_example_is_valid() -> None:
    calendar = load_calendar(EXAMPLE)
    assert calendar.is_known(date(2027, 6, 1))
    assert calendar.is_working_day(date(2027, 2, 20))  # its make-up Saturday
    assert not calendar.is_working_day(date(2027, 2, 8))


def test_repeated_loads_are_cached_and_an_edit_is_picked_up(tmp_path: Path) -> None:
    path = _write(tmp_path, OVERRIDE_2027)
    first = load_calendar(path)
    assert load_calendar(path) is first

    # Same size on purpose: only the modification time tells the versions apart.
    edited = OVERRIDE_2027.replace('"2027-01-01", ', '"2027-01-04", ')
    assert len(edited) == len(OVERRIDE_2027)
    path.write_text(edited, encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    second = load_calendar(path)
    assert second is not first
    assert second.is_working_day(date(2027, 1, 1))
    assert not second.is_working_day(date(2027, 1, 4))


def test_a_missing_override_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CalendarOverrideError, match="missing.toml"):
        load_calendar(tmp_path / "missing.toml")


BAD_OVERRIDES = [
    ("not toml", "[years.2027\n", ["not valid TOML"]),
    ("unknown top-level key", '[year.2027]\nholidays = ["2027-01-01"]\n', ["'year'", "unknown key"]),
    ("years not a table", 'years = ["2027-01-01"]\n', ["'years'", "table"]),
    ("year not four digits", '[years.27]\nholidays = ["2027-01-01"]\n', ["years.27", "four digits"]),
    ("year not a table", "[years]\n2027 = 1\n", ["years.2027", "must be a table"]),
    (
        "unknown year key",
        '[years.2027]\nholidays = ["2027-01-01"]\nworkday = ["2027-02-20"]\n',
        ["years.2027", "'workday'", "unknown key"],
    ),
    (
        "holidays missing",
        '[years.2027]\nworkdays = ["2027-02-20"]\n',
        ["years.2027", "'holidays' is missing"],
    ),
    ("holidays empty", "[years.2027]\nholidays = []\n", ["years.2027.holidays", "empty"]),
    ("holidays not a list", '[years.2027]\nholidays = "2027-01-01"\n', ["years.2027.holidays", "list"]),
    (
        "date outside its year",
        '[years.2027]\nholidays = ["2027-01-01", "2026-12-31"]\n',
        ["years.2027.holidays[1]", "2026-12-31", "outside 2027"],
    ),
    (
        "date in both lists",
        '[years.2027]\nholidays = ["2027-01-01", "2027-02-20"]\nworkdays = ["2027-02-20"]\n',
        ["years.2027", "2027-02-20", "both"],
    ),
    (
        "workday on a weekday",
        '[years.2027]\nholidays = ["2027-01-01"]\nworkdays = ["2027-02-19"]\n',
        ["years.2027.workdays", "2027-02-19", "Friday", "Saturdays or Sundays"],
    ),
    (
        "holiday not an ISO date",
        '[years.2027]\nholidays = ["2027/01/01"]\n',
        ["years.2027.holidays[0]", "'2027/01/01'", "not an ISO date"],
    ),
    (
        "compact ISO form",
        '[years.2027]\nholidays = ["20270101"]\n',
        ["years.2027.holidays[0]", "not an ISO date"],
    ),
    (
        "impossible date",
        '[years.2027]\nholidays = ["2027-02-30"]\n',
        ["years.2027.holidays[0]", "'2027-02-30'", "not an ISO date"],
    ),
    ("number instead of date", "[years.2027]\nholidays = [20270101]\n", ["holidays[0]", "not an ISO date"]),
    (
        "datetime instead of date",
        "[years.2027]\nholidays = [2027-01-01T00:00:00]\n",
        ["holidays[0]", "not an ISO date"],
    ),
    (
        "listed twice",
        '[years.2027]\nholidays = ["2027-01-01", "2027-01-01"]\n',
        ["years.2027.holidays[1]", "twice"],
    ),
]


@pytest.mark.parametrize(
    ("text", "fragments"),
    [pytest.param(text, fragments, id=case) for case, text, fragments in BAD_OVERRIDES],
)
def test_bad_override_files_give_a_clear_error(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = _write(tmp_path, text, name="bad-calendar.toml")
    with pytest.raises(CalendarOverrideError) as raised:
        load_calendar(path)
    message = str(raised.value)
    assert "bad-calendar.toml" in message
    for fragment in fragments:
        assert fragment in message
