"""Work orders forwarded by the 12345 hotline platform: signed, fresh, one case per order number.

No bearer token: the platform signs each request with the shared secret
(``CASEBRIDGE_HOTLINE_SECRET``): ``X-Hotline-Signature`` is the hex HMAC-SHA256 over
``f"{X-Hotline-Timestamp}.{raw body}"``. An unsigned, mis-signed or altered request, or one whose
timestamp is outside the replay window (either way), gets 401 before its body is even parsed.
The case id is derived from the order number, so a repeated order (a retry, or a replay of a
request already accepted) answers with the same case and creates nothing.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from casebridge.api.deps import PolicyDep, SessionDep, StateDep, TemporalDep
from casebridge.api.errors import ServiceUnavailable
from casebridge.api.intake_schemas import HotlineAccepted, HotlineOrder
from casebridge.api.routes.cases import start_case
from casebridge.db import queries
from casebridge.domain.errors import UnknownCategory
from casebridge.domain.model import CaseInput, Worker
from casebridge.intake import HOTLINE, external_case_id, hotline_category, signature_matches, timestamp_fresh

router = APIRouter(prefix="/api/v1/intake", tags=["intake"])

MAX_BODY_BYTES = 256 * 1024  # a work order is text: 10 000 characters of description at most

NOT_SIGNED = "签名无效或缺失 / the request is not signed with the hotline secret"
STALE = "时间戳缺失或超出允许的时间窗口 / the timestamp is missing or outside the replay window"


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "HMAC-SHA256"})


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail="工单过大 / the work order is too large")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail="工单过大 / the work order is too large")
    return raw


def _order_schema() -> dict[str, Any]:
    schema = HotlineOrder.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)  # WorkerIn is already a component (POST /api/v1/cases uses it)
    return schema


@router.post(
    "/hotline",
    status_code=201,
    response_model=HotlineAccepted,
    summary="Take in a 12345 hotline work order (signed; idempotent by order_no)",
    responses={
        200: {"model": HotlineAccepted, "description": "the order was taken in before: the same case"},
        401: {"description": "missing or bad signature, or a timestamp outside the replay window"},
        422: {"description": "invalid order (nothing is created)"},
        503: {"description": "the hotline secret is not configured"},
    },
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": _order_schema()}}}},
)
async def hotline_order(
    request: Request,
    response: Response,
    state: StateDep,
    session: SessionDep,
    temporal: TemporalDep,
    policy: PolicyDep,
    x_hotline_timestamp: Annotated[str | None, Header(description="unix seconds")] = None,
    x_hotline_signature: Annotated[str | None, Header(description='hex HMAC-SHA256 over f"{timestamp}.{body}"')] = None,
) -> HotlineAccepted:
    settings = state.settings
    if settings.hotline_secret is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail="12345 热线接入未配置 / the hotline intake is not configured"
        )
    raw = await _body(request)
    if x_hotline_timestamp is None or not timestamp_fresh(
        x_hotline_timestamp, time.time(), settings.hotline_replay_window_seconds
    ):
        raise _unauthorized(STALE)
    secret = settings.hotline_secret.get_secret_value().encode()
    if x_hotline_signature is None or not signature_matches(secret, x_hotline_timestamp, raw, x_hotline_signature):
        raise _unauthorized(NOT_SIGNED)

    try:
        order = HotlineOrder.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        ) from None
    labels = {code: category.label for code, category in policy.categories.items()}
    code = hotline_category(order.category, labels, settings.hotline_categories)
    category = policy.category(code) if code is not None else None
    if code is None or category is None:
        known = ", ".join(sorted(policy.categories))
        raise UnknownCategory(
            f"未知类别 {order.category}（可选：{known}）", f"unknown category {order.category!r} ({known})"
        )

    case_id = external_case_id(HOTLINE, order.order_no)
    existing = await queries.get_case(session, case_id)
    if existing is not None:
        response.status_code = status.HTTP_200_OK
        return HotlineAccepted(case_id=case_id, status=existing.status)
    await session.rollback()  # give the connection back while the workflow works
    case = CaseInput(
        id=case_id,
        category=code,
        title=order.title,
        description=order.description,
        worker=Worker(order.worker.name, order.worker.phone, order.worker.occupation, order.worker.platform),
        policy=category,
        departments_known=sorted(policy.departments),
        created_by=HOTLINE,
        station=order.station,
        counterparty=order.counterparty,
        amount_claimed=f"{order.amount_claimed:.2f}" if order.amount_claimed is not None else None,
        channel=HOTLINE,
        external_id=order.order_no,
    )
    if not await start_case(state, temporal, case):
        response.status_code = status.HTTP_200_OK  # taken in before, and already ended
    session.expire_all()
    row = await queries.get_case(session, case_id)
    if row is None:  # the workflow returns only after projecting; this would be a bug or a lost database
        raise ServiceUnavailable("the case was started but is not in the read model yet")
    return HotlineAccepted(case_id=case_id, status=row.status)
