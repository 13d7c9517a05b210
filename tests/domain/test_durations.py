import pytest

from casebridge.domain.durations import Duration, DurationUnit, parse_duration
from casebridge.domain.errors import InvalidDuration

WD = DurationUnit.WORKING_DAYS

ACCEPTED = [
    ("5 working days", Duration(5, WD)),
    ("1 working day", Duration(1, WD)),
    ("2 working day", Duration(2, WD)),
    ("1 working days", Duration(1, WD)),
    ("  60 Working  Days \n", Duration(60, WD)),
    ("10 days", Duration(10, DurationUnit.DAYS)),
    ("1 DAY", Duration(1, DurationUnit.DAYS)),
    ("2 hours", Duration(2, DurationUnit.HOURS)),
    ("1 hour", Duration(1, DurationUnit.HOURS)),
    ("30 minutes", Duration(30, DurationUnit.MINUTES)),
    ("1 minute", Duration(1, DurationUnit.MINUTES)),
    ("45 seconds", Duration(45, DurationUnit.SECONDS)),
    ("1 second", Duration(1, DurationUnit.SECONDS)),
    ("007 days", Duration(7, DurationUnit.DAYS)),
    ("5个工作日", Duration(5, WD)),
    (" 5 个工作日 ", Duration(5, WD)),
    ("10日", Duration(10, DurationUnit.DAYS)),
    ("7天", Duration(7, DurationUnit.DAYS)),
    ("24小时", Duration(24, DurationUnit.HOURS)),
    ("30分钟", Duration(30, DurationUnit.MINUTES)),
    ("15秒", Duration(15, DurationUnit.SECONDS)),
    ("2000 working days", Duration(2000, WD)),
    ("3650 days", Duration(3650, DurationUnit.DAYS)),
]

REJECTED = [
    "",
    "   ",
    "days",
    "5",
    "0 days",
    "0个工作日",
    "-1 days",
    "+1 days",
    "1.5 days",
    "1e3 days",
    "five days",
    "5days",
    "5 workingdays",
    "5 business days",
    "5 weeks",
    "5 days 2 hours",
    "5 hours ago",
    "about 5 days",
    "2001 working days",
    "3651 days",
    "87601 hours",
    "9999999999 days",
    "５个工作日",  # full-width digit
    "5工作日",
    "5 个 工作日",
]


@pytest.mark.parametrize(("text", "expected"), ACCEPTED)
def test_parse_duration_accepts(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", REJECTED)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(InvalidDuration) as raised:
        parse_duration(text)
    message = str(raised.value)
    assert repr(text) in message
    if "out of range" not in message:
        assert "N working days" in message and "N个工作日" in message


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (Duration(5, WD), "5 working days"),
        (Duration(1, WD), "1 working day"),
        (Duration(10, DurationUnit.DAYS), "10 days"),
        (Duration(1, DurationUnit.DAYS), "1 day"),
        (Duration(2, DurationUnit.HOURS), "2 hours"),
        (Duration(1, DurationUnit.HOURS), "1 hour"),
        (Duration(1, DurationUnit.MINUTES), "1 minute"),
        (Duration(90, DurationUnit.SECONDS), "90 seconds"),
    ],
)
def test_str_is_canonical_text(duration: Duration, text: str) -> None:
    assert str(duration) == text


@pytest.mark.parametrize(("text", "expected"), ACCEPTED)
def test_canonical_text_round_trips(text: str, expected: Duration) -> None:
    assert parse_duration(str(parse_duration(text))) == expected


def test_invalid_duration_is_a_value_error() -> None:
    assert issubclass(InvalidDuration, ValueError)


@pytest.mark.parametrize(
    ("amount", "unit"),
    [(0, WD), (-3, DurationUnit.DAYS), (2001, WD), (True, DurationUnit.DAYS)],
)
def test_duration_rejects_out_of_range_amounts(amount: int, unit: DurationUnit) -> None:
    with pytest.raises(InvalidDuration):
        Duration(amount, unit)


def test_duration_from_a_decoded_payload_gets_the_enum_unit() -> None:
    # A data converter may hand the unit back as a plain str.
    duration = Duration(3, "working days")  # type: ignore[arg-type]
    assert duration.unit is WD
    assert duration == Duration(3, WD)
    assert str(duration) == "3 working days"
    with pytest.raises(InvalidDuration):
        Duration(3, "fortnights")  # type: ignore[arg-type]
