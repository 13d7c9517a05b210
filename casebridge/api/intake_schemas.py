"""Bodies of the intake endpoints: the 12345 hotline's work order and Open311 GeoReport v2.

The limits are those of POST /api/v1/cases (the same pydantic types from ``schemas.py``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from casebridge.api.schemas import (
    Amount,
    Clean,
    Code,
    Description,
    Name,
    Phone,
    Place,
    Strict,
    Title,
    WorkerIn,
)

# An outside order number: visible ASCII, no spaces (the read model keeps 100 characters).
OrderNo = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[!-~]{1,100}$")]
CategoryName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50), Clean]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=50), Clean]


class HotlineOrder(Strict):
    """A work order forwarded by the 12345 hotline platform."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "order_no": "12345-20261128-000123",
                    "category": "拖欠工资",
                    "title": "外卖骑手三个月工资未结",
                    "description": "来电人称所在配送站三个月未结算工资。",
                    "worker": {"name": "王强", "phone": "13612345678", "occupation": "外卖骑手", "platform": "某外卖"},
                    "counterparty": "某配送站",
                    "amount_claimed": "15000",
                }
            ]
        },
    )

    order_no: OrderNo
    category: CategoryName = Field(description="our category code, its label, or a hotline category name")
    title: Title
    description: Description
    worker: WorkerIn
    counterparty: Place | None = None
    station: Place | None = None
    amount_claimed: Amount | None = None


class HotlineAccepted(BaseModel):
    case_id: str = Field(description="the worker-facing case id (read it back to the caller)")
    status: str


class Open311Service(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool = False
    type: Literal["realtime", "batch", "blackbox"] = "realtime"
    keywords: str
    group: str


class Open311RequestIn(BaseModel):
    """POST /open311/v2/requests.json, form-encoded or JSON. Fields a case has no place for
    (email, device_id, account_id, media_url, attribute[…], jurisdiction_id) are ignored: a case
    reaches the worker by phone, and Casebridge keeps no more personal data than it needs."""

    model_config = ConfigDict(extra="ignore")

    service_code: Code
    description: Description
    phone: Phone
    name: Name | None = None
    first_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50), Clean] | None = None
    last_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50), Clean] | None = None
    address_string: Place | None = None
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)] | None = None
    long: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)] | None = None
    occupation: OptionalText | None = None  # not Open311: lets a worker's app say what they do


class Open311Created(BaseModel):
    service_request_id: str
    service_notice: str
    account_id: None = None


class Open311Request(BaseModel):
    """A service request as Open311 shows it: status and place, nothing about the person."""

    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str
    service_name: str
    service_code: str
    description: str
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: str
    updated_datetime: str
    expected_datetime: str | None
    address: str | None
    address_id: None = None
    zipcode: None = None
    lat: None = None
    long: None = None
    media_url: None = None


class Open311Error(BaseModel):
    code: int
    description: str
