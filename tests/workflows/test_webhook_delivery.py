"""The webhook outbox against PostgreSQL, and the dispatcher on the time-skipping server with a real
HTTP receiver: a receiver that keeps failing gets the same event, signed, once per attempt, with
backoff, until after a day of failure the subscription is disabled and says so."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from casebridge.activities.projection import ProjectionActivities
from casebridge.activities.webhooks import WebhookActivities
from casebridge.db.models import WebhookDelivery, WebhookEvent, WebhookSubscription
from casebridge.domain.case import CaseMachine
from casebridge.domain.model import ProjectionBatch, Schedule
from casebridge.domain.webhooks import RETRY_WINDOW, DispatcherInput
from casebridge.workflows.webhooks import WebhookDispatcherWorkflow, dispatcher_id
from tests.support import courier, default_policy, dept, new_case_id

pytestmark = pytest.mark.timeout(60)

SECRET = "receiver-shared-secret-0123456789"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def event_id(self) -> str:
        return self.headers["x-casebridge-event-id"]

    @property
    def payload(self) -> dict[str, object]:
        decoded: dict[str, object] = json.loads(self.body)
        return decoded


class Receiver:
    """A webhook receiver on 127.0.0.1 (plain asyncio, HTTP/1.1, one request per connection) that
    records every request and answers with ``status``, which a test changes to take it down or up."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[Received] = []
        self.url = ""
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Receiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/hooks/casebridge"
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await reader.readline()
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            status = self.status
            if request_line.startswith(b"POST "):
                self.received.append(Received(headers, body, status))
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def for_case(self, case_id: str) -> list[Received]:
        return [r for r in self.received if r.payload["case_id"] == case_id]


def assert_signed(received: Received, secret: str, *, max_age: float | None = 300) -> None:
    """What a receiver must check, computed here independently of the code under test."""
    timestamp = received.headers["x-casebridge-timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + received.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(received.headers["x-casebridge-signature"], f"sha256={expected}")
    if max_age is not None:
        assert abs(time.time() - int(timestamp)) <= max_age
    payload = received.payload
    assert received.event_id == payload["id"] == f"{payload['case_id']}:{payload['seq']}"
    assert received.headers["content-type"].startswith("application/json")


def subscription(sub_id: str, url: str, departments: list[str], event_types: list[str]) -> WebhookSubscription:
    return WebhookSubscription(
        id=sub_id,
        url=url,
        secret=SECRET,
        departments=departments,
        event_types=event_types,
        active=True,
        created_by="admin",
        delivered=0,
        failed=0,
    )


async def deactivate(sessions: async_sessionmaker[AsyncSession], *sub_ids: str) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            update(WebhookSubscription).where(WebhookSubscription.id.in_(sub_ids)).values(active=False)
        )


def drain(machine: CaseMachine) -> ProjectionBatch:
    batch = ProjectionBatch(case=copy.deepcopy(machine.snapshot()), events=list(machine.outbox))
    machine.outbox.clear()
    return batch


async def test_outbox_queues_new_events_once_for_the_subscriptions_that_want_them(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = datetime.now(UTC)
    machine = CaseMachine.open(courier(new_case_id(), default_policy()), now)
    schedule = Schedule(
        now + timedelta(days=1), now + timedelta(days=60), now + timedelta(days=8), now + timedelta(days=67), False
    )
    for department, role in machine.initial_routes(None):
        machine.issue(department, role, schedule, now, "officer")
    created = drain(machine)  # case.created, assignment.issued for hrss and justice
    project = ProjectionActivities(sessions).project_case
    await project(created)

    tag = uuid.uuid4().hex[:8]
    every, traffic, justice = f"all-{tag}", f"traffic-{tag}", f"justice-{tag}"
    async with sessions() as session, session.begin():
        session.add(subscription(every, "http://127.0.0.1:9/", [], []))
        session.add(subscription(traffic, "http://127.0.0.1:9/", ["traffic"], []))
        session.add(subscription(justice, "http://127.0.0.1:9/", ["justice"], ["assignment.*"]))
    try:
        # Written again (a re-projection from history): these events were there before the subscriptions.
        await project(created)
        machine.acknowledge(dept("justice"), "justice", now + timedelta(hours=1))
        acknowledged = drain(machine)
        await project(acknowledged)
        await project(acknowledged)  # a retried projection
        async with sessions() as session:
            rows = (
                await session.execute(
                    select(WebhookDelivery.subscription_id, WebhookDelivery.seq, WebhookDelivery.event_type)
                    .where(WebhookDelivery.case_id == machine.state.id)
                    .order_by(WebhookDelivery.id)
                )
            ).all()
    finally:
        await deactivate(sessions, every, traffic, justice)
    seq = acknowledged.events[0].seq
    assert sorted(rows) == sorted([(every, seq, "assignment.acknowledged"), (justice, seq, "assignment.acknowledged")])


async def test_failing_receiver_gets_each_attempt_and_is_disabled_after_a_day(
    time_env: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with Receiver(status=503) as receiver:
        sub_id = f"t{uuid.uuid4().hex[:12]}"
        async with sessions() as session, session.begin():
            session.add(subscription(sub_id, receiver.url, ["hrss"], ["case.created"]))
        try:
            # The outbox is written by the projection itself, with the events (and only what matches).
            now = await time_env.get_current_time()
            machine = CaseMachine.open(courier(new_case_id(), default_policy()), now)
            schedule = Schedule(
                now + timedelta(days=1),
                now + timedelta(days=60),
                now + timedelta(days=8),
                now + timedelta(days=67),
                False,
            )
            for department, role in machine.initial_routes(None):
                machine.issue(department, role, schedule, now, "officer")
            case_id = machine.state.id
            batch = drain(machine)
            assert len(batch.events) == 3  # case.created, two assignment.issued
            project = ProjectionActivities(sessions).project_case
            await project(batch)
            await project(batch)  # a retried projection adds no second delivery
            async with sessions() as session:
                queued = list(
                    await session.scalars(select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub_id))
                )
            assert [(d.case_id, d.seq, d.event_type) for d in queued] == [(case_id, 1, "case.created")]

            task_queue = f"test-webhooks-{uuid.uuid4().hex[:8]}"
            activities = WebhookActivities(sessions, request_timeout=5)
            async with Worker(
                time_env.client,
                task_queue=task_queue,
                workflows=[WebhookDispatcherWorkflow],
                activities=[activities.next_deliveries, activities.deliver, activities.disable_subscription],
            ):
                handle = await time_env.client.start_workflow(
                    WebhookDispatcherWorkflow.run,
                    DispatcherInput(sub_id),
                    id=dispatcher_id(sub_id),
                    task_queue=task_queue,
                )
                try:
                    assert await handle.result() == "disabled"
                finally:
                    with contextlib.suppress(RPCError):
                        if (await handle.describe()).status is WorkflowExecutionStatus.RUNNING:
                            await handle.terminate("test finished")
                    await activities.aclose()
        finally:
            await deactivate(sessions, sub_id)

        async with sessions() as session:
            sub = await session.get(WebhookSubscription, sub_id)
            delivery = await session.get(WebhookDelivery, queued[0].id)
            events = list(await session.scalars(select(WebhookEvent).where(WebhookEvent.subscription_id == sub_id)))
        assert sub is not None and delivery is not None
        assert not sub.active
        assert sub.last_error == "HTTP 503" and sub.failing_since is not None and sub.delivered == 0
        # Every attempt reached the receiver, was the same event, signed, and is counted.
        attempts = receiver.received
        assert len(attempts) == delivery.attempts == sub.failed
        # Backoff: 2 s, 4 s … 10 min, then every 10 minutes: ~130 attempts in a day, not thousands.
        assert 100 <= len(attempts) <= 200
        assert {a.event_id for a in attempts} == {f"{case_id}:1"}
        for attempt in attempts:
            assert_signed(attempt, SECRET)
        assert len({a.body for a in attempts}) == 1  # the same bytes each time
        assert delivery.delivered_at is None and delivery.last_status == 503
        # The record saying so, measured in workflow time: a day after the first failure, not much later.
        assert [e.type for e in events] == ["subscription.disabled"]
        disabled = events[0]
        failing_since = disabled.data["failing_since"]
        assert failing_since is not None and disabled.data["last_error"] == "HTTP 503"
        failed_for = disabled.at - type(disabled.at).fromisoformat(failing_since)
        assert timedelta(days=1) <= failed_for <= timedelta(days=1) + RETRY_WINDOW + timedelta(minutes=11)
