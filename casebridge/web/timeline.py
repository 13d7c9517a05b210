"""A case's events as lines a person reads: when, who, what, and the detail that matters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from casebridge.api.schemas import EventOut
from casebridge.web.i18n import Translator

TEXT_KEYS = ("reason", "note", "outcome", "summary", "comment", "decision")
ALERT = {"assignment.overdue", "assignment.returned", "case.escalated"}
WARN = {"assignment.warning", "assignment.suspended", "assignment.extension_requested"}
GOOD = {"assignment.acknowledged", "assignment.completed", "case.resolved", "case.closed"}


@dataclass(frozen=True)
class Line:
    seq: int
    at: datetime
    actor: str
    label: str
    detail: str
    tone: str  # alert | warn | good | ""


def _detail(event: EventOut, t: Translator, local: Any) -> str:
    data = event.data
    parts: list[str] = []
    if data.get("department"):
        department = t.department(str(data["department"]))
        role = data.get("role")
        parts.append(department + t.paren(t("role." + role)) if role in ("lead", "assist") else department)
    if event.type == "assignment.issued":
        parts.append(f"{t('cd.ack')} {t('cd.due')} {local(_when(data.get('ack_due_at')))}")
        parts.append(f"{t('cd.resolve')} {t('cd.due')} {local(_when(data.get('due_at')))}")
        if data.get("supervised"):
            parts.append(t("flag.supervised"))
    if event.type in ("assignment.overdue", "assignment.warning") and data.get("deadline") in ("ack", "resolve"):
        parts.append(t("cd." + str(data["deadline"])))
    if data.get("duration"):
        parts.append(t.duration(str(data["duration"])))
    if event.type in ("assignment.acknowledged", "assignment.completed") and data.get("on_time") is False:
        parts.append(t("flag.overdue"))
    if "satisfied" in data:
        parts.append(t("common.yes") if data["satisfied"] else t("common.no"))
    if data.get("until_department"):
        parts.append(f"{t('fld.until_department')}: {t.department(str(data['until_department']))}")
    if data.get("lead_department"):
        parts.append(f"{t('fld.lead_department')}: {t.department(str(data['lead_department']))}")
    if data.get("meeting_id"):
        parts.append(str(data["meeting_id"]))
    for key in TEXT_KEYS:
        if data.get(key):
            parts.append(f"“{data[key]}”")
    return " · ".join(parts)


def _when(value: object) -> datetime | None:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def lines(events: list[EventOut], t: Translator, local: Any) -> list[Line]:
    result = []
    for event in reversed(events):  # newest first: what changed last is what people look for
        tone = (
            "alert" if event.type in ALERT else "warn" if event.type in WARN else "good" if event.type in GOOD else ""
        )
        actor = t.pick("系统", "system") if event.actor == "system" else event.actor
        result.append(Line(event.seq, event.at, actor, t.event(event.type), _detail(event, t, local), tone))
    return result
