"""Durations as the policy writes them: ``"5 working days"``, ``"10 days"``, ``"2 hours"`` …

Pure: no I/O, no clock. Safe inside the Temporal workflow sandbox.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from casebridge.domain.errors import InvalidDuration


class DurationUnit(StrEnum):
    WORKING_DAYS = "working days"
    DAYS = "days"
    HOURS = "hours"
    MINUTES = "minutes"
    SECONDS = "seconds"


# Every unit allows about ten years. Nothing in the statutes comes close; a larger
# value is a typo, and it would also make working-day counting loop for a long time.
MAX_AMOUNT: dict[DurationUnit, int] = {
    DurationUnit.WORKING_DAYS: 2_000,
    DurationUnit.DAYS: 3_650,
    DurationUnit.HOURS: 3_650 * 24,
    DurationUnit.MINUTES: 3_650 * 24 * 60,
    DurationUnit.SECONDS: 3_650 * 24 * 60 * 60,
}

_SINGULAR: dict[DurationUnit, str] = {
    DurationUnit.WORKING_DAYS: "working day",
    DurationUnit.DAYS: "day",
    DurationUnit.HOURS: "hour",
    DurationUnit.MINUTES: "minute",
    DurationUnit.SECONDS: "second",
}

# Spellings accepted by parse_duration, matched after lower-casing and trimming.
_UNIT_WORDS: dict[str, DurationUnit] = {
    "working days": DurationUnit.WORKING_DAYS,
    "working day": DurationUnit.WORKING_DAYS,
    "days": DurationUnit.DAYS,
    "day": DurationUnit.DAYS,
    "hours": DurationUnit.HOURS,
    "hour": DurationUnit.HOURS,
    "minutes": DurationUnit.MINUTES,
    "minute": DurationUnit.MINUTES,
    "seconds": DurationUnit.SECONDS,
    "second": DurationUnit.SECONDS,
    "个工作日": DurationUnit.WORKING_DAYS,
    "日": DurationUnit.DAYS,
    "天": DurationUnit.DAYS,
    "小时": DurationUnit.HOURS,
    "分钟": DurationUnit.MINUTES,
    "秒": DurationUnit.SECONDS,
}

# ASCII digits only and at most 9 of them: the bound check below then works on a small
# int, and odd digit forms (full-width, other scripts) are refused rather than guessed.
# English units need a space after the number; the Chinese ones are written without.
_ENGLISH = re.compile(r"([0-9]{1,9})\s+(working\s+days?|days?|hours?|minutes?|seconds?)", re.ASCII)
_CHINESE = re.compile(r"([0-9]{1,9})\s*(个工作日|日|天|小时|分钟|秒)")

ACCEPTED_FORMS = (
    "'N working days', 'N days', 'N hours', 'N minutes', 'N seconds' "
    "(singular too), 'N个工作日', 'N日', 'N天', 'N小时', 'N分钟', 'N秒'; N a whole number ≥ 1"
)


@dataclass(frozen=True)
class Duration:
    amount: int
    unit: DurationUnit

    def __post_init__(self) -> None:
        # bool is an int subclass; True working days is surely a bug upstream.
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise InvalidDuration(f"时限数值必须是整数 / duration amount must be an int, got {self.amount!r}")
        try:
            unit = DurationUnit(self.unit)
        except ValueError:
            raise InvalidDuration(f"未知时限单位 / unknown duration unit {self.unit!r}") from None
        # A plain str from a decoded payload becomes the enum, so __str__ and comparisons work.
        object.__setattr__(self, "unit", unit)
        limit = MAX_AMOUNT[unit]
        if not 1 <= self.amount <= limit:
            raise InvalidDuration(
                f"时限超出范围 / duration out of range: {self.amount} {self.unit} (allowed 1 to {limit} {self.unit})"
            )

    def __str__(self) -> str:
        unit = _SINGULAR[self.unit] if self.amount == 1 else self.unit.value
        return f"{self.amount} {unit}"


def parse_duration(text: str) -> Duration:
    """Parse a policy or request duration; raises InvalidDuration naming the text and the accepted forms."""
    stripped = text.strip()
    match = _ENGLISH.fullmatch(stripped.lower()) or _CHINESE.fullmatch(stripped)
    if match is None:
        raise InvalidDuration(f"时限格式无效 / invalid duration {text!r}: accepted forms are {ACCEPTED_FORMS}")
    number, unit_text = match.groups()
    unit = _UNIT_WORDS[" ".join(unit_text.split())]
    amount = int(number)
    if not 1 <= amount <= MAX_AMOUNT[unit]:
        raise InvalidDuration(
            f"时限超出范围 / duration out of range {text!r}: N must be from 1 to {MAX_AMOUNT[unit]} for {unit.value}"
        )
    return Duration(amount, unit)
