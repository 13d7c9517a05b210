"""Where the working calendar comes from: the ``chinesecalendar`` package, plus an override file.

The State Council publishes next year's holidays around November, usually before a package
release carries them; the override file (TOML, path in ``CASEBRIDGE_CALENDAR_OVERRIDES``) adds
or replaces whole years without a code release. See ``policy/calendar-override.example.toml``.

I/O lives here, outside ``domain/``; an activity calls ``load_calendar`` before every deadline
computation, so the result is recorded in workflow history.
"""

from __future__ import annotations

import re
import threading
import tomllib
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from casebridge.domain.calendar import WorkingCalendar


class CalendarOverrideError(ValueError):
    """The override file cannot be used; the message names the file, the key and the problem."""


_YEAR_KEY = re.compile(r"[0-9]{4}")
# date.fromisoformat also takes "20270101" and week dates since 3.11; the file asks for YYYY-MM-DD.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_YEAR_KEYS = frozenset({"holidays", "workdays"})

# Several paths only happen in tests; bound the cache anyway.
_CACHE_MAX_PATHS = 8
_cache_lock = threading.Lock()
_cache: dict[Path, tuple[tuple[int, int], WorkingCalendar]] = {}


def load_calendar(overrides: Path | None) -> WorkingCalendar:
    """The package calendar, with every year in ``overrides`` (if given) replacing the package's.

    Cached by the file's (path, mtime_ns, size): cheap on every call, and an edited file is
    picked up without a restart.
    """
    if overrides is None:
        return package_calendar()
    path = overrides.absolute()
    try:
        stat = path.stat()
    except OSError as exc:
        raise CalendarOverrideError(f"{path}: cannot read the calendar override file: {exc.strerror}") from exc
    version = (stat.st_mtime_ns, stat.st_size)
    with _cache_lock:
        hit = _cache.get(path)
    if hit is not None and hit[0] == version:
        return hit[1]

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CalendarOverrideError(f"{path}: cannot read the calendar override file: {exc}") from exc
    calendar = package_calendar().merged(parse_calendar_override(text, source=str(path)))
    with _cache_lock:
        if path not in _cache and len(_cache) >= _CACHE_MAX_PATHS:
            _cache.clear()
        _cache[path] = (version, calendar)
    return calendar


@cache
def package_calendar() -> WorkingCalendar:
    """The calendar as published in the installed ``chinesecalendar`` package."""
    from chinese_calendar import constants

    holidays: frozenset[date] = frozenset(constants.holidays)
    workdays: frozenset[date] = frozenset(constants.workdays)
    # The package has no list of covered years; a year with a single holiday entry is one
    # whose schedule it carries (every real year has New Year's Day).
    known_years = frozenset(day.year for day in holidays)
    return WorkingCalendar(holidays=holidays, makeup_workdays=workdays, known_years=known_years)


def parse_calendar_override(text: str, source: str) -> WorkingCalendar:
    """Validate an override document strictly; ``source`` names it in error messages."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CalendarOverrideError(f"{source}: not valid TOML: {exc}") from exc

    unknown = set(document) - {"years"}
    if unknown:
        raise CalendarOverrideError(f"{source}: unknown key {sorted(unknown)[0]!r}; expected only [years.YYYY] tables")
    # An empty file (everything commented out) means no overrides, not an error: failing here
    # would stop every deadline computation.
    years = document.get("years", {})
    if not isinstance(years, dict):
        raise CalendarOverrideError(f"{source}: 'years' must be a table of [years.YYYY] tables")

    holidays: set[date] = set()
    workdays: set[date] = set()
    for year_key, schedule in years.items():
        year_holidays, year_workdays = _parse_year(source, year_key, schedule)
        holidays |= year_holidays
        workdays |= year_workdays
    return WorkingCalendar(
        holidays=frozenset(holidays),
        makeup_workdays=frozenset(workdays),
        known_years=frozenset(int(key) for key in years),
    )


def _parse_year(source: str, year_key: str, schedule: Any) -> tuple[set[date], set[date]]:
    where = f"{source}: years.{year_key}"
    if not _YEAR_KEY.fullmatch(year_key):
        raise CalendarOverrideError(f"{where}: the year must be four digits, e.g. [years.2027]")
    if not isinstance(schedule, dict):
        raise CalendarOverrideError(f"{where}: must be a table with 'holidays' and 'workdays'")
    unknown = set(schedule) - _YEAR_KEYS
    if unknown:
        raise CalendarOverrideError(f"{where}: unknown key {sorted(unknown)[0]!r}; expected 'holidays' and 'workdays'")
    if "holidays" not in schedule:
        raise CalendarOverrideError(f"{where}: 'holidays' is missing; it replaces the whole year")

    year = int(year_key)
    holidays = _parse_dates(where, "holidays", schedule["holidays"], year)
    workdays = _parse_dates(where, "workdays", schedule.get("workdays", []), year)
    if not holidays:
        raise CalendarOverrideError(f"{where}.holidays: is empty; every year has at least New Year's Day")
    both = sorted(holidays & workdays)
    if both:
        raise CalendarOverrideError(f"{where}: {both[0].isoformat()} is in both 'holidays' and 'workdays'")
    for day in sorted(workdays):
        # 调休 only ever moves work onto a weekend; a weekday here is a typo for another date.
        if day.weekday() < 5:
            raise CalendarOverrideError(
                f"{where}.workdays: {day.isoformat()} is a {day.strftime('%A')}; "
                "make-up workdays are Saturdays or Sundays"
            )
    return holidays, workdays


def _parse_dates(where: str, key: str, values: Any, year: int) -> set[date]:
    if not isinstance(values, list):
        raise CalendarOverrideError(f'{where}.{key}: must be a list of dates like "{year}-01-01"')
    days: set[date] = set()
    for index, value in enumerate(values):
        day = _parse_date(f"{where}.{key}[{index}]", value)
        if day.year != year:
            raise CalendarOverrideError(
                f"{where}.{key}[{index}]: {day.isoformat()} is outside {year}; list it under its own year"
            )
        if day in days:
            raise CalendarOverrideError(f"{where}.{key}[{index}]: {day.isoformat()} is listed twice")
        days.add(day)
    return days


def _parse_date(where: str, value: Any) -> date:
    # A bare TOML date (2027-01-01, unquoted) is as clear as the quoted string; accept both.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise CalendarOverrideError(f"{where}: {value!r} is not an ISO date (YYYY-MM-DD)")
