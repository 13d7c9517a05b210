"""Form input → the API's own pydantic schemas, and their errors → a message next to each field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from casebridge.api.errors import describe
from casebridge.web.i18n import Translator

M = TypeVar("M", bound=BaseModel)


@dataclass
class FormState:
    """What was typed and what is wrong with it, to render a form again."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    message: str | None = None  # an error that belongs to no one field (a 409 from the workflow)

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.message)

    def value(self, name: str, default: Any = "") -> Any:
        return self.values.get(name, default)


class FormInvalid(Exception):  # noqa: N818 — carries the form back to its page
    def __init__(self, form: FormState) -> None:
        super().__init__(form.errors or form.message)
        self.form = form


async def read_form(request: Request) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Single values (stripped of nothing: the schemas strip) and every multi-valued field."""
    data: FormData = await request.form()
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key in data:
        values = [v for v in data.getlist(key) if isinstance(v, str)]
        multi[key] = values
        if values:
            single[key] = values[-1]
    return single, multi


def field_message(error: Mapping[str, Any], t: Translator) -> str:
    kind = str(error.get("type", ""))
    context = error.get("ctx") or {}
    loc = [str(part) for part in error.get("loc", ())]
    if kind == "missing":
        return t("field.required")
    if kind == "string_too_short":
        return t("field.required") if context.get("min_length") == 1 else t("field.too_short", n=context["min_length"])
    if kind in ("string_too_long", "too_long"):
        return t("field.too_long", n=context.get("max_length", ""))
    if kind == "string_pattern_mismatch":
        if loc and loc[-1] == "phone":
            return t("field.phone")
        return t("field.code")
    if kind.startswith("decimal") or kind in ("greater_than_equal", "less_than_equal"):
        return t("field.amount")
    if kind in ("bool_type", "literal_error", "enum"):
        return t("field.choice")
    if kind == "value_error" and "control character" in str(error.get("msg", "")):
        return t("field.control")
    return t("field.invalid")


def validate(schema: type[M], data: dict[str, Any], t: Translator, names: Mapping[str, str] | None = None) -> M:
    """``schema`` on ``data``; on failure FormInvalid with a message per form field. ``names`` maps a
    schema location ("worker.phone") to the form field that holds it ("worker_phone")."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            loc = ".".join(str(part) for part in error["loc"] if not isinstance(part, int))
            name = (names or {}).get(loc, loc.replace(".", "_"))
            errors.setdefault(name, field_message(error, t))
        raise FormInvalid(FormState(errors=errors)) from exc


def failure_message(exc: Exception, t: Translator) -> tuple[int, str]:
    """An error from the API's own code path, as a status and a message in the user's language."""
    if isinstance(exc, HTTPException):
        return exc.status_code, t.both(str(exc.detail))
    status, zh, en = describe(exc)
    return status, t.pick(zh, en)
