"""Webhooks out through the API, with the real worker, Temporal dev server and PostgreSQL, and a real
HTTP receiver on 127.0.0.1: admin-only subscriptions, signed deliveries of every event, in order, at
least once, through a receiver outage, and the department filter."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from casebridge.workflows.webhooks import WebhookDispatcherWorkflow, dispatcher_id
from tests.api.conftest import Api, courier_body, hazard_body
from tests.workflows.test_webhook_delivery import Receiver, assert_signed

pytestmark = pytest.mark.timeout(90)

SECRET = "a-receiver-secret-of-some-length"
BASE = "/api/v1/admin/webhooks"
T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, within: float = 30) -> T:
    """Poll ``probe`` until it returns something other than None."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await probe()
        if result is not None:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def subscribe(api: Api, url: str, **body: object) -> dict[str, Any]:
    response = await api.post(BASE, "admin", {"url": url, "secret": SECRET, **body})
    assert response.status_code == 201, response.text
    assert SECRET not in response.text and "secret" not in response.json()
    created: dict[str, Any] = response.json()
    return created


async def detail(api: Api, webhook_id: str) -> dict[str, Any]:
    response = await api.client.get(f"{BASE}/{webhook_id}", headers=api.auth("admin"))
    assert response.status_code == 200, response.text
    assert SECRET not in response.text and "secret" not in response.json()
    found: dict[str, Any] = response.json()
    return found


async def timeline(api: Api, case_id: str) -> list[dict[str, Any]]:
    response = await api.client.get(f"/api/v1/cases/{case_id}/events", headers=api.auth("officer"))
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()
    return events


async def unsubscribe(api: Api, webhook_id: str) -> None:
    """Deactivate, and see the dispatcher stop by itself; whatever happens, leave none running."""
    handle = api.env.client.get_workflow_handle_for(WebhookDispatcherWorkflow.run, dispatcher_id(webhook_id))
    try:
        response = await api.client.delete(f"{BASE}/{webhook_id}", headers=api.auth("admin"))
        assert response.status_code == 200, response.text
        assert response.json()["active"] is False and SECRET not in response.text
        assert await asyncio.wait_for(handle.result(), timeout=20) == "inactive"
    finally:
        with contextlib.suppress(RPCError):
            if (await handle.describe()).status is WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test finished")


async def test_only_admins_manage_webhooks_and_input_is_checked(api: Api) -> None:
    body = {"url": "https://receiver.example/hook", "secret": SECRET}
    for user in ("officer", "hrss", "leader"):
        assert (await api.post(BASE, user, body)).status_code == 403
        assert (await api.client.get(BASE, headers=api.auth(user))).status_code == 403
        assert (await api.client.delete(f"{BASE}/x", headers=api.auth(user))).status_code == 403
        assert (await api.post(f"{BASE}/x/enable", user)).status_code == 403
    assert (await api.client.post(BASE, json=body)).status_code == 401

    bad_bodies: list[dict[str, object]] = [
        {**body, "url": "ftp://receiver.example/hook"},
        {**body, "url": "receiver.example/hook"},
        {**body, "url": "https://"},
        {**body, "url": "https://receiver.example/" + "a" * 500},
        {**body, "url": "https://receiver.example/a b"},
        {**body, "url": "https://receiver.example:99999/hook"},
        {**body, "secret": "s" * 15},
        {**body, "secret": "s" * 201},
        {**body, "secret": "sixteen-chars\x00!!"},
        {**body, "departments": ["nowhere"]},
        {**body, "departments": ["HRSS"]},
        {**body, "event_types": ["Assignment.*"]},
        {**body, "event_types": ["assignment.*.issued"]},
        {**body, "event_types": ["assignment*"]},
        {**body, "extra": True},
        {"url": body["url"]},
    ]
    for bad in bad_bodies:
        response = await api.post(BASE, "admin", bad)
        assert response.status_code == 422, (bad, response.text)
    assert (await api.client.get(f"{BASE}/nope", headers=api.auth("admin"))).status_code == 404
    assert (await api.client.delete(f"{BASE}/nope", headers=api.auth("admin"))).status_code == 404
    assert (await api.post(f"{BASE}/nope/enable", "admin")).status_code == 404


async def test_receiver_gets_every_event_signed_in_order_through_an_outage(api: Api) -> None:
    async with Receiver(status=500) as receiver:
        created = await subscribe(api, receiver.url)
        webhook_id = created["id"]
        assert created["active"] is True and created["departments"] == [] and created["event_types"] == []
        assert created["failing_since"] is None and created["delivered"] == 0
        try:
            case_id = (await api.create_case(courier_body()))["id"]

            async def failing() -> dict[str, Any] | None:
                sub = await detail(api, webhook_id)
                return sub if sub["failing_since"] and sub["failed"] >= 2 else None

            # Down: the failure is visible, and the first event is retried while the rest wait.
            down = await eventually(failing, "failed attempts to show")
            assert down["last_error"] == "HTTP 500" and down["last_attempt_at"] is not None
            first = next(d for d in down["deliveries"] if d["seq"] == 1 and d["case_id"] == case_id)
            assert first["attempts"] >= 2 and first["last_status"] == 500 and first["delivered_at"] is None
            assert first["event_id"] == f"{case_id}:1"
            assert {r.event_id for r in receiver.for_case(case_id)} == {f"{case_id}:1"}
            # More events while the receiver is down.
            r = await api.post(f"/api/v1/cases/{case_id}/assignments/hrss/acknowledge", "hrss")
            assert r.status_code == 200, r.text
            r = await api.post(f"/api/v1/cases/{case_id}/assignments/hrss/progress", "hrss", {"note": "已约谈网点"})
            assert r.status_code == 200, r.text

            receiver.status = 200  # back up
            events = await timeline(api, case_id)
            expected = [f"{case_id}:{e['seq']}" for e in events]

            async def all_delivered() -> dict[str, Any] | None:
                sub = await detail(api, webhook_id)
                ok = [r.event_id for r in receiver.for_case(case_id) if r.answered == 200]
                return sub if ok == expected and sub["pending"] == 0 else None

            after = await eventually(all_delivered, "every event to arrive after the outage")
        finally:
            await unsubscribe(api, webhook_id)

    # Each event arrived exactly once with a 2xx, in seq order, and nothing else for this case did.
    mine = receiver.for_case(case_id)
    delivered = [r for r in mine if r.answered == 200]
    assert [r.event_id for r in delivered] == expected
    # Once per attempt: the receiver saw as many requests per event as the delivery counts.
    attempts = {d["event_id"]: d["attempts"] for d in after["deliveries"] if d["case_id"] == case_id}
    for event_id in expected:
        assert sum(1 for r in mine if r.event_id == event_id) == attempts[event_id]
    assert attempts[f"{case_id}:1"] >= 3 and all(attempts[e] == 1 for e in expected[1:])
    # Every request is signed with the secret over timestamp and body, with the idempotency key.
    for request in mine:
        assert_signed(request, SECRET)
    # What arrived is the case's timeline.
    for request, event in zip(delivered, events, strict=True):
        payload = request.payload
        assert (payload["seq"], payload["type"], payload["actor"], payload["data"]) == (
            event["seq"],
            event["type"],
            event["actor"],
            event["data"],
        )
    # Failures stay visible after recovery; failing_since is cleared by the first success.
    assert after["failing_since"] is None and after["last_error"] == "HTTP 500"
    assert after["delivered"] >= len(expected) and after["failed"] >= attempts[f"{case_id}:1"] - 1


async def test_department_filter_and_enable_again(api: Api) -> None:
    async with Receiver() as receiver:
        created = await subscribe(
            api, receiver.url, departments=["justice", "justice"], event_types=["case.created", "assignment.*"]
        )
        webhook_id = created["id"]
        assert created["departments"] == ["justice"]
        assert created["event_types"] == ["assignment.*", "case.created"]
        try:
            traffic_only = (await api.create_case(hazard_body()))["id"]  # 交警 alone: not justice's business
            courier = (await api.create_case(courier_body()))["id"]  # 人社 leads, 司法 assists
            wanted = [
                f"{courier}:{e['seq']}"
                for e in await timeline(api, courier)
                if e["type"] == "case.created" or e["type"].startswith("assignment.")
            ]
            assert len(wanted) == 3

            async def courier_arrived() -> list[str] | None:
                got = [r.event_id for r in receiver.for_case(courier)]
                return got if got == wanted else None

            await eventually(courier_arrived, "the justice case's events")
            # Deliveries go in order, and the traffic case came first: none of it was sent.
            assert receiver.for_case(traffic_only) == []
            sub = await detail(api, webhook_id)
            assert {d["case_id"] for d in sub["deliveries"]} == {courier}
            for request in receiver.received:
                assert_signed(request, SECRET)

            await unsubscribe(api, webhook_id)
            r = await api.post(f"/api/v1/cases/{courier}/assignments/justice/acknowledge", "justice")
            assert r.status_code == 200, r.text
            assert (await detail(api, webhook_id))["pending"] == 0  # inactive: nothing queued

            r = await api.post(f"{BASE}/{webhook_id}/enable", "admin")
            assert r.status_code == 200 and r.json()["active"] is True and SECRET not in r.text
            r = await api.post(f"/api/v1/cases/{courier}/assignments/hrss/acknowledge", "hrss")
            assert r.status_code == 200, r.text
            acknowledged = (await timeline(api, courier))[-1]
            assert acknowledged["type"] == "assignment.acknowledged"

            async def hrss_ack_arrived() -> bool | None:
                return True if receiver.for_case(courier)[-1].event_id == f"{courier}:{acknowledged['seq']}" else None

            await eventually(hrss_ack_arrived, "the event after enabling")
            # The event written while it was deactivated was not queued, so it never comes.
            assert len(receiver.for_case(courier)) == len(wanted) + 1
            sub = await detail(api, webhook_id)
            assert [e["type"] for e in sub["events"]] == [
                "subscription.enabled",
                "subscription.deactivated",
                "subscription.created",
            ]
            listed = await api.client.get(BASE, headers=api.auth("admin"))
            assert listed.status_code == 200 and SECRET not in listed.text
            assert any(w["id"] == webhook_id and w["active"] for w in listed.json())
        finally:
            await unsubscribe(api, webhook_id)
