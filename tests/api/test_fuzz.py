"""Fuzzing (issue 6, item 6): schemathesis over the app's own OpenAPI, authenticated as each role.

Every operation but the never-ending event stream gets valid and invalid requests (body, query,
path, headers), each sent as the officer, a department (hrss), a leader and the admin. Checks: no
5xx, and every response whose status the schema documents matches its schema. Generation is
deterministic (``derandomize``) and bounded: ``CASEBRIDGE_FUZZ_EXAMPLES`` requests per operation
(default 4, each sent as all four roles); set it higher for a deeper run.

Path parameters are sometimes swapped for real case ids and department codes, so the requests
reach the workflow updates, not only the 404 of an unknown case.

Hypothesis makes blocking HTTP calls, so it runs in a thread against a second instance of the app
served by uvicorn on a loopback port (same settings, database and Temporal as the ``api``
fixture), while the test's event loop keeps serving it and running the ``api`` fixture's worker.

Whatever the fuzzer once found stays below as a plain regression test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import traceback
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.service import RPCError

from casebridge.api.app import create_app
from casebridge.db.models import Meeting
from tests.api.conftest import Api, courier_body

pytestmark = pytest.mark.timeout(300)

ROLES = ("officer", "hrss", "leader", "admin")
FUZZ_EXAMPLES = int(os.environ.get("CASEBRIDGE_FUZZ_EXAMPLES", "4"))
# Never-ending (server-sent events): a request would not return.
EXCLUDED = {("GET", "/api/v1/events/stream")}
# The demo users other tests log in as: the fuzzer must not change their password or role.
PROTECTED_USERS = {"officer", "hrss", "justice", "traffic", "leader", "admin"}
CHECKS = [not_a_server_error, response_schema_conformance]
DEPARTMENTS = ["hrss", "justice", "traffic"]


@dataclass
class Findings:
    failures: list[str] = field(default_factory=list)
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


# --- a live server the fuzzer's blocking client can reach ----------------------------------------


@dataclass
class Live:
    base_url: str
    spec: dict[str, Any]


@pytest.fixture(scope="module")
async def live(api: Api) -> AsyncIterator[Live]:
    # The outside intakes configured, so the fuzzer meets their real checks (signature, api_key)
    # rather than the 503 "not configured" an installation without them answers on purpose.
    settings = api.settings.model_copy(
        update={"hotline_secret": SecretStr(uuid.uuid4().hex), "open311_api_keys": [SecretStr(uuid.uuid4().hex)]}
    )
    app = create_app(settings, temporal=api.env.client)
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
            yield Live(f"http://127.0.0.1:{port}", app.openapi())
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, timeout=15)
    sock.close()


# --- the fuzzer ----------------------------------------------------------------------------------


def fuzz_operation(
    operation: Any,
    base_url: str,
    session: requests.Session,
    tokens: dict[str, str],
    real_cases: list[str],
    findings: Findings,
) -> None:
    """Valid and invalid input for one operation; each generated request is sent as every role."""
    strategies = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        with contextlib.suppress(Exception):  # an operation may have nothing to negate
            strategies.append(operation.as_strategy(generation_mode=mode))
    if not strategies:
        return

    @hypothesis.settings(
        max_examples=FUZZ_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @hypothesis.given(
        case=st.one_of(strategies), real=st.sampled_from([None, *real_cases]), dept=st.sampled_from(DEPARTMENTS)
    )
    def run(case: schemathesis.Case, real: str | None, dept: str) -> None:
        if real is not None and case.path_parameters:
            if "case_id" in case.path_parameters:
                case.path_parameters["case_id"] = real
            if "department" in case.path_parameters:
                case.path_parameters["department"] = dept
        body = case.body if isinstance(case.body, dict) else {}
        if operation.path == "/api/v1/admin/users" and body.get("username") in PROTECTED_USERS:
            hypothesis.reject()
        for role in ROLES:
            headers = {"Authorization": f"Bearer {tokens[role]}"}
            response = case.call(base_url=base_url, session=session, headers=headers, timeout=60)
            findings.requests += 1
            findings.statuses[response.status_code] = findings.statuses.get(response.status_code, 0) + 1
            try:
                case.validate_response(response, checks=CHECKS)
            except (Exception, BaseExceptionGroup) as exc:
                exc.add_note(f"(as {role})")
                raise

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        pass
    except (Exception, BaseExceptionGroup) as exc:  # every failure is collected and reported together
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        notes = " ".join(getattr(exc, "__notes__", []))
        findings.failures.append(f"{operation.method.upper()} {operation.path} {notes}:\n{detail}")


def fuzz_all(spec: dict[str, Any], base_url: str, tokens: dict[str, str], real_cases: list[str]) -> Findings:
    schema = schemathesis.openapi.from_dict(spec)
    findings = Findings()
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            if (operation.method.upper(), operation.path) not in EXCLUDED:
                fuzz_operation(operation, base_url, session, tokens, real_cases, findings)
    return findings


async def meeting_ids(sessions: async_sessionmaker[AsyncSession]) -> set[str]:
    async with sessions() as session:
        return set(await session.scalars(select(Meeting.id)))


async def active_webhooks(api: Api) -> set[str]:
    response = await api.client.get("/api/v1/admin/webhooks", headers=api.auth("admin"))
    if response.status_code != 200:  # no webhooks in this version of the API
        return set()
    return {str(w["id"]) for w in response.json() if w.get("active")}


async def test_no_request_gets_a_5xx_and_every_response_matches_the_schema(
    api: Api, live: Live, sessions: async_sessionmaker[AsyncSession]
) -> None:
    real_cases = [str((await api.create_case(courier_body()))["id"]) for _ in range(3)]
    meetings_before, webhooks_before = await meeting_ids(sessions), await active_webhooks(api)
    try:
        findings = await asyncio.to_thread(fuzz_all, live.spec, live.base_url, api.tokens, real_cases)
    finally:
        await forget_what_the_fuzzer_made(api, sessions, meetings_before, webhooks_before)
    assert findings.requests >= len(live.spec["paths"]) * len(ROLES)
    assert not findings.failures, f"{len(findings.failures)} failures:\n\n" + "\n\n".join(findings.failures)


async def forget_what_the_fuzzer_made(
    api: Api, sessions: async_sessionmaker[AsyncSession], meetings_before: set[str], webhooks_before: set[str]
) -> None:
    """Meetings the fuzzer planned (on whatever dates it made up) would be "the earliest planned
    meeting" for later tests' escalations, and its webhooks would keep POSTing to made-up URLs:
    end the meetings and take them out of the read model, deactivate the webhooks."""
    created = await meeting_ids(sessions) - meetings_before
    for meeting_id in created:
        with contextlib.suppress(RPCError):
            await api.env.client.get_workflow_handle(meeting_id).terminate("fuzzing finished")
    if created:
        async with sessions() as session, session.begin():
            await session.execute(delete(Meeting).where(Meeting.id.in_(created)))
    for webhook_id in await active_webhooks(api) - webhooks_before:
        await api.client.delete(f"/api/v1/admin/webhooks/{webhook_id}", headers=api.auth("admin"))


# --- regressions: what the fuzzer found, as plain tests ------------------------------------------


def documented(spec: dict[str, Any], method: str, path: str) -> Any:
    """The schemathesis operation, to validate a response against what the OpenAPI promises."""
    return schemathesis.openapi.from_dict(spec)[path][method]


async def assert_conforms(live: Live, method: str, path: str, response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    operation = documented(live.spec, method, path)
    operation.validate_response(response)  # raises with the schema path and the value that broke it


async def test_unknown_category_is_a_422_in_the_documented_shape(api: Api, live: Live) -> None:
    """Found by the fuzzer: a domain 422 (unknown category) answered ``{"detail": "<text>"}`` where
    the OpenAPI promises HTTPValidationError (``detail`` a list of {loc, msg, type})."""
    response = await api.post("/api/v1/cases", "officer", courier_body(category="0"))
    await assert_conforms(live, "POST", "/api/v1/cases", response, 422)


async def test_unknown_department_in_routing_is_a_422_in_the_documented_shape(api: Api, live: Live) -> None:
    """Found by the fuzzer: the same for re-routing to a department the policy does not know."""
    case = await api.create_case(courier_body())
    path = "/api/v1/cases/{case_id}/assignments"
    response = await api.post(path.format(case_id=case["id"]), "officer", {"department": "nowhere", "role": "assist"})
    await assert_conforms(live, "POST", path, response, 422)


async def test_suspension_waiting_on_an_unknown_department_is_a_422_in_the_documented_shape(
    api: Api, live: Live
) -> None:
    """Found by the fuzzer: the same for a suspension that waits on an unknown department."""
    case = await api.create_case(courier_body())
    path = "/api/v1/cases/{case_id}/assignments/{department}/suspend"
    body = {"reason": "等待责任认定", "until_department": "nowhere"}
    response = await api.post(path.format(case_id=case["id"], department="hrss"), "officer", body)
    await assert_conforms(live, "POST", path, response, 422)


async def test_extension_with_an_unparseable_duration_is_a_422_in_the_documented_shape(api: Api, live: Live) -> None:
    """Found by the fuzzer: the same for an extension request whose ``duration`` does not parse."""
    case = await api.create_case(courier_body())
    path = "/api/v1/cases/{case_id}/assignments/{department}/extension"
    body = {"duration": "soon", "reason": "等待工资台账"}
    response = await api.post(path.format(case_id=case["id"], department="hrss"), "hrss", body)
    await assert_conforms(live, "POST", path, response, 422)


async def test_user_of_an_unknown_department_is_a_422_in_the_documented_shape(api: Api, live: Live) -> None:
    """Found by the fuzzer: the same for an admin creating a user of a department the policy does not know."""
    body = {"username": f"fuzz-{uuid.uuid4().hex[:8]}", "password": "a-long-password", "role": "department"}
    response = await api.post("/api/v1/admin/users", "admin", {**body, "department": "nowhere"})
    await assert_conforms(live, "POST", "/api/v1/admin/users", response, 422)


async def test_meeting_decision_with_an_unparseable_duration_is_a_422_in_the_documented_shape(
    api: Api, live: Live
) -> None:
    """Found by the fuzzer: the same for a meeting decision whose ``resolve_within`` does not parse."""
    path = "/api/v1/meetings/{meeting_id}/items/{key}/decision"
    body = {"decision": "交警大队即日签收", "lead_department": "traffic", "resolve_within": "0"}
    response = await api.post(path.format(meeting_id="0", key="0"), "leader", body)
    await assert_conforms(live, "POST", path, response, 422)


async def test_nul_in_the_query_is_a_422_in_the_documented_shape(api: Api, live: Live) -> None:
    """Found by the fuzzer: the NUL filter answers ``{"detail": "<text>"}`` where the OpenAPI
    promises HTTPValidationError for the operation's 422."""
    response = await api.client.get("/api/v1/cases", params={"q": "欠薪\x00"}, headers=api.auth("officer"))
    await assert_conforms(live, "GET", "/api/v1/cases", response, 422)
