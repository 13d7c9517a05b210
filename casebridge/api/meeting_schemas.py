"""Bodies of the joint-meeting endpoints. The worker's phone appears in none of them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from casebridge.api.schemas import Code, DurationText, Strict, Text2000, Title


class MeetingCreate(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"title": "2026年12月联席会议", "scheduled_for": "2026-12-15T09:00:00+08:00"}]},
    )
    title: Title
    scheduled_for: datetime = Field(description="ISO 8601; without an offset it is local time")


class DecisionIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "decision": "交警大队十个工作日内出具责任认定，人社局同步启动工伤认定",
                    "lead_department": "traffic",
                    "assist_departments": ["hrss"],
                    "resolve_within": "10 working days",
                }
            ]
        },
    )
    decision: Text2000
    lead_department: Code
    assist_departments: Annotated[list[Code], Field(max_length=10)] = []
    resolve_within: DurationText


class StatementIn(Strict):
    statement: Text2000


class ReasonIn(Strict):
    reason: Text2000


class ReorderIn(Strict):
    order: Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=80)]], Field(max_length=500)]


class DecisionOut(BaseModel):
    decision: str
    lead_department: str
    assist_departments: list[str]
    resolve_within: str
    decided_by: str
    decided_at: datetime


class AgendaItemOut(BaseModel):
    case_id: str | None
    reason: str
    departments: list[str]
    overdue_days: int
    decision: DecisionOut | None
    key: str
    kind: Literal["case", "topic"]
    title: str
    case_ids: list[str]
    carried_from: str | None
    positions: dict[str, str]
    summary: dict[str, Any] | None = None


class ProposalOut(BaseModel):
    key: str
    kind: str
    title: str
    reason: str
    case_ids: list[str]
    departments: list[str]


class FollowUpOut(BaseModel):
    meeting_id: str
    meeting_title: str
    case_id: str
    case_title: str
    case_status: str
    decision: str
    lead_department: str
    resolve_within: str
    decided_at: datetime
    lead_status: str | None
    due_at: datetime | None
    overdue: bool


class MeetingOut(BaseModel):
    id: str
    title: str
    scheduled_for: datetime
    status: str
    agenda: list[AgendaItemOut]
    minutes: str | None = None
    proposals: list[ProposalOut] = []
    follow_up: list[FollowUpOut] = []


class MeetingEventOut(BaseModel):
    seq: int
    type: str
    at: datetime
    actor: str
    data: dict[str, Any]


class PositionOut(BaseModel):
    case_id: str
    department: str
    statement: str | None
