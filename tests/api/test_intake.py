"""Intake from outside systems: the 12345 hotline's signed work orders and Open311 GeoReport v2.

The ``api`` fixture's app has neither a hotline secret nor Open311 api keys (both refuse there).
The ``intake`` fixture is a second app on the same database, Temporal and worker task queue, with
both configured.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from casebridge.api.app import create_app
from casebridge.api.routes import cases
from casebridge.db.models import Case
from casebridge.intake import (
    HOTLINE,
    ID_ALPHABET,
    OPEN311,
    external_case_id,
    hotline_category,
    hotline_signature,
    person_name,
    title_from,
)
from tests.api.conftest import Api

pytestmark = pytest.mark.timeout(180)

SECRET = "hotline-test-secret-" + uuid.uuid4().hex
API_KEY = "open311-test-key-" + uuid.uuid4().hex
HOTLINE_PATH = "/api/v1/intake/hotline"
SERVICES = "/open311/v2/services.json"
REQUESTS = "/open311/v2/requests.json"
PHONE = "13612345678"


@pytest.fixture(scope="module")
async def intake(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    settings = api.settings.model_copy(
        update={"hotline_secret": SecretStr(SECRET), "open311_api_keys": [SecretStr(API_KEY)]}
    )
    app = create_app(settings, temporal=api.env.client)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=60) as client,
    ):
        yield client


def order(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_no": f"12345-{uuid.uuid4().hex[:12]}",
        "category": "拖欠工资",
        "title": "外卖骑手三个月工资未结",
        "description": "来电人王强称所在配送站三个月未结算工资。",
        "worker": {"name": "王强", "phone": PHONE, "occupation": "外卖骑手", "platform": "某外卖"},
        "counterparty": "某配送站",
        "amount_claimed": "15000",
    }
    body.update(overrides)
    return body


def signed(body: bytes, at: int | None = None, secret: str = SECRET) -> dict[str, str]:
    timestamp = str(int(time.time()) if at is None else at)
    return {
        "Content-Type": "application/json",
        "X-Hotline-Timestamp": timestamp,
        "X-Hotline-Signature": hotline_signature(secret.encode(), timestamp, body),
    }


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


async def officer_case(api: Api, case_id: str) -> httpx.Response:
    return await api.client.get(f"/api/v1/cases/{case_id}", headers=api.auth("officer"))


async def row(sessions: async_sessionmaker[AsyncSession], case_id: str) -> Case | None:
    async with sessions() as session:
        return await session.get(Case, case_id)


# --- pure helpers ---------------------------------------------------------------------------


def test_ids_and_mappings() -> None:
    assert ID_ALPHABET == cases.ID_ALPHABET
    assert external_case_id(HOTLINE, "A-1") == external_case_id(HOTLINE, "A-1")
    assert external_case_id(HOTLINE, "A-1") != external_case_id(OPEN311, "A-1")
    assert external_case_id(HOTLINE, "A-1") != cases.new_case_id(HOTLINE, "A-1")
    labels = {"wage_arrears": "劳动报酬", "other": "其他"}
    assert hotline_category("wage_arrears", labels) == "wage_arrears"
    assert hotline_category("劳动报酬", labels) == "wage_arrears"
    assert hotline_category("欠薪", labels) == "wage_arrears"
    assert hotline_category("工伤", labels) is None, "mapped to a category this policy does not have"
    assert hotline_category("农民工讨薪", labels, {"农民工讨薪": "wage_arrears"}) == "wage_arrears"
    assert hotline_category("unknown", labels) is None
    assert person_name(None, "书", "杨") == "杨书"
    assert person_name(None, "Ada", "Lovelace") == "Ada Lovelace"
    assert person_name(" 杨书 ", "x", "y") == "杨书"
    assert person_name(None, None, None) == ""
    assert title_from("第一行\n第二行  " + "长" * 100) == ("第一行 第二行 " + "长" * 100)[:50]


# --- 12345 hotline --------------------------------------------------------------------------


async def test_signed_order_creates_a_routed_case_once(
    api: Api, intake: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = order()
    raw = encode(body)
    headers = signed(raw)
    first = await intake.post(HOTLINE_PATH, content=raw, headers=headers)
    assert first.status_code == 201, first.text
    case_id = first.json()["case_id"]
    assert first.json() == {"case_id": case_id, "status": "in_progress"}
    assert case_id == external_case_id(HOTLINE, body["order_no"])

    case = (await officer_case(api, case_id)).json()
    assert case["channel"] == "hotline" and case["category"] == "wage_arrears"
    roles = {a["department"]: a["role"] for a in case["assignments"]}
    assert roles == {"hrss": "lead", "justice": "assist"}, "routed by the policy"
    assert case["amount_claimed"] == "15000.00" and case["worker"]["phone"] == PHONE
    stored = await row(sessions, case_id)
    assert stored is not None and stored.external_id == body["order_no"]
    events = (await api.client.get(f"/api/v1/cases/{case_id}/events", headers=api.auth("officer"))).json()
    assert events[0]["type"] == "case.created" and events[0]["actor"] == "hotline"

    # The same request replayed within the window, and a fresh retry: the same case, nothing new.
    replay = await intake.post(HOTLINE_PATH, content=raw, headers=headers)
    retry = await intake.post(HOTLINE_PATH, content=raw, headers=signed(raw))
    for again in (replay, retry):
        assert again.status_code == 200, again.text
        assert again.json() == {"case_id": case_id, "status": "in_progress"}
    listed = await api.client.get("/api/v1/cases", params={"q": body["title"]}, headers=api.auth("officer"))
    assert [c["id"] for c in listed.json()["items"]].count(case_id) == 1

    # The worker reads the id back from the hotline and looks the case up.
    public = await api.client.get(f"/api/v1/public/cases/{case_id}", params={"phone_last4": PHONE[-4:]})
    assert public.status_code == 200 and public.json()["status"] == "in_progress"


async def test_our_own_category_code_is_accepted(api: Api, intake: httpx.AsyncClient) -> None:
    raw = encode(order(category="safety_hazard", title="路口井盖缺失", description="骑手报告路口井盖缺失。"))
    response = await intake.post(HOTLINE_PATH, content=raw, headers=signed(raw))
    assert response.status_code == 201, response.text
    case = (await officer_case(api, response.json()["case_id"])).json()
    assert case["category"] == "safety_hazard" and [a["department"] for a in case["assignments"]] == ["traffic"]


@pytest.mark.parametrize(
    "tamper",
    ["no signature", "no timestamp", "wrong secret", "garbage signature", "stale", "future", "altered body"],
)
async def test_unsigned_stale_or_forged_orders_are_refused(api: Api, intake: httpx.AsyncClient, tamper: str) -> None:
    body = order()
    raw = encode(body)
    now = int(time.time())
    headers = signed(raw)
    content = raw
    if tamper == "no signature":
        del headers["X-Hotline-Signature"]
    elif tamper == "no timestamp":
        del headers["X-Hotline-Timestamp"]
    elif tamper == "wrong secret":
        headers = signed(raw, secret="not-the-secret")
    elif tamper == "garbage signature":
        headers["X-Hotline-Signature"] = "zz" * 32
    elif tamper == "stale":
        headers = signed(raw, at=now - 301)
    elif tamper == "future":
        headers = signed(raw, at=now + 301)
    elif tamper == "altered body":
        # The signature of one order, reused with a body changed after signing.
        content = encode({**body, "amount_claimed": "999999"})
    response = await intake.post(HOTLINE_PATH, content=content, headers=headers)
    assert response.status_code == 401, response.text
    assert (await officer_case(api, external_case_id(HOTLINE, body["order_no"]))).status_code == 404


async def test_a_reused_signature_does_not_carry_another_order(api: Api, intake: httpx.AsyncClient) -> None:
    accepted = order()
    raw = encode(accepted)
    headers = signed(raw)
    assert (await intake.post(HOTLINE_PATH, content=raw, headers=headers)).status_code == 201
    forged = order(title="伪造的工单")
    response = await intake.post(HOTLINE_PATH, content=encode(forged), headers=headers)
    assert response.status_code == 401
    assert (await officer_case(api, external_case_id(HOTLINE, forged["order_no"]))).status_code == 404


@pytest.mark.parametrize(
    "change",
    [
        {"worker": {"name": "王强", "phone": "12345"}},
        {"title": ""},
        {"title": "长" * 201},
        {"description": "a\u0000b"},
        {"category": "没有这种类别"},
        {"amount_claimed": "-1"},
        {"unexpected": "field"},
        {"order_no": "has spaces in it"},
    ],
    ids=["phone", "empty-title", "long-title", "nul", "category", "amount", "extra", "order-no"],
)
async def test_invalid_orders_get_422_and_create_nothing(
    api: Api, intake: httpx.AsyncClient, change: dict[str, Any]
) -> None:
    body = order()
    order_no = body["order_no"]
    body.update(change)
    raw = encode(body)
    before = (await api.client.get("/api/v1/cases", params={"limit": 1}, headers=api.auth("officer"))).json()
    response = await intake.post(HOTLINE_PATH, content=raw, headers=signed(raw))
    assert response.status_code == 422, response.text
    assert "detail" in response.json()
    after = (await api.client.get("/api/v1/cases", params={"limit": 1}, headers=api.auth("officer"))).json()
    assert after["total"] == before["total"]
    assert (await officer_case(api, external_case_id(HOTLINE, order_no))).status_code == 404


async def test_signed_garbage_is_422(intake: httpx.AsyncClient) -> None:
    for raw in (b"not json", b"[1, 2]", b"\xff\xfe"):
        response = await intake.post(HOTLINE_PATH, content=raw, headers=signed(raw))
        assert response.status_code == 422, response.text


async def test_hotline_without_a_secret_is_not_configured(api: Api) -> None:
    raw = encode(order())
    response = await api.client.post(HOTLINE_PATH, content=raw, headers=signed(raw))
    assert response.status_code == 503 and "not configured" in response.json()["detail"]


# --- Open311 --------------------------------------------------------------------------------


def open311_form(**overrides: str) -> dict[str, str]:
    form = {
        "api_key": API_KEY,
        "service_code": "wage_arrears",
        "description": "我是快递员，公司已经两个月没有发工资了，站点负责人一直推脱，请帮忙处理，谢谢！" * 2,
        "first_name": "书",
        "last_name": "杨",
        "phone": "13912345678",
        "email": "yang@example.com",
        "address_string": "江北区暖心驿站",
        "lat": "",
        "long": "",
    }
    form.update(overrides)
    return form


async def test_open311_client_files_and_follows_a_request(api: Api, intake: httpx.AsyncClient) -> None:
    services = await intake.get(SERVICES)
    assert services.status_code == 200
    by_code = {s["service_code"]: s for s in services.json()}
    assert set(by_code) >= {"wage_arrears", "work_injury", "safety_hazard", "other"}
    wage = by_code["wage_arrears"]
    assert wage["service_name"] == "劳动报酬" and wage["metadata"] is False and wage["type"] == "realtime"
    assert "wage_arrears" in wage["keywords"] and wage["group"] and wage["description"]

    form = open311_form()
    created = await intake.post(REQUESTS, data=form)
    assert created.status_code == 201, created.text
    [answer] = created.json()
    assert set(answer) == {"service_request_id", "service_notice", "account_id"} and answer["account_id"] is None
    request_id = answer["service_request_id"]
    case_id = external_case_id(OPEN311, request_id)
    assert case_id in answer["service_notice"]

    case = (await officer_case(api, case_id)).json()
    assert case["channel"] == "open311" and case["category"] == "wage_arrears"
    assert case["worker"]["name"] == "杨书" and case["worker"]["phone"] == "13912345678"
    assert case["title"] == form["description"][:50] and case["station"] == "江北区暖心驿站"
    assert {a["department"] for a in case["assignments"]} == {"hrss", "justice"}

    read = await intake.get(f"/open311/v2/requests/{request_id}.json")
    assert read.status_code == 200, read.text
    [request] = read.json()
    assert request["service_request_id"] == request_id and request["status"] == "open"
    assert request["service_code"] == "wage_arrears" and request["service_name"] == "劳动报酬"
    assert request["description"] == form["description"] and request["address"] == "江北区暖心驿站"
    assert request["requested_datetime"] and request["updated_datetime"] and request["status_notes"]
    assert not {"phone", "name", "first_name", "last_name", "email", "worker"} & set(request)
    for personal in ("13912345678", "杨书", "yang@example.com"):
        assert personal not in read.text, f"{personal!r} in the public Open311 answer"

    withdrawn = await api.post(f"/api/v1/cases/{case_id}/withdraw", "officer", {"reason": "申请人已自行解决"})
    assert withdrawn.status_code == 200, withdrawn.text
    [request] = (await intake.get(f"/open311/v2/requests/{request_id}.json")).json()
    assert request["status"] == "closed" and "withdrawn" in request["status_notes"]


async def test_open311_accepts_json_and_coordinates(api: Api, intake: httpx.AsyncClient) -> None:
    body = {
        "api_key": API_KEY,
        "service_code": "safety_hazard",
        "description": "路口信号灯故障，骑手多次险些被撞。",
        "name": "李松",
        "phone": "13711112222",
        "lat": 29.5630,
        "long": 106.5516,
        "attribute[severity]": "high",
    }
    created = await intake.post(REQUESTS, json=body)
    assert created.status_code == 201, created.text
    request_id = created.json()[0]["service_request_id"]
    case = (await officer_case(api, external_case_id(OPEN311, request_id))).json()
    assert case["worker"]["name"] == "李松" and case["station"] == "29.563000,106.551600"
    [request] = (await intake.get(f"/open311/v2/requests/{request_id}.json")).json()
    assert request["status"] == "open" and request["agency_responsible"]


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"service_code": "potholes"}, "service_code"),
        ({"service_code": ""}, "service_code"),
        ({"phone": "12345"}, "phone"),
        ({"phone": ""}, "phone"),
        ({"description": ""}, "description"),
        ({"first_name": "", "last_name": ""}, "name"),
        ({"lat": "29.5"}, "lat"),
        ({"lat": "91", "long": "10"}, "lat"),
    ],
    ids=["unknown-service", "no-service", "bad-phone", "no-phone", "no-description", "no-name", "lat-only", "lat"],
)
async def test_open311_bad_requests_are_400_in_open311_format(
    api: Api, intake: httpx.AsyncClient, overrides: dict[str, str], fragment: str
) -> None:
    before = (await api.client.get("/api/v1/cases", params={"limit": 1}, headers=api.auth("officer"))).json()
    response = await intake.post(REQUESTS, data=open311_form(**overrides))
    assert response.status_code == 400, response.text
    [problem] = response.json()
    assert problem["code"] == 400 and fragment in problem["description"]
    after = (await api.client.get("/api/v1/cases", params={"limit": 1}, headers=api.auth("officer"))).json()
    assert after["total"] == before["total"]


async def test_open311_api_key_is_required(api: Api, intake: httpx.AsyncClient) -> None:
    for form in (open311_form(api_key=""), open311_form(api_key="wrong"), {"service_code": "other"}):
        response = await intake.post(REQUESTS, data=form)
        assert response.status_code == 403, response.text
        assert response.json()[0]["code"] == 403
    response = await intake.post(REQUESTS, json={**open311_form(), "api_key": 12345})
    assert response.status_code == 403
    # No keys configured: nobody may file.
    response = await api.client.post(REQUESTS, data=open311_form())
    assert response.status_code == 403 and response.json()[0]["code"] == 403
    # Reading services stays open.
    assert (await api.client.get(SERVICES)).status_code == 200


async def test_open311_unknown_or_foreign_request_is_404(api: Api, intake: httpx.AsyncClient) -> None:
    for request_id in ("311-NOSUCHREQUEST", "x" * 300):
        response = await intake.get(f"/open311/v2/requests/{request_id}.json")
        assert response.status_code == 404
        assert response.json() == [{"code": 404, "description": response.json()[0]["description"]}]
    # A case that came in another way is not an Open311 request, even by its own id or order number.
    raw = encode(order())
    hotline = await intake.post(HOTLINE_PATH, content=raw, headers=signed(raw))
    case_id = hotline.json()["case_id"]
    for request_id in (case_id, json.loads(raw)["order_no"]):
        assert (await intake.get(f"/open311/v2/requests/{request_id}.json")).status_code == 404


async def test_open311_malformed_bodies_are_400(intake: httpx.AsyncClient) -> None:
    for content, content_type in ((b"{not json", "application/json"), (b"[1]", "application/json")):
        response = await intake.post(REQUESTS, content=content, headers={"Content-Type": content_type})
        assert response.status_code == 400, response.text
        assert response.json()[0]["code"] == 400
