"""Open311 GeoReport v2 (JSON): existing civic clients file and follow cases.

* ``GET /open311/v2/services.json``: one service per policy category (service_code = category).
* ``POST /open311/v2/requests.json``: form-encoded or JSON, with an ``api_key`` from
  ``CASEBRIDGE_OPEN311_API_KEYS`` (none configured: every POST is refused). The case is marked
  channel "open311" and keeps the new ``service_request_id`` as its outside order number.
* ``GET /open311/v2/requests/{service_request_id}.json``: status and place, never the person.

Errors are Open311's: ``[{"code": 400, "description": "..."}]`` with the same HTTP status.
"""

from __future__ import annotations

import hmac
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import select
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from casebridge.api.deps import PolicyDep, SessionDep, StateDep, TemporalDep
from casebridge.api.intake_schemas import (
    Open311Created,
    Open311Error,
    Open311Request,
    Open311RequestIn,
    Open311Service,
)
from casebridge.api.routes.cases import start_case
from casebridge.api.state import AppState
from casebridge.db import queries
from casebridge.db.models import Case
from casebridge.domain.model import CaseInput, Worker
from casebridge.domain.policy import Policy
from casebridge.intake import (
    OPEN311,
    OPEN311_STATUS_NOTES,
    external_case_id,
    new_service_request_id,
    open311_status,
    person_name,
    title_from,
)

router = APIRouter(prefix="/open311/v2", tags=["open311"])

MAX_BODY_BYTES = 256 * 1024
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": list[Open311Error], "description": text}
    for code, text in (
        (400, "a field is missing or invalid, or the service_code is unknown"),
        (403, "no valid api_key (or no api keys are configured)"),
        (404, "no such service request"),
    )
}
FIELD_HINTS = {
    "phone": "phone 须为中国大陆手机号（11 位数字，以 1 开头）/ phone must be a mainland mobile number "
    "(11 digits starting with 1)",
    "service_code": "service_code 缺失或无效 / service_code is missing or invalid",
    "description": "description 须为 1–10000 个字符 / description must be 1 to 10 000 characters",
}


class Open311Failure(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def error(code: int, description: str) -> JSONResponse:
    return JSONResponse([{"code": code, "description": description}], status_code=code)


def _iso(value: datetime | None, state: AppState) -> str | None:
    return value.astimezone(state.tz).isoformat() if value is not None else None


def _keywords(code: str, label: str) -> str:
    words = [code, *(w.strip() for w in label.replace("／", "/").split("/"))]
    return ",".join(dict.fromkeys(w for w in words if w))


def _department_name(policy: Policy, code: str) -> str:
    department = policy.departments.get(code)
    return department.name if department is not None else code


# --- services ------------------------------------------------------------------------------


@router.get("/services.json", response_model=list[Open311Service], summary="Open311: the services (categories)")
async def services(
    policy: PolicyDep,
    jurisdiction_id: Annotated[str | None, Query(description="accepted and ignored: one jurisdiction")] = None,
) -> list[Open311Service]:
    result = []
    for code, category in policy.categories.items():
        lead = _department_name(policy, category.lead)
        result.append(
            Open311Service(
                service_code=code,
                service_name=category.label,
                description=(
                    f"{category.label}：{lead}牵头办理 / led by {lead}; acknowledged within "
                    f"{category.ack_within}, resolved within {category.resolve_within}"
                ),
                keywords=_keywords(code, category.label),
                group=lead,
            )
        )
    return result


# --- filing a request ------------------------------------------------------------------------


async def _fields(request: Request) -> dict[str, Any]:
    """The request's parameters from a JSON object or a form (urlencoded or multipart)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise Open311Failure(400, "请求过大 / the request is too large")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            raise Open311Failure(400, "请求过大 / the request is too large")
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise Open311Failure(400, "请求体不是有效的 JSON / the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise Open311Failure(400, "请求体须为 JSON 对象 / the body must be a JSON object")
        return data
    try:
        form = await request.form(max_files=0, max_fields=200)
    except (HTTPException, MultiPartException, ValueError):  # a malformed form is the client's problem
        raise Open311Failure(400, "请求体不是有效的表单 / the body is not a valid form") from None
    fields: dict[str, Any] = {}
    for key, value in form.multi_items():
        if not isinstance(value, UploadFile):
            fields.setdefault(key, value)
    return fields


def _check_api_key(state: AppState, given: object) -> None:
    keys = state.settings.open311_api_keys
    if not keys:
        raise Open311Failure(403, "本系统未开放 Open311 提交 / filing through Open311 is not enabled here")
    if not isinstance(given, str) or not given:
        raise Open311Failure(403, "缺少 api_key / api_key is required")
    matched = False
    for key in keys:  # compare with every key, so the time taken says nothing about which matched
        matched |= hmac.compare_digest(key.get_secret_value().encode(), given.encode("utf-8", "surrogatepass"))
    if not matched:
        raise Open311Failure(403, "api_key 无效 / api_key is not valid")


def _blank_to_none(fields: dict[str, Any]) -> dict[str, Any]:
    """Form clients send every field of their form, empty ones as "": those were not given."""
    return {k: v for k, v in fields.items() if not (isinstance(v, str) and not v.strip())}


def _validation_failure(exc: ValidationError) -> Open311Failure:
    descriptions: list[str] = []
    for problem in exc.errors(include_url=False, include_input=False):
        field = str(problem["loc"][0]) if problem["loc"] else "body"
        if problem["type"] == "missing":
            text = f"{field} 为必填项 / {field} is required"
        else:
            text = FIELD_HINTS.get(field, f"{field}: {problem['msg']}")
        if text not in descriptions:
            descriptions.append(text)
    return Open311Failure(400, "; ".join(descriptions))


@router.post(
    "/requests.json",
    status_code=201,
    response_model=list[Open311Created],
    summary="Open311: file a service request (form-encoded or JSON, with api_key)",
    responses=ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                media: {"schema": Open311RequestIn.model_json_schema()}
                for media in ("application/x-www-form-urlencoded", "application/json")
            },
        }
    },
)
async def create_request(
    request: Request, state: StateDep, session: SessionDep, temporal: TemporalDep, policy: PolicyDep
) -> Any:
    try:
        fields = _blank_to_none(await _fields(request))
        _check_api_key(state, fields.pop("api_key", None) or request.query_params.get("api_key"))
        try:
            body = Open311RequestIn.model_validate(fields)
        except ValidationError as exc:
            raise _validation_failure(exc) from None
        category = policy.category(body.service_code)
        if category is None:
            raise Open311Failure(400, f"未知的 service_code {body.service_code} / unknown service_code")
        name = person_name(body.name, body.first_name, body.last_name)
        if not name:
            raise Open311Failure(
                400, "name 或 first_name/last_name 为必填项 / name or first_name/last_name is required"
            )
        if len(name) > 50:
            raise Open311Failure(400, "姓名不超过 50 个字符 / the name must be at most 50 characters")
        if (body.lat is None) != (body.long is None):
            raise Open311Failure(400, "lat 与 long 须同时提供 / lat and long go together")
    except Open311Failure as failure:
        return error(failure.code, failure.description)

    place = body.address_string
    if place is None and body.lat is not None and body.long is not None:
        place = f"{body.lat:.6f},{body.long:.6f}"  # the case keeps one place: coordinates when no address
    service_request_id = new_service_request_id()
    case_id = external_case_id(OPEN311, service_request_id)
    await session.rollback()
    case = CaseInput(
        id=case_id,
        category=body.service_code,
        title=title_from(body.description),
        description=body.description,
        worker=Worker(name, body.phone, body.occupation or None, None),
        policy=category,
        departments_known=sorted(policy.departments),
        created_by=OPEN311,
        station=place,
        channel=OPEN311,
        external_id=service_request_id,
    )
    await start_case(state, temporal, case)
    notice = (
        f"已受理，个案编号 {case_id}，凭编号和手机号后四位可查询进度 / received as case {case_id}; "
        "look it up with the case id and the last four digits of your phone"
    )
    created = Open311Created(service_request_id=service_request_id, service_notice=notice)
    return JSONResponse([created.model_dump()], status_code=201)


# --- following a request -------------------------------------------------------------------


@router.get(
    "/requests/{service_request_id}.json",
    response_model=list[Open311Request],
    summary="Open311: one service request's status (no personal data)",
    responses={404: ERRORS[404]},
)
async def get_request(
    service_request_id: str,
    state: StateDep,
    session: SessionDep,
    policy: PolicyDep,
    jurisdiction_id: Annotated[str | None, Query(description="accepted and ignored: one jurisdiction")] = None,
) -> Any:
    case = None
    if len(service_request_id) <= 100:
        case = await session.scalar(select(Case).where(Case.channel == OPEN311, Case.external_id == service_request_id))
    if case is None:
        return error(404, "没有该服务请求 / no such service request")
    assignments = (await queries.assignments_for(session, [case.id]))[case.id]
    leads = [a for a in assignments if a.role == "lead" and a.status != "returned"]
    category = policy.category(case.category)
    return [
        Open311Request(
            service_request_id=service_request_id,
            status=open311_status(case.status),
            status_notes=OPEN311_STATUS_NOTES.get(case.status, case.status),
            service_name=category.label if category is not None else case.category,
            service_code=case.category,
            description=case.description,
            agency_responsible=_department_name(policy, leads[-1].department) if leads else None,
            service_notice=None,
            requested_datetime=_iso(case.created_at, state) or "",
            updated_datetime=_iso(case.updated_at, state) or "",
            expected_datetime=_iso(case.due_at, state),
            address=case.station,
        )
    ]
