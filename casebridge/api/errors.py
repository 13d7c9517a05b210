"""The one place where domain and Temporal errors become HTTP responses. Matched by class, never by text."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from temporalio.client import RPCTimeoutOrCancelledError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from casebridge.domain.errors import (
    DomainError,
    Forbidden,
    InvalidInput,
    InvalidTransition,
    NotFound,
    UnknownCategory,
    UnknownDepartment,
)

T = TypeVar("T")

STATUS_BY_ERROR: dict[type[DomainError], int] = {
    InvalidTransition: 409,
    NotFound: 404,
    Forbidden: 403,
    UnknownDepartment: 422,
    UnknownCategory: 422,
    InvalidInput: 422,
}
STATUS_BY_NAME = {cls.__name__: status for cls, status in STATUS_BY_ERROR.items()}
# A meeting decision for a case whose workflow has closed (activities/meetings.py).
STATUS_BY_NAME["CaseNotRunning"] = 409


class ServiceUnavailable(Exception):
    """A dependency (Temporal, PostgreSQL) does not answer; the request changed nothing we know of."""


def _body(zh: str, en: str) -> dict[str, object]:
    return {"detail": f"{zh} / {en}", "detail_zh": zh, "detail_en": en}


def _safe(value: object) -> object:
    """Echo nothing a client sent that JSON cannot carry (a lone surrogate would crash the encoder)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list | tuple):
        return [_safe(v) for v in value]
    return value


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": _safe(list(error.get("loc", ()))), "msg": _safe(error.get("msg", "")), "type": error.get("type")}
            for error in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(DomainError)
    @app.exception_handler(WorkflowUpdateFailedError)
    @app.exception_handler(RPCError)
    @app.exception_handler(RPCTimeoutOrCancelledError)
    @app.exception_handler(ServiceUnavailable)
    async def described(_: Request, exc: Exception) -> JSONResponse:
        status, zh, en = describe(exc)
        return JSONResponse(_body(zh, en), status_code=status)


def describe(exc: Exception) -> tuple[int, str, str]:
    """The status and the bilingual message for an error raised while serving a request: one
    mapping for the JSON API and the web pages. Anything unknown is re-raised (a bug to see)."""
    if isinstance(exc, DomainError):
        return STATUS_BY_ERROR.get(type(exc), 409), exc.zh, exc.en
    if isinstance(exc, WorkflowUpdateFailedError):
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type in STATUS_BY_NAME:
            zh, en = (list(cause.details) + [str(cause), str(cause)])[:2]
            return STATUS_BY_NAME[cause.type], str(zh), str(en)
        return 503, "操作未能完成，请稍后重试", "the action could not be completed; try again"
    if isinstance(exc, RPCError):
        if exc.status is RPCStatusCode.NOT_FOUND:
            return 409, "个案已结束或不存在", "the case is no longer running"
        return 503, "工作流服务暂不可用", "the workflow service is unavailable"
    if isinstance(exc, RPCTimeoutOrCancelledError):
        # The update may still be applied: the caller should read the case before retrying.
        zh = "操作仍在处理中，请稍后查看后再重试"
        return 503, zh, "the action is still in progress; read the case before retrying"
    if isinstance(exc, ServiceUnavailable):
        return 503, "服务暂不可用", str(exc) or "a dependency is unavailable"
    raise exc


async def within(seconds: float, action: Awaitable[T]) -> T:
    """Bound a call to Temporal: the SDK keeps asking for an update's outcome, so without a limit a
    request could wait forever while no worker runs. 503 says it may still happen: read, then retry."""
    try:
        async with asyncio.timeout(seconds):
            return await action
    except TimeoutError as exc:
        raise ServiceUnavailable(
            "the action is still in progress or no worker is running; read the case before retrying"
        ) from exc
