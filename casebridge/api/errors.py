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
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(_body(exc.zh, exc.en), status_code=STATUS_BY_ERROR.get(type(exc), 409))

    @app.exception_handler(WorkflowUpdateFailedError)
    async def update_failed(_: Request, exc: WorkflowUpdateFailedError) -> JSONResponse:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type in STATUS_BY_NAME:
            zh, en = (list(cause.details) + [str(cause), str(cause)])[:2]
            return JSONResponse(_body(str(zh), str(en)), status_code=STATUS_BY_NAME[cause.type])
        return JSONResponse(_body("操作未能完成，请稍后重试", "the action could not be completed; try again"), 503)

    @app.exception_handler(RPCError)
    async def rpc_error(_: Request, exc: RPCError) -> JSONResponse:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return JSONResponse(_body("个案已结束或不存在", "the case is no longer running"), status_code=409)
        return JSONResponse(_body("工作流服务暂不可用", "the workflow service is unavailable"), status_code=503)

    @app.exception_handler(RPCTimeoutOrCancelledError)
    async def rpc_timeout(_: Request, exc: RPCTimeoutOrCancelledError) -> JSONResponse:
        # The update may still be applied: the caller should read the case before retrying.
        return JSONResponse(
            _body(
                "操作仍在处理中，请稍后查看后再重试", "the action is still in progress; read the case before retrying"
            ),
            status_code=503,
        )

    @app.exception_handler(ServiceUnavailable)
    async def unavailable(_: Request, exc: ServiceUnavailable) -> JSONResponse:
        return JSONResponse(_body("服务暂不可用", str(exc) or "a dependency is unavailable"), status_code=503)


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
