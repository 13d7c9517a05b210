"""Bad input (DESIGN.md, "API contract (v1)"): malformed JSON, wrong types, unknown category or
department, text over the documented limits, illegal transitions.

Each probe must be a 4xx (422 invalid input, 409 not valid in the current state, 404 no such
thing) with a non-empty ``detail`` that names what was wrong, never a 500, and must change
nothing: the case keeps its state and its events, and a refused create adds no case.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from temporalio.service import RPCError

from casebridge.api.routes.cases import new_case_id
from tests.api.conftest import Api, courier_body

pytestmark = pytest.mark.timeout(180)

PHONE = "13912345678"
NO_BODY = object()

Step = tuple[str, str, object]  # user, path under /api/v1/cases/{id}/, body

ACK_HRSS: Step = ("hrss", "assignments/hrss/acknowledge", None)
COMPLETE_ALL: list[Step] = [
    ACK_HRSS,
    ("justice", "assignments/justice/acknowledge", None),
    ("justice", "assignments/justice/complete", {"outcome": "法律援助完成"}),
    ("hrss", "assignments/hrss/complete", {"outcome": "责令支付，已全额追回"}),
]
STAGES: dict[str, list[Step]] = {
    "fresh": [],
    "hrss_acknowledged": [ACK_HRSS],
    "extension_requested": [
        ("hrss", "assignments/hrss/extension", {"duration": "10 working days", "reason": "等待工资台账"})
    ],
    "assignments_completed": COMPLETE_ALL,
    "resolved": [*COMPLETE_ALL, ("officer", "resolve", {"summary": "欠薪已追回"})],
    "withdrawn": [("officer", "withdraw", {"reason": "工人撤回诉求"})],
}


async def courier_case(api: Api, stage: str = "fresh", **overrides: object) -> str:
    """A new courier case (hrss lead, justice assist) brought to ``stage``; returns its id."""
    case = await api.create_case(courier_body(**overrides))
    cid = str(case["id"])
    for user, path, body in STAGES[stage]:
        response = await api.post(f"/api/v1/cases/{cid}/{path}", user, body)
        assert response.status_code == 200, f"setting up {stage}: {path} → {response.status_code} {response.text}"
    return cid


async def case_state(api: Api, cid: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The case and its events, as the officer sees them."""
    officer = api.auth("officer")
    case = await api.client.get(f"/api/v1/cases/{cid}", headers=officer)
    events = await api.client.get(f"/api/v1/cases/{cid}/events", headers=officer)
    assert case.status_code == 200 and events.status_code == 200, (case.text, events.text)
    return case.json(), events.json()


async def case_total(api: Api) -> int:
    response = await api.client.get("/api/v1/cases", params={"limit": 1}, headers=api.auth("officer"))
    assert response.status_code == 200, response.text
    total: int = response.json()["total"]
    return total


def worker(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {"name": "杨书", "phone": PHONE, "occupation": "快递员", "platform": "某快递"}
    body.update(overrides)
    return body


def without(body: dict[str, object], key: str) -> dict[str, object]:
    return {k: v for k, v in body.items() if k != key}


@dataclass(frozen=True)
class Probe:
    name: str
    path: str  # "{cid}" is the probe's case; "{base}" is /api/v1/cases/{cid}
    json: object = NO_BODY
    user: str = "officer"
    stage: str | None = "fresh"  # None: no case is needed
    method: str = "POST"
    content: bytes | None = None
    params: dict[str, str] = field(default_factory=dict)
    expected: int = 422
    mentions: tuple[str, ...] = ()  # the response names what was wrong
    # Input that may leave the case's workflow stuck (PostgreSQL cannot store U+0000): the
    # workflow is terminated after the probe, so one wedged case cannot hang later tests (the
    # calendar recompute waits on every open case).
    wedges: bool = False


CASES = "/api/v1/cases"
B = "{base}"
LONG_ID = "CB-" + "X" * 997  # 1 000 characters


def create(name: str, body: object, mentions: tuple[str, ...] = (), expected: int = 422) -> Probe:
    return Probe(name, CASES, json=body, stage=None, mentions=mentions, expected=expected)


PROBES = [
    # --- create: the body itself
    Probe(
        "create: malformed JSON",
        CASES,
        content=b'{"worker": {"name": "\xe6\x9d\xa8\xe4\xb9\xa6", "phone": "13912345678"',
        stage=None,
    ),
    Probe("create: not JSON at all", CASES, content=b"category=wage_arrears&title=x", stage=None),
    Probe("create: empty body", CASES, content=b"", stage=None),
    create("create: JSON array instead of object", [courier_body()]),
    create("create: JSON string instead of object", "wage_arrears"),
    create("create: JSON null", None),
    # --- create: types and shape
    create("create: phone as number", courier_body(worker=worker(phone=13912345678)), ("phone",)),
    create("create: worker as a string", courier_body(worker="杨书 13912345678"), ("worker",)),
    create("create: departments as a string", courier_body(departments="hrss"), ("departments",)),
    create("create: title as a number", courier_body(title=12345), ("title",)),
    create("create: amount as a boolean", courier_body(amount_claimed=True), ("amount_claimed",)),
    create("create: missing title", without(courier_body(), "title"), ("title",)),
    create("create: missing worker", without(courier_body(), "worker"), ("worker",)),
    create("create: missing category", without(courier_body(), "category"), ("category",)),
    create("create: missing worker phone", courier_body(worker=without(worker(), "phone")), ("phone",)),
    create("create: unknown extra field", courier_body(priority="urgent"), ("priority",)),
    create("create: unknown extra worker field", courier_body(worker=worker(id_card="5301...")), ("id_card",)),
    # --- create: vocabulary
    create("create: unknown category", courier_body(category="pension"), ("pension",)),
    create("create: unknown department", courier_body(departments=["hrss", "police"]), ("police",)),
    create("create: duplicate departments", courier_body(departments=["hrss", "justice", "hrss"])),
    # --- create: limits
    create("create: title 201 chars", courier_body(title="欠" * 201), ("title",)),
    create("create: title empty", courier_body(title=""), ("title",)),
    create("create: title whitespace only", courier_body(title=" \t\n\u3000 "), ("title",)),
    create("create: description 10 001 chars", courier_body(description="薪" * 10_001), ("description",)),
    create("create: description whitespace only", courier_body(description="   "), ("description",)),
    create("create: name 51 chars", courier_body(worker=worker(name="杨" * 51)), ("name",)),
    create("create: name empty", courier_body(worker=worker(name="")), ("name",)),
    create("create: phone starts with 2", courier_body(worker=worker(phone="23912345678")), ("phone",)),
    create("create: phone 10 digits", courier_body(worker=worker(phone="1391234567")), ("phone",)),
    create("create: phone 12 digits", courier_body(worker=worker(phone="139123456789")), ("phone",)),
    create("create: phone with dashes", courier_body(worker=worker(phone="139-1234-5678")), ("phone",)),
    create("create: phone with a letter", courier_body(worker=worker(phone="1391234567a")), ("phone",)),
    create("create: phone with +86", courier_body(worker=worker(phone="+8613912345678")), ("phone",)),
    create(
        "create: phone in full-width digits", courier_body(worker=worker(phone="１３９１２３４５６７８")), ("phone",)
    ),
    create(
        "create: phone with full-width digits after 1",
        courier_body(worker=worker(phone="1３９１２３４５６７８")),
        ("phone",),
    ),
    create("create: phone in Arabic-Indic digits", courier_body(worker=worker(phone="1٣٩١٢٣٤٥٦٧٨")), ("phone",)),
    create("create: negative amount", courier_body(amount_claimed="-1.00"), ("amount_claimed",)),
    create("create: amount with 3 decimals", courier_body(amount_claimed="100.123"), ("amount_claimed",)),
    create("create: amount NaN", courier_body(amount_claimed="NaN"), ("amount_claimed",)),
    create("create: amount Infinity", courier_body(amount_claimed="Infinity"), ("amount_claimed",)),
    create("create: amount not a number", courier_body(amount_claimed="三万六"), ("amount_claimed",)),
    Probe(
        "create: title with a NUL character",
        CASES,
        json=courier_body(title="快递员\u0000工资未发"),
        stage=None,
        mentions=("title",),
        wedges=True,
    ),
    Probe(
        "create: title with a lone surrogate",
        CASES,
        content=b'{"worker": {"name": "x", "phone": "13912345678"}, "category": "wage_arrears",'
        b' "title": "\\ud800", "description": "d"}',
        stage=None,
        mentions=("title",),
    ),
    # --- case actions: the body
    Probe(
        "progress: note with a NUL character",
        B + "/assignments/hrss/progress",
        {"note": "已约谈\u0000网点负责人"},
        user="hrss",
        stage="hrss_acknowledged",
        mentions=("note",),
        wedges=True,
    ),
    Probe(
        "escalate: reason with a lone surrogate",
        B + "/escalate",
        content=b'{"reason": "\\udc80"}',
        mentions=("reason",),
    ),
    Probe("return: malformed JSON", B + "/assignments/hrss/return", user="hrss", content=b'{"reason": '),
    Probe("return: JSON array", B + "/assignments/hrss/return", ["不属于本单位"], user="hrss"),
    Probe("escalate: no body", B + "/escalate", mentions=("body",)),
    Probe("escalate: JSON null", B + "/escalate", None),
    Probe("escalate: reason as a number", B + "/escalate", {"reason": 42}, mentions=("reason",)),
    Probe("escalate: unknown extra field", B + "/escalate", {"reason": "x", "urgent": True}, mentions=("urgent",)),
    # --- case actions: limits on free text (1–2 000)
    Probe("escalate: reason 2 001 chars", B + "/escalate", {"reason": "议" * 2001}, mentions=("reason",)),
    Probe("withdraw: reason whitespace only", B + "/withdraw", {"reason": "   "}, mentions=("reason",)),
    Probe("withdraw: reason empty", B + "/withdraw", {"reason": ""}, mentions=("reason",)),
    Probe("return: reason 2 001 chars", B + "/assignments/hrss/return", {"reason": "退" * 2001}, user="hrss"),
    Probe(
        "progress: note 2 001 chars",
        B + "/assignments/hrss/progress",
        {"note": "进" * 2001},
        user="hrss",
        stage="hrss_acknowledged",
        mentions=("note",),
    ),
    Probe(
        "complete: outcome 2 001 chars",
        B + "/assignments/hrss/complete",
        {"outcome": "结" * 2001},
        user="hrss",
        stage="hrss_acknowledged",
        mentions=("outcome",),
    ),
    Probe(
        "extension: reason 2 001 chars",
        B + "/assignments/hrss/extension",
        {"duration": "5 working days", "reason": "延" * 2001},
        user="hrss",
        mentions=("reason",),
    ),
    Probe(
        "suspend: reason 2 001 chars",
        B + "/assignments/hrss/suspend",
        {"reason": "止" * 2001},
        user="hrss",
        mentions=("reason",),
    ),
    Probe(
        "resolve: summary 2 001 chars",
        B + "/resolve",
        {"summary": "办" * 2001},
        stage="assignments_completed",
        mentions=("summary",),
    ),
    Probe(
        "feedback: comment 2 001 chars",
        B + "/feedback",
        {"satisfied": True, "comment": "谢" * 2001},
        stage="resolved",
        mentions=("comment",),
    ),
    # --- case actions: types
    Probe(
        'feedback: satisfied "yes"', B + "/feedback", {"satisfied": "yes"}, stage="resolved", mentions=("satisfied",)
    ),
    Probe("feedback: satisfied 1", B + "/feedback", {"satisfied": 1}, stage="resolved", mentions=("satisfied",)),
    Probe("feedback: satisfied missing", B + "/feedback", {"comment": "好"}, stage="resolved", mentions=("satisfied",)),
    Probe(
        'extension decision: approved "yes"',
        B + "/assignments/hrss/extension/decision",
        {"approved": "yes"},
        stage="extension_requested",
        mentions=("approved",),
    ),
    Probe(
        "resolve: negative amount recovered",
        B + "/resolve",
        {"summary": "已追回", "amount_recovered": "-5"},
        stage="assignments_completed",
        mentions=("amount_recovered",),
    ),
    Probe(
        "resolve: amount recovered with 3 decimals",
        B + "/resolve",
        {"summary": "已追回", "amount_recovered": "36000.001"},
        stage="assignments_completed",
        mentions=("amount_recovered",),
    ),
    # --- routing and departments
    Probe(
        "route: unknown department",
        B + "/assignments",
        {"department": "police", "role": "assist"},
        mentions=("police",),
    ),
    Probe("route: unknown role", B + "/assignments", {"department": "traffic", "role": "boss"}, mentions=("role",)),
    Probe("route: missing role", B + "/assignments", {"department": "traffic"}, mentions=("role",)),
    Probe(
        "route: department that already has an open assignment",
        B + "/assignments",
        {"department": "hrss", "role": "assist"},
        expected=409,
        mentions=("hrss",),
    ),
    Probe(
        "suspend: until_department is the same department",
        B + "/assignments/hrss/suspend",
        {"reason": "等待", "until_department": "hrss"},
        user="hrss",
    ),
    Probe(
        "suspend: until_department unknown",
        B + "/assignments/hrss/suspend",
        {"reason": "等待", "until_department": "police"},
        user="hrss",
        mentions=("police",),
    ),
    Probe("officer suspend: unknown department path", B + "/assignments/police/suspend", {"reason": "x"}, expected=404),
    Probe("officer resume: unknown department path", B + "/assignments/police/resume", expected=404),
    Probe(
        "extension decision: unknown department path",
        B + "/assignments/police/extension/decision",
        {"approved": True},
        expected=404,
    ),
    Probe(
        "officer suspend: 1 000-char department path",
        B + "/assignments/" + "d" * 1000 + "/suspend",
        {"reason": "x"},
        expected=404,
    ),
    # --- extension durations
    Probe(
        'extension: duration "soon"',
        B + "/assignments/hrss/extension",
        {"duration": "soon", "reason": "等待鉴定"},
        user="hrss",
        mentions=("soon",),
    ),
    Probe(
        'extension: duration "0 days"',
        B + "/assignments/hrss/extension",
        {"duration": "0 days", "reason": "等待鉴定"},
        user="hrss",
        mentions=("0 days",),
    ),
    Probe(
        'extension: duration "-3 days"',
        B + "/assignments/hrss/extension",
        {"duration": "-3 days", "reason": "等待鉴定"},
        user="hrss",
    ),
    Probe(
        "extension: duration 100 000 working days",
        B + "/assignments/hrss/extension",
        {"duration": "100000 working days", "reason": "等待鉴定"},
        user="hrss",
    ),
    Probe(
        "extension: duration empty",
        B + "/assignments/hrss/extension",
        {"duration": "", "reason": "等待鉴定"},
        user="hrss",
        mentions=("duration",),
    ),
    Probe(
        "extension: duration as a number",
        B + "/assignments/hrss/extension",
        {"duration": 10, "reason": "等待鉴定"},
        user="hrss",
        mentions=("duration",),
    ),
    # --- a case id of 1 000 characters
    Probe("get: 1 000-char case id", f"{CASES}/{LONG_ID}", method="GET", stage=None, expected=404),
    Probe("events: 1 000-char case id", f"{CASES}/{LONG_ID}/events", method="GET", stage=None, expected=404),
    Probe("escalate: 1 000-char case id", f"{CASES}/{LONG_ID}/escalate", {"reason": "x"}, stage=None, expected=404),
    Probe(
        "acknowledge: 1 000-char case id",
        f"{CASES}/{LONG_ID}/assignments/hrss/acknowledge",
        user="hrss",
        stage=None,
        expected=404,
    ),
    # --- list paging
    Probe("list: limit 0", CASES, method="GET", stage=None, params={"limit": "0"}, mentions=("limit",)),
    Probe("list: limit 201", CASES, method="GET", stage=None, params={"limit": "201"}, mentions=("limit",)),
    Probe("list: limit not a number", CASES, method="GET", stage=None, params={"limit": "ten"}, mentions=("limit",)),
    Probe("list: offset -1", CASES, method="GET", stage=None, params={"offset": "-1"}, mentions=("offset",)),
    Probe("list: overdue maybe", CASES, method="GET", stage=None, params={"overdue": "maybe"}, mentions=("overdue",)),
    # --- public lookup
    Probe(
        "public: phone_last4 12a4",
        "/api/v1/public/cases/{cid}",
        method="GET",
        params={"phone_last4": "12a4"},
        mentions=("phone_last4",),
    ),
    Probe(
        "public: phone_last4 5 digits",
        "/api/v1/public/cases/{cid}",
        method="GET",
        params={"phone_last4": "45678"},
        mentions=("phone_last4",),
    ),
    Probe("public: phone_last4 missing", "/api/v1/public/cases/{cid}", method="GET", mentions=("phone_last4",)),
    # --- illegal transitions
    Probe("feedback on an in-progress case", B + "/feedback", {"satisfied": True}, expected=409),
    Probe("resolve with open assignments", B + "/resolve", {"summary": "已追回"}, expected=409, mentions=("hrss",)),
    Probe(
        "acknowledge twice",
        B + "/assignments/hrss/acknowledge",
        user="hrss",
        stage="hrss_acknowledged",
        expected=409,
        mentions=("hrss",),
    ),
    Probe("progress before acknowledging", B + "/assignments/hrss/progress", {"note": "x"}, user="hrss", expected=409),
    Probe(
        "complete before acknowledging", B + "/assignments/hrss/complete", {"outcome": "x"}, user="hrss", expected=409
    ),
    Probe("resume a clock that runs", B + "/assignments/hrss/resume", user="hrss", expected=409),
    Probe(
        "decide an extension nobody asked for",
        B + "/assignments/hrss/extension/decision",
        {"approved": True},
        expected=409,
    ),
    Probe(
        "decide a suspension nobody asked for",
        B + "/assignments/hrss/suspend/decision",
        {"approved": True},
        expected=409,
    ),
    Probe(
        "request a second extension",
        B + "/assignments/hrss/extension",
        {"duration": "5 working days", "reason": "再延"},
        user="hrss",
        stage="extension_requested",
        expected=409,
    ),
    Probe("resolve twice", B + "/resolve", {"summary": "再办结"}, stage="resolved", expected=409),
    Probe("escalate a resolved case", B + "/escalate", {"reason": "x"}, stage="resolved", expected=409),
    Probe("escalate a withdrawn case", B + "/escalate", {"reason": "x"}, stage="withdrawn", expected=409),
    Probe("withdraw twice", B + "/withdraw", {"reason": "x"}, stage="withdrawn", expected=409),
    Probe(
        "acknowledge on a withdrawn case",
        B + "/assignments/hrss/acknowledge",
        user="hrss",
        stage="withdrawn",
        expected=409,
    ),
]


ANSWER_WITHIN = 20.0  # seconds; a valid action answers in well under one


async def answer(request: Awaitable[httpx.Response], what: str) -> httpx.Response:
    """The response, or a test failure that says the API crashed (a 500) or never answered."""
    try:
        return await asyncio.wait_for(request, timeout=ANSWER_WITHIN)
    except TimeoutError:
        pytest.fail(f"{what}: no answer within {ANSWER_WITHIN:.0f} s")
    except Exception as exc:  # the in-process transport re-raises what a server would turn into a 500
        pytest.fail(f"{what}: the app raised {type(exc).__name__}: {exc} (a 500 from a real server)")


def assert_clear_detail(response_json: object, text: str) -> None:
    assert isinstance(response_json, dict), text
    detail = response_json.get("detail")
    assert detail, f"no detail: {text[:300]}"
    if isinstance(detail, list):  # FastAPI's validation errors: each says where and what
        assert all(isinstance(item, dict) and item.get("msg") and item.get("loc") for item in detail), text[:300]
    else:
        assert isinstance(detail, str) and detail.strip(), text[:300]


@pytest.mark.parametrize("probe", [pytest.param(p, id=p.name) for p in PROBES])
async def test_bad_input_is_refused_and_changes_nothing(api: Api, probe: Probe) -> None:
    cid = await courier_case(api, probe.stage) if probe.stage else None
    before = await case_state(api, cid) if cid else None
    total_before = await case_total(api)
    path = probe.path.replace("{base}", f"{CASES}/{cid}").replace("{cid}", str(cid))
    headers = api.auth(probe.user)
    kwargs: dict[str, Any] = {"params": probe.params}
    if probe.content is not None:
        kwargs["content"] = probe.content
        headers = {**headers, "Content-Type": "application/json"}
    elif probe.json is not NO_BODY:
        kwargs["json"] = probe.json
    created_id = None
    if probe.wedges and cid is None:  # a known id for the case this create might start
        key = f"bad-input-{uuid.uuid4().hex}"
        headers = {**headers, "Idempotency-Key": key}
        created_id = new_case_id(probe.user, key)

    try:
        response = await answer(api.client.request(probe.method, path, headers=headers, **kwargs), probe.name)
    finally:
        if probe.wedges:
            await end_workflow(api, cid or created_id)

    assert response.status_code == probe.expected, (
        f"{probe.name}: expected {probe.expected}, got {response.status_code} {response.text[:500]}"
    )
    assert_clear_detail(response.json(), response.text)
    for word in probe.mentions:
        assert word in response.text, f"{probe.name}: the message does not name {word!r}: {response.text[:500]}"
    if before is not None:
        after = await case_state(api, str(cid))
        assert len(after[1]) == len(before[1]), f"{probe.name}: events were added: {after[1][len(before[1]) :]}"
        assert after == before, f"{probe.name}: the case changed"
    assert await case_total(api) == total_before, f"{probe.name}: the number of cases changed"


async def end_workflow(api: Api, case_id: str | None) -> None:
    """Terminate a case's workflow if it still runs (cleanup only; the assertions come after)."""
    if case_id is None:
        return
    with contextlib.suppress(RPCError):
        await api.env.client.get_workflow_handle(case_id).terminate("test cleanup: the case may be wedged")


async def test_the_limits_themselves_are_accepted(api: Api) -> None:
    """The boundaries are inside: 200/10 000/50/2 000 characters, an amount with 2 decimals."""
    body = courier_body(
        title="题" * 200,
        description="述" * 10_000,
        worker=worker(name="名" * 50),
        amount_claimed="0.01",
    )
    case = await api.create_case(body)
    assert len(str(case["title"])) == 200 and len(str(case["description"])) == 10_000
    assert case["amount_claimed"] == "0.01"
    cid = case["id"]
    r = await api.post(f"{CASES}/{cid}/assignments/hrss/return", "hrss", {"reason": "退" * 2000})
    assert r.status_code == 200, r.text
    r = await api.client.get(CASES, params={"limit": 200, "offset": 0}, headers=api.auth("officer"))
    assert r.status_code == 200 and len(r.json()["items"]) <= 200
    r = await api.client.get(CASES, params={"limit": 1}, headers=api.auth("officer"))
    assert r.status_code == 200 and len(r.json()["items"]) == 1
    r = await api.client.get(CASES, headers=api.auth("officer"))
    assert len(r.json()["items"]) == min(50, r.json()["total"]), "limit defaults to 50"


async def test_the_documented_limits_are_in_the_openapi_schema(api: Api) -> None:
    schema = (await api.client.get("/openapi.json")).json()
    components = schema["components"]["schemas"]
    create = components["CaseCreate"]["properties"]
    assert create["title"]["maxLength"] == 200 and create["title"]["minLength"] == 1
    assert create["description"]["maxLength"] == 10_000
    worker_in = components["WorkerIn"]["properties"]
    assert worker_in["name"]["maxLength"] == 50
    assert "pattern" in worker_in["phone"]
    assert components["ReasonIn"]["properties"]["reason"]["maxLength"] == 2000


async def test_a_nul_character_in_free_text_leaves_the_case_workable(api: Api) -> None:
    """PostgreSQL cannot store U+0000. Whatever the API does with such a note, the case must
    take its next action afterwards."""
    cid = await courier_case(api, "hrss_acknowledged")
    try:
        refused: httpx.Response | None = await asyncio.wait_for(
            api.post(f"{CASES}/{cid}/assignments/hrss/progress", "hrss", {"note": "a\u0000b"}),
            timeout=ANSWER_WITHIN,
        )
    except TimeoutError:
        refused = None
    try:
        ack = await answer(
            api.post(f"{CASES}/{cid}/assignments/justice/acknowledge", "justice"),
            "the next action (justice acknowledges)",
        )
    finally:
        await end_workflow(api, cid)
    assert ack.status_code == 200, ack.text[:300]
    assert refused is not None, f"progress with a NUL character: no answer within {ANSWER_WITHIN:.0f} s"
    assert refused.status_code == 422, refused.text[:300]
