"""Who may do what (DESIGN.md, "People and what they do" and "API contract (v1)").

* every endpoint × every role (and no token): the exact status each one gets;
* a missing, garbage, expired, forged or orphaned token → 401 everywhere but the public lookup and
  the health checks;
* the worker's phone in full only for the officer and the assigned departments;
* a department never sees another department's case: not in a list (whatever the filter), not
  as a detail, not in the events, not through an action, not on the event stream.

The event stream never ends, and httpx's ASGI transport buffers a whole response before handing
it over, so the stream is read from a second instance of the app served by uvicorn on a loopback
port: same settings, secret, database and Temporal as the ``api`` fixture.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
import uvicorn

from casebridge.api.app import create_app
from tests.api.conftest import Api, courier_body, hazard_body

pytestmark = pytest.mark.timeout(300)

ANONYMOUS = "anonymous"
CALLERS = ("officer", "hrss", "justice", "traffic", "leader", "admin", ANONYMOUS)
PHONE = "13912345678"
MASKED = "139****5678"

JsonBody = object | Callable[[], object]


# --- expectations ---------------------------------------------------------------------------


def expect(default: int, **by_caller: int) -> dict[str, int]:
    """``default`` for every user, 401 without a token, then the exceptions."""
    table = dict.fromkeys(CALLERS, default)
    table[ANONYMOUS] = 401
    table.update(by_caller)
    return table


# The courier case: hrss leads, justice assists, traffic has nothing to do with it.
OFFICER_ONLY = expect(403, officer=200)
HRSS_ONLY = expect(403, hrss=200, traffic=404)  # traffic cannot see the case at all
HRSS_OR_OFFICER = expect(403, hrss=200, officer=200, traffic=404)
READ_CASE = expect(200, traffic=404)
EVERY_USER = expect(200)
ADMIN_ONLY = expect(403, admin=200)
ANYONE = expect(200, anonymous=200)


# --- cases in a given state ------------------------------------------------------------------

Step = tuple[str, str, object]  # user, path under /api/v1/cases/{id}/, body

ACK_HRSS: Step = ("hrss", "assignments/hrss/acknowledge", None)
ACK_JUSTICE: Step = ("justice", "assignments/justice/acknowledge", None)
COMPLETE_ALL: list[Step] = [
    ACK_HRSS,
    ACK_JUSTICE,
    ("justice", "assignments/justice/complete", {"outcome": "法律援助完成"}),
    ("hrss", "assignments/hrss/complete", {"outcome": "责令支付，已全额追回"}),
]
STAGES: dict[str, list[Step]] = {
    "fresh": [],
    "hrss_acknowledged": [ACK_HRSS],
    "extension_requested": [
        ("hrss", "assignments/hrss/extension", {"duration": "10 working days", "reason": "等待工资台账"})
    ],
    "suspension_requested": [("hrss", "assignments/hrss/suspend", {"reason": "等待工人补充考勤记录"})],
    "hrss_suspended": [("officer", "assignments/hrss/suspend", {"reason": "等待工人补充考勤记录"})],
    "assignments_completed": COMPLETE_ALL,
    "resolved": [*COMPLETE_ALL, ("officer", "resolve", {"summary": "欠薪已追回"})],
}


async def courier_case(api: Api, stage: str = "fresh", **overrides: object) -> str:
    """A new courier case (hrss lead, justice assist) brought to ``stage``; returns its id."""
    case = await api.create_case(courier_body(**overrides))
    cid = str(case["id"])
    for user, path, body in STAGES[stage]:
        response = await api.post(f"/api/v1/cases/{cid}/{path}", user, body)
        assert response.status_code == 200, f"setting up {stage}: {path} → {response.status_code} {response.text}"
    return cid


async def case_state(api: Api, cid: str) -> tuple[dict[str, Any], int]:
    """The case as the officer sees it, and how many events it has."""
    officer = api.auth("officer")
    case = await api.client.get(f"/api/v1/cases/{cid}", headers=officer)
    events = await api.client.get(f"/api/v1/cases/{cid}/events", headers=officer)
    assert case.status_code == 200 and events.status_code == 200, (case.text, events.text)
    return case.json(), len(events.json())


async def case_total(api: Api) -> int:
    response = await api.client.get("/api/v1/cases", params={"limit": 1}, headers=api.auth("officer"))
    assert response.status_code == 200, response.text
    total: int = response.json()["total"]
    return total


# --- a live server for the event stream --------------------------------------------------------


@pytest.fixture(scope="module")
async def live(api: Api) -> AsyncIterator[str]:
    """Base URL of a second app instance (own broadcaster) served by uvicorn on 127.0.0.1."""
    app = create_app(api.settings, temporal=api.env.client)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False, timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    async with app.router.lifespan_context(app):
        task = asyncio.create_task(server.serve(sockets=[sock]))
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started, "uvicorn did not start"
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, timeout=15)
    sock.close()


async def stream_status(base_url: str, headers: dict[str, str]) -> tuple[int, str]:
    """Open the event stream, take the status and the first line (or the error body), close it."""
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=10) as client,
        client.stream("GET", "/api/v1/events/stream", headers=headers) as response,
    ):
        if response.status_code != 200:
            return response.status_code, (await response.aread()).decode()
        async for line in response.aiter_lines():
            return 200, line
    return 200, ""


# --- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # "{cid}" is the row's case
    expected: dict[str, int]
    stage: str | None = None  # a fresh case in this stage per row; None: the module's shared case
    body: JsonBody = None
    params: dict[str, str] | None = None
    created: bool = False  # the allowed call answers 201
    stream: bool = False

    def json_body(self) -> object:
        return self.body() if callable(self.body) else self.body

    def status_for(self, caller: str) -> int:
        status = self.expected[caller]
        return 201 if status == 200 and self.created else status


def new_user_body() -> dict[str, str]:
    return {"username": f"probe-{uuid.uuid4().hex[:10]}", "password": "a-long-password", "role": "leader"}


A = "/api/v1/cases/{cid}/assignments"
ENDPOINTS = [
    Endpoint("list cases", "GET", "/api/v1/cases", EVERY_USER),
    Endpoint("create case", "POST", "/api/v1/cases", OFFICER_ONLY, body=courier_body, created=True),
    Endpoint("get case", "GET", "/api/v1/cases/{cid}", READ_CASE),
    Endpoint("case events", "GET", "/api/v1/cases/{cid}/events", READ_CASE),
    Endpoint("route", "POST", A, OFFICER_ONLY, "fresh", {"department": "traffic", "role": "assist"}),
    Endpoint("acknowledge", "POST", A + "/hrss/acknowledge", HRSS_ONLY, "fresh"),
    Endpoint("return", "POST", A + "/hrss/return", HRSS_ONLY, "fresh", {"reason": "不属于本单位职责"}),
    Endpoint("progress", "POST", A + "/hrss/progress", HRSS_ONLY, "hrss_acknowledged", {"note": "已约谈网点负责人"}),
    Endpoint(
        "extension",
        "POST",
        A + "/hrss/extension",
        HRSS_ONLY,
        "fresh",
        {"duration": "10 working days", "reason": "等待工资台账"},
    ),
    Endpoint(
        "extension decision",
        "POST",
        A + "/hrss/extension/decision",
        OFFICER_ONLY,
        "extension_requested",
        {"approved": True},
    ),
    Endpoint("complete", "POST", A + "/hrss/complete", HRSS_ONLY, "hrss_acknowledged", {"outcome": "已责令支付"}),
    Endpoint("suspend", "POST", A + "/hrss/suspend", HRSS_OR_OFFICER, "fresh", {"reason": "等待工人补充考勤记录"}),
    Endpoint(
        "suspend decision",
        "POST",
        A + "/hrss/suspend/decision",
        OFFICER_ONLY,
        "suspension_requested",
        {"approved": True},
    ),
    Endpoint("resume", "POST", A + "/hrss/resume", HRSS_OR_OFFICER, "hrss_suspended"),
    # An assignment the case does not have: nobody may acknowledge it; traffic cannot even see the case.
    Endpoint("acknowledge unassigned", "POST", A + "/traffic/acknowledge", expect(403, traffic=404), "fresh"),
    Endpoint("escalate", "POST", "/api/v1/cases/{cid}/escalate", OFFICER_ONLY, "fresh", {"reason": "欠薪数额大"}),
    Endpoint(
        "resolve", "POST", "/api/v1/cases/{cid}/resolve", OFFICER_ONLY, "assignments_completed", {"summary": "已追回"}
    ),
    Endpoint("feedback", "POST", "/api/v1/cases/{cid}/feedback", OFFICER_ONLY, "resolved", {"satisfied": True}),
    Endpoint("withdraw", "POST", "/api/v1/cases/{cid}/withdraw", OFFICER_ONLY, "fresh", {"reason": "工人撤回诉求"}),
    Endpoint("public lookup", "GET", "/api/v1/public/cases/{cid}", ANYONE, params={"phone_last4": PHONE[-4:]}),
    Endpoint("me", "GET", "/api/v1/me", EVERY_USER),
    Endpoint("policy", "GET", "/api/v1/policy", EVERY_USER),
    Endpoint("list users", "GET", "/api/v1/admin/users", ADMIN_ONLY),
    Endpoint("create user", "POST", "/api/v1/admin/users", ADMIN_ONLY, body=new_user_body, created=True),
    Endpoint("recompute calendar", "POST", "/api/v1/admin/calendar/recompute", ADMIN_ONLY),
    Endpoint("event stream", "GET", "/api/v1/events/stream", EVERY_USER, stream=True),
    Endpoint("healthz", "GET", "/healthz", ANYONE),
    Endpoint("readyz", "GET", "/readyz", ANYONE),
]


@pytest.fixture(scope="module")
async def shared_case(api: Api) -> str:
    """A courier case for the rows that do not change state."""
    return await courier_case(api)


async def call(
    api: Api, live: str, endpoint: Endpoint, path: str, headers: dict[str, str]
) -> tuple[int, str, httpx.Response | None]:
    if endpoint.stream:
        status, text = await stream_status(live, headers)
        return status, text, None
    response = await api.client.request(
        endpoint.method,
        path,
        json=endpoint.json_body(),
        params=endpoint.params,
        headers=headers,
    )
    return response.status_code, response.text, response


@pytest.mark.parametrize(
    ("endpoint", "caller"),
    [pytest.param(e, c, id=f"{e.name}-{c}") for e in ENDPOINTS for c in CALLERS],
)
async def test_every_endpoint_for_every_role(
    api: Api, shared_case: str, live: str, endpoint: Endpoint, caller: str
) -> None:
    cid = await courier_case(api, endpoint.stage) if endpoint.stage else shared_case
    path = endpoint.path.format(cid=cid)
    headers = {} if caller == ANONYMOUS else api.auth(caller)
    on_case = "{cid}" in endpoint.path
    before = await case_state(api, cid) if on_case else None
    total_before = await case_total(api) if endpoint.name == "create case" else None

    status, text, response = await call(api, live, endpoint, path, headers)

    expected = endpoint.status_for(caller)
    assert status == expected, (
        f"{endpoint.method} {endpoint.path} as {caller}: expected {expected}, got {status} {text[:300]}"
    )
    if expected >= 400:
        assert response is None or response.json().get("detail"), text
        if before is not None:
            assert await case_state(api, cid) == before, "a refused call changed the case"
        if total_before is not None:
            assert await case_total(api) == total_before, "a refused create made a case"
    if endpoint.name == "public lookup" and response is not None:
        assert set(response.json()) == {"id", "status", "updated_at"}, "the public lookup shows only the status"
    if endpoint.name == "me" and response is not None and expected == 200:
        assert response.json()["username"] == caller


# --- tokens ----------------------------------------------------------------------------------


def forged(api: Api, claims: dict[str, object], secret: str | None = None, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret if secret is not None else api.settings.secret_key.get_secret_value(), algorithm)


def bad_authorization(api: Api, kind: str) -> dict[str, str]:
    now = datetime.now(UTC)
    later = now + timedelta(hours=1)
    if kind == "garbage":
        value = "Bearer not-a-token"
    elif kind == "empty bearer":
        value = "Bearer"  # the scheme and no credentials ("Bearer " is not a legal header value)
    elif kind == "basic scheme":
        value = "Basic b2ZmaWNlcjpkZW1v"  # officer:demo
    elif kind == "expired":
        value = "Bearer " + forged(
            api, {"sub": "officer", "iat": now - timedelta(hours=13), "exp": now - timedelta(seconds=5)}
        )
    elif kind == "wrong secret":
        value = "Bearer " + forged(
            api, {"sub": "officer", "iat": now, "exp": later}, secret="another-secret-" + "x" * 32
        )
    elif kind == "unknown user":
        # No endpoint deletes a user, so "a user that no longer exists" is a validly signed token
        # for a username that is not in the database.
        value = "Bearer " + forged(api, {"sub": f"gone-{uuid.uuid4().hex[:8]}", "iat": now, "exp": later})
    elif kind == "no expiry":
        value = "Bearer " + forged(api, {"sub": "officer", "iat": now})
    elif kind == "alg none":
        value = "Bearer " + jwt.encode({"sub": "officer", "iat": now, "exp": later}, None, algorithm="none")
    elif kind == "token of another claim":
        value = "Bearer " + forged(api, {"user": "officer", "iat": now, "exp": later})
    else:  # pragma: no cover
        raise AssertionError(kind)
    return {"Authorization": value}


BAD_TOKENS = (
    "garbage",
    "empty bearer",
    "basic scheme",
    "expired",
    "wrong secret",
    "unknown user",
    "no expiry",
    "alg none",
    "token of another claim",
)


@pytest.mark.parametrize(
    ("endpoint", "kind"),
    [pytest.param(e, k, id=f"{e.name}-{k}") for e in ENDPOINTS for k in BAD_TOKENS],
)
async def test_bad_tokens_are_401_except_public_and_health(
    api: Api, shared_case: str, live: str, endpoint: Endpoint, kind: str
) -> None:
    path = endpoint.path.format(cid=shared_case)
    before = await case_state(api, shared_case)
    total_before = await case_total(api)

    status, text, response = await call(api, live, endpoint, path, bad_authorization(api, kind))

    expected = endpoint.status_for(ANONYMOUS)
    assert status == expected, f"{endpoint.method} {endpoint.path} with a {kind} token: got {status} {text[:300]}"
    if expected == 401:
        assert response is None or response.json().get("detail"), text
        assert response is None or response.headers.get("www-authenticate", "").lower().startswith("bearer")
    assert await case_state(api, shared_case) == before
    assert await case_total(api) == total_before


async def test_a_valid_token_still_works_and_login_refuses_wrong_passwords(api: Api) -> None:
    """The control for the table above: the real tokens are accepted, wrong passwords are not."""
    me = await api.client.get("/api/v1/me", headers=api.auth("hrss"))
    assert me.status_code == 200 and me.json() == {"username": "hrss", "role": "department", "department": "hrss"}
    for username, password in (("officer", "wrong"), ("nobody", "demo"), ("officer", "")):
        r = await api.client.post("/api/v1/auth/token", data={"username": username, "password": password})
        assert r.status_code in (401, 422), r.text
        assert r.json().get("detail"), r.text
        assert "access_token" not in r.json()


async def test_a_user_made_by_the_admin_logs_in_and_gets_only_their_role(api: Api) -> None:
    username = f"traffic-{uuid.uuid4().hex[:8]}"
    r = await api.client.post(
        "/api/v1/admin/users",
        json={"username": username, "password": "a-long-password", "role": "department", "department": "traffic"},
        headers=api.auth("admin"),
    )
    assert r.status_code == 201, r.text
    token = await api.client.post("/api/v1/auth/token", data={"username": username, "password": "a-long-password"})
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    cid = await courier_case(api)
    assert (await api.client.get(f"/api/v1/cases/{cid}", headers=headers)).status_code == 404
    assert (await api.client.post("/api/v1/cases", json=courier_body(), headers=headers)).status_code == 403
    assert (await api.client.get("/api/v1/admin/users", headers=headers)).status_code == 403


async def test_public_lookup_does_not_tell_a_wrong_phone_from_a_missing_case(api: Api, shared_case: str) -> None:
    wrong = await api.client.get(f"/api/v1/public/cases/{shared_case}", params={"phone_last4": "0000"})
    missing = await api.client.get("/api/v1/public/cases/CB-NOSUCHCASE", params={"phone_last4": PHONE[-4:]})
    assert wrong.status_code == missing.status_code == 404
    assert wrong.json() == missing.json()
    assert "杨书" not in wrong.text and shared_case not in wrong.text


# --- the worker's phone ----------------------------------------------------------------------


async def test_phone_in_full_only_for_the_officer_and_assigned_departments(api: Api) -> None:
    marker = f"mask{uuid.uuid4().hex[:8]}"
    cid = await courier_case(api, title=f"快递员一年工资未发 {marker}")
    expected = {"officer": PHONE, "hrss": PHONE, "justice": PHONE, "leader": MASKED, "admin": MASKED}
    for user, phone in expected.items():
        detail = await api.client.get(f"/api/v1/cases/{cid}", headers=api.auth(user))
        assert detail.status_code == 200, detail.text
        assert detail.json()["worker"]["phone"] == phone, f"detail as {user}"
        listed = await api.client.get("/api/v1/cases", params={"q": marker}, headers=api.auth(user))
        items = [c for c in listed.json()["items"] if c["id"] == cid]
        assert len(items) == 1, f"list as {user}: {listed.text[:300]}"
        assert items[0]["worker"]["phone"] == phone, f"list as {user}"
        dumped = json.dumps([detail.json(), listed.json()], ensure_ascii=False)
        if phone == MASKED:
            assert PHONE not in dumped, f"the full phone leaks to {user}"
    # An action's answer is masked the same way as a read: hrss handles the case.
    r = await api.post(f"/api/v1/cases/{cid}/assignments/hrss/acknowledge", "hrss")
    assert r.status_code == 200 and r.json()["worker"]["phone"] == PHONE
    # The events do not carry the phone at all.
    for user in ("leader", "admin"):
        events = await api.client.get(f"/api/v1/cases/{cid}/events", headers=api.auth(user))
        assert events.status_code == 200 and PHONE not in events.text


# --- department scoping ----------------------------------------------------------------------


async def test_traffic_never_sees_the_courier_case(api: Api) -> None:
    marker = f"scope{uuid.uuid4().hex[:8]}"
    total_before = await case_total(api)
    r = await api.post("/api/v1/cases", "traffic", courier_body(title=f"交通局不能立案 {marker}"))
    assert r.status_code == 403, r.text
    assert await case_total(api) == total_before, "a department created a case"

    cid = await courier_case(api, title=f"快递员一年工资未发 {marker}")
    traffic = api.auth("traffic")
    before = await case_state(api, cid)

    missing = await api.client.get("/api/v1/cases/CB-NOSUCHCASE", headers=traffic)
    for path in (f"/api/v1/cases/{cid}", f"/api/v1/cases/{cid}/events"):
        r = await api.client.get(path, headers=traffic)
        assert r.status_code == 404, f"{path}: {r.status_code} {r.text[:200]}"
        assert marker not in r.text and PHONE not in r.text
        # indistinguishable from a case that does not exist
        assert r.json()["detail"].replace(cid, "X") == missing.json()["detail"].replace("CB-NOSUCHCASE", "X")

    bodies: dict[str, object] = {
        "acknowledge": None,
        "return": {"reason": "不属于本单位"},
        "progress": {"note": "进展"},
        "extension": {"duration": "5 working days", "reason": "需要时间"},
        "complete": {"outcome": "办结"},
        "suspend": {"reason": "等待"},
        "resume": None,
    }
    for department in ("hrss", "justice", "traffic"):
        for action, body in bodies.items():
            r = await api.post(f"/api/v1/cases/{cid}/assignments/{department}/{action}", "traffic", body)
            assert r.status_code == 404, f"traffic {action} on {department}: {r.status_code} {r.text[:200]}"
            assert marker not in r.text
    assert await case_state(api, cid) == before

    filters: list[dict[str, str]] = [
        {},
        {"limit": "200"},
        {"q": ""},
        {"q": marker},
        {"q": "杨书"},
        {"q": "快递员"},
        {"department": "hrss"},
        {"department": "justice"},
        {"department": "hrss", "q": marker},
        {"category": "wage_arrears"},
        {"status": "in_progress"},
        {"overdue": "false"},
        {"offset": "0", "limit": "1"},
    ]
    for params in filters:
        r = await api.client.get("/api/v1/cases", params=params, headers=traffic)
        assert r.status_code == 200, f"{params}: {r.text[:200]}"
        assert cid not in r.text and marker not in r.text, f"traffic sees the courier case with {params}"
        assert all("traffic" in [a["department"] for a in c["assignments"]] for c in r.json()["items"]), params
    for params in ({"q": marker}, {"department": "hrss", "q": marker}):
        r = await api.client.get("/api/v1/cases", params=params, headers=traffic)
        assert r.json() == {"items": [], "total": 0}, f"the total counts an invisible case: {params}"
        # the control: hrss finds it with the same filter
        r = await api.client.get("/api/v1/cases", params=params, headers=api.auth("hrss"))
        assert r.json()["total"] == 1 and r.json()["items"][0]["id"] == cid


async def test_hrss_sees_only_cases_with_an_hrss_assignment(api: Api) -> None:
    marker = f"hazard{uuid.uuid4().hex[:8]}"
    hazard = await api.create_case(hazard_body(title=f"空调外机松动 {marker}"))  # traffic only
    hid = hazard["id"]
    hrss = api.auth("hrss")
    for path in (f"/api/v1/cases/{hid}", f"/api/v1/cases/{hid}/events"):
        assert (await api.client.get(path, headers=hrss)).status_code == 404
    r = await api.post(f"/api/v1/cases/{hid}/assignments/traffic/acknowledge", "hrss")
    assert r.status_code == 404, r.text
    for params in ({"q": marker}, {"department": "traffic", "q": marker}, {"category": "safety_hazard"}):
        r = await api.client.get("/api/v1/cases", params=params, headers=hrss)
        assert hid not in r.text, params
    r = await api.client.get("/api/v1/cases", params={"q": marker}, headers=api.auth("traffic"))
    assert [c["id"] for c in r.json()["items"]] == [hid]


# --- the event stream ------------------------------------------------------------------------


@dataclass
class Subscriber:
    user: str
    events: list[dict[str, Any]]

    def of(self, case_id: str) -> list[str]:
        return [e["type"] for e in self.events if e.get("case_id") == case_id]


async def read_stream(response: httpx.Response, sink: Subscriber) -> None:
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            sink.events.append(json.loads(line.removeprefix("data:").strip()))


async def test_the_event_stream_is_filtered_by_department(api: Api, live: str) -> None:
    subscribers = {user: Subscriber(user, []) for user in ("hrss", "traffic", "justice", "leader")}
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=live, timeout=httpx.Timeout(10, read=None)))
        readers = []
        for user, sink in subscribers.items():
            response = await stack.enter_async_context(
                client.stream("GET", "/api/v1/events/stream", headers=api.auth(user))
            )
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            readers.append(asyncio.create_task(read_stream(response, sink)))
        try:
            courier = await courier_case(api, "hrss_acknowledged")
            r = await api.post(f"/api/v1/cases/{courier}/assignments/justice/progress", "justice", {"note": "x"})
            assert r.status_code == 409  # not acknowledged yet: no event, and that is fine
            r = await api.post(f"/api/v1/cases/{courier}/escalate", "officer", {"reason": "欠薪数额大"})
            assert r.status_code == 200, r.text
            hazard = str((await api.create_case(hazard_body()))["id"])  # traffic's own case: the control

            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15
            while loop.time() < deadline:
                if "case.escalated" in subscribers["hrss"].of(courier) and subscribers["traffic"].of(hazard):
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.5)  # several more polls (every 0.25 s) for anything that would leak
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)

    hrss, traffic, justice, leader = (subscribers[u] for u in ("hrss", "traffic", "justice", "leader"))
    expected = [
        e["type"] for e in (await api.client.get(f"/api/v1/cases/{courier}/events", headers=api.auth("officer"))).json()
    ]
    # Every event of the case, in order (a later one, e.g. joining a meeting's agenda, may still
    # have been on its way when the readers stopped).
    for sink in (hrss, justice, leader):
        got = sink.of(courier)
        assert "case.escalated" in got and got == expected[: len(got)], f"{sink.user}: {got} vs {expected}"
    assert traffic.of(courier) == [], f"traffic received the courier case's events: {traffic.of(courier)}"
    assert traffic.of(hazard), "the control: traffic receives its own case's events"
    assert hrss.of(hazard) == [] and justice.of(hazard) == [], "hrss/justice received traffic's case"
    seqs = [e["seq"] for e in hrss.events if e["case_id"] == courier]
    assert seqs == list(range(1, len(seqs) + 1))
    # Whatever else the department streams carried (other tests' cases in the overlap window),
    # every case they named is one that department may see.
    for sink in (hrss, justice, traffic):
        for case_id in {e["case_id"] for e in sink.events}:
            r = await api.client.get(f"/api/v1/cases/{case_id}", headers=api.auth(sink.user))
            assert r.status_code == 200, f"{sink.user} received events of {case_id}, which it may not see"


# --- password guessing -------------------------------------------------------------------------


async def login_status(api: Api, username: str, password: str) -> httpx.Response:
    return await api.client.post("/api/v1/auth/token", data={"username": username, "password": password})


async def test_wrong_passwords_lock_a_username_and_a_good_one_resets_the_count(api: Api) -> None:
    target = f"guess-{uuid.uuid4().hex[:8]}"
    for _ in range(10):
        assert (await login_status(api, target, "wrong")).status_code == 401
    locked = await login_status(api, target, "wrong")
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert "too many wrong passwords" in locked.json()["detail"]

    # A successful login clears the count: nine misses, a success, nine more — never locked.
    for _ in range(2):
        for _ in range(9):
            assert (await login_status(api, "justice", "wrong")).status_code == 401
        assert (await login_status(api, "justice", "demo")).status_code == 200
