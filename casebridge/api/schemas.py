"""Request and response bodies, with the limits of the API contract (anything outside → 422)."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictBool,
    StringConstraints,
    model_serializer,
)

ALLOWED_CONTROLS = frozenset("\n\r\t")


def printable_text(value: str) -> str:
    """Free text may hold line breaks and tabs, but no other control characters: PostgreSQL cannot
    store NUL, and the rest only ever arrive by mistake or malice."""
    for char in value:
        if char not in ALLOWED_CONTROLS and unicodedata.category(char) in ("Cc", "Cs"):
            raise ValueError(f"contains a control character U+{ord(char):04X}")
    return value


Clean = AfterValidator(printable_text)
Text2000 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), Clean]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Clean]
Description = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000), Clean]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50), Clean]
# ASCII digits only: \d would also accept full-width and other scripts' digits.
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^1[0-9]{10}$")]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=r"^[a-z0-9_]+$")]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), Clean]
Place = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Clean]
DurationText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40), Clean]
Amount = Annotated[Decimal, Field(ge=0, le=Decimal("999999999999.99"), decimal_places=2)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkerIn(Strict):
    name: Name
    phone: Phone
    occupation: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50), Clean] | None = None
    platform: Short | None = None


class CaseCreate(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "worker": {"name": "杨书", "phone": "13912345678", "occupation": "快递员", "platform": "某快递"},
                    "category": "wage_arrears",
                    "title": "快递员一年工资未发",
                    "description": "杨书已一年没有拿到工资，在驿站法律援助点求助。",
                    "station": "暖心驿站（江北）",
                    "counterparty": "某快递网点",
                    "amount_claimed": "36000.00",
                }
            ]
        },
    )

    worker: WorkerIn
    category: Code
    title: Title
    description: Description
    station: Place | None = None
    counterparty: Place | None = None
    amount_claimed: Amount | None = None
    departments: Annotated[list[Code], Field(min_length=1, max_length=10)] | None = Field(
        default=None, description="Departments to route to instead of the policy; the first one leads."
    )


class RouteIn(Strict):
    department: Code
    role: Literal["lead", "assist"]


class ReasonIn(Strict):
    reason: Text2000


class NoteIn(Strict):
    note: Text2000


class OutcomeIn(Strict):
    outcome: Text2000


class ExtensionIn(Strict):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"duration": "10 working days", "reason": "等待鉴定结论"}]}
    )
    duration: DurationText
    reason: Text2000


class DecisionIn(Strict):
    approved: StrictBool


class SuspendIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "等待交警责任认定", "until_department": "traffic"}]},
    )
    reason: Text2000
    until_department: Code | None = None


class ResolveIn(Strict):
    summary: Text2000
    amount_recovered: Amount | None = None


class FeedbackIn(Strict):
    satisfied: StrictBool
    comment: Text2000 | None = None


class WorkerOut(BaseModel):
    name: str
    phone: str
    occupation: str | None
    platform: str | None


class AssignmentOut(BaseModel):
    department: str
    role: str
    status: str
    ack_due_at: datetime
    due_at: datetime
    provisional: bool
    warning: bool
    overdue: bool
    suspended: bool
    supervised: bool
    extension_requested: bool
    suspension_requested: bool


class CaseOut(BaseModel):
    id: str
    status: str
    category: str
    title: str
    description: str
    worker: WorkerOut
    station: str | None
    counterparty: str | None
    amount_claimed: str | None
    amount_recovered: str | None
    created_at: datetime
    updated_at: datetime
    due_at: datetime | None
    assignments: list[AssignmentOut]
    meeting_id: str | None
    channel: str = "station"


class CaseList(BaseModel):
    items: list[CaseOut]
    total: int = Field(description="matching cases, exact up to 1 000")
    total_capped: bool = Field(False, description="present (true) only when more than 1 000 match: total is 1 000")

    @model_serializer(mode="wrap")
    def _only_when_capped(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if not self.total_capped:
            data.pop("total_capped", None)  # the contract's {"items", "total"} when the count is exact
        return data


class EventOut(BaseModel):
    seq: int
    type: str
    at: datetime
    actor: str
    data: dict[str, Any]


class PublicCaseOut(BaseModel):
    id: str
    status: str
    updated_at: datetime


class Me(BaseModel):
    username: str
    role: str
    department: str | None


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"


class UserCreate(Strict):
    username: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=r"^[\w.-]+$")
    ]
    password: Annotated[str, StringConstraints(min_length=8, max_length=200)]
    role: Literal["officer", "department", "leader", "admin"]
    department: Code | None = None


class RecomputeOut(BaseModel):
    cases: int
    moved: int


class CategoryOut(BaseModel):
    category: str
    label: str
    lead: str
    assist: list[str]
    ack_within: str
    resolve_within: str
    warn_at: list[float]
    escalate_after_overdue: str


class PolicyOut(BaseModel):
    digest: str
    meeting_interval: str
    departments: dict[str, str]
    categories: list[CategoryOut]
