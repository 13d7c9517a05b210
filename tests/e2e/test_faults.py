"""Faults (issue 6, item 5) on the real stack: the worker SIGKILLed while projections run,
PostgreSQL stopped and started, the Temporal dev server SIGKILLed and started, the API SIGKILLed
mid-request. One stack serves the module; each test breaks one part and leaves the stack whole.

Before the faults the stack holds cases in every state (new, acknowledged with progress, suspended
with an extension asked for, returned, escalated onto a meeting, withdrawn, resolved, closed), each
with the deadlines its state leaves pending. Each fault hits concurrent actions on fresh cases (a
burst, or for the servers' outages a stream that goes on until they are back), and a deadline
falls due while the broken part is down (``fault_urgent``: acknowledge within 3 s, escalate 1 s
after). After each fault:

* every case, event and assignment is intact: a case nothing happened to is exactly as before
  (case, assignments, timeline), every timeline is gapless and the one from before the fault is a
  prefix of the one after, and the read model agrees with each workflow (version, status, every
  assignment's status);
* an action the caller was told succeeded is on the timeline exactly once; one that got an error
  (503, a cut connection) is there at most once; none got a 500;
* the deadline that fell due during the fault fired: ``assignment.overdue``, then the escalation.

Time: the worker's test waits out the projection activity's 10 s start-to-close timeout (that is
how Temporal learns an activity died with its worker); the others take a few seconds each.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from casebridge.api.routes.cases import new_case_id
from casebridge.devstack.processes import run_sync
from casebridge.workflows import CaseWorkflow
from tests.e2e.faults import FaultStack, RowLock, fault_stack, lock_waiters
from tests.e2e.stack import FAST_POLICY, NAMESPACE

pytestmark = pytest.mark.timeout(180)
log = logging.getLogger(__name__)

Json = dict[str, Any]
# A deadline that falls due while the broken part is down: the case is opened right before.
URGENT_ACK = 3.0
POLICY = (
    FAST_POLICY
    + f"""
[categories.fault_urgent]
label = "测试：故障期间到期"
lead = "traffic"
ack_within = "{URGENT_ACK:.0f} seconds"
resolve_within = "1 hours"
escalate_after_overdue = "1 seconds"
"""
)
# A projection lost with a killed worker is retried after its 10 s start-to-close timeout.
CONVERGE = 60.0
# How long the API may take to answer while PostgreSQL is down.
PROMPT = 5.0
# What a client sees when the API process dies under its request.
CUT: set[int | str] = {"RemoteProtocolError", "ReadError", "ConnectError", "WriteError"}


# --- the world the faults hit --------------------------------------------------------------------


def body(category: str = "wage_arrears", **extra: Any) -> Json:
    return {
        "worker": {"name": "杨书", "phone": "13912345678", "occupation": "快递员"},
        "category": category,
        "title": f"故障注入 {category}",
        "description": "测试：进程被杀、数据库与工作流服务重启后，个案不丢不重。",
        **extra,
    }


@dataclass
class World:
    """The stack, the demo users' tokens, and every case opened so far."""

    stack: FaultStack
    headers: dict[str, dict[str, str]]
    # Cases put in a state before the faults and left alone: they must never change.
    quiet: dict[str, str] = field(default_factory=dict)  # case id → its state
    cases: set[str] = field(default_factory=set)

    def auth(self, user: str) -> dict[str, str]:
        return self.headers[user]

    def create(self, client: httpx.Client, payload: Json) -> Json:
        response = client.post("/api/v1/cases", json=payload, headers=self.auth("officer"))
        assert response.status_code == 201, response.text
        created: Json = response.json()
        self.cases.add(created["id"])
        return created

    def act(self, client: httpx.Client, user: str, path: str, payload: Json | None = None) -> Json:
        response = client.post(path, json=payload, headers=self.auth(user))
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
        result: Json = response.json()
        return result


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with fault_stack(tmp_path_factory.mktemp("faults"), POLICY) as stack:
        users = ("officer", "hrss", "justice", "traffic", "leader")
        w = World(stack, {user: stack.token(user) for user in users})
        with stack.client() as c:
            states: dict[str, str] = {}
            escalated = w.create(c, body())
            w.act(c, "officer", f"/api/v1/cases/{escalated['id']}/escalate", {"reason": "欠薪人数多，需联席会议协调"})
            states[escalated["id"]] = "escalated"

            states[w.create(c, body())["id"]] = "new"

            acked = w.create(c, body())
            base = f"/api/v1/cases/{acked['id']}/assignments"
            w.act(c, "hrss", f"{base}/hrss/acknowledge")
            w.act(c, "hrss", f"{base}/hrss/progress", {"note": "已调取考勤记录"})
            states[acked["id"]] = "acknowledged"

            suspended = w.create(c, body("work_injury"))
            base = f"/api/v1/cases/{suspended['id']}/assignments"
            w.act(c, "hrss", f"{base}/hrss/acknowledge")
            w.act(c, "officer", f"{base}/hrss/suspend", {"reason": "等待伤情鉴定"})
            w.act(c, "justice", f"{base}/justice/extension", {"duration": "5 working days", "reason": "等待材料"})
            states[suspended["id"]] = "suspended"

            returned = w.create(c, body())
            w.act(c, "justice", f"/api/v1/cases/{returned['id']}/assignments/justice/return", {"reason": "不属于法援"})
            states[returned["id"]] = "returned"

            withdrawn = w.create(c, body())
            w.act(c, "officer", f"/api/v1/cases/{withdrawn['id']}/withdraw", {"reason": "工人撤回诉求"})
            states[withdrawn["id"]] = "withdrawn"

            for final in ("resolved", "closed"):
                hazard = w.create(c, body("safety_hazard"))
                base = f"/api/v1/cases/{hazard['id']}"
                w.act(c, "traffic", f"{base}/assignments/traffic/acknowledge")
                w.act(c, "traffic", f"{base}/assignments/traffic/complete", {"outcome": "已处置"})
                w.act(c, "officer", f"{base}/resolve", {"summary": "隐患已排除"})
                if final == "closed":
                    w.act(c, "officer", f"{base}/feedback", {"satisfied": True})
                states[hazard["id"]] = final
            # Joining the meeting's agenda happens in the background of the escalation.
            wait_for(lambda: case_of(c, w, escalated["id"])["meeting_id"], "the escalated case joins an agenda", 30)
        w.quiet = states
        yield w


# --- looking at the system -----------------------------------------------------------------------


def wait_for(condition: Callable[[], Any], what: str, timeout: float = CONVERGE) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting until {what}")
        time.sleep(0.2)


def case_of(client: httpx.Client, w: World, case_id: str) -> Json:
    response = client.get(f"/api/v1/cases/{case_id}", headers=w.auth("officer"))
    assert response.status_code == 200, response.text
    result: Json = response.json()
    return result


def events_of(client: httpx.Client, w: World, case_id: str) -> list[Json]:
    response = client.get(f"/api/v1/cases/{case_id}/events", headers=w.auth("officer"))
    assert response.status_code == 200, response.text
    events: list[Json] = response.json()
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), f"{case_id}: seq has gaps or repeats"
    return events


Snapshot = dict[str, tuple[Json, list[Json]]]


def snapshot(w: World) -> Snapshot:
    with w.stack.client() as c:
        return {cid: (case_of(c, w, cid), events_of(c, w, cid)) for cid in sorted(w.cases)}


def workflow_views(stack: FaultStack, case_ids: set[str]) -> dict[str, tuple[int, str, dict[str, str]]]:
    """What each case's workflow holds: its last seq, its status, each assignment's status."""

    async def query() -> dict[str, tuple[int, str, dict[str, str]]]:
        assert stack.temporal is not None
        client = await Client.connect(stack.temporal.address, namespace=NAMESPACE)
        views = {}
        for cid in case_ids:
            snap = await client.get_workflow_handle(cid).query(CaseWorkflow.snapshot)
            views[cid] = snap.version, snap.status, {a.department: a.status for a in snap.assignments}
        return views

    return run_sync(query())


def converged(w: World) -> Snapshot:
    """Wait until the read model holds exactly what every workflow holds, and return it."""
    seen: dict[str, Any] = {}

    def caught_up() -> Snapshot | None:
        views = workflow_views(w.stack, w.cases)
        now = snapshot(w)
        shown = {
            cid: (len(events), case["status"], {a["department"]: a["status"] for a in case["assignments"]})
            for cid, (case, events) in now.items()
        }
        seen["behind"] = {cid: (shown[cid], views[cid]) for cid in w.cases if shown[cid] != views[cid]}
        return None if seen["behind"] else now

    try:
        result: Snapshot = wait_for(caught_up, "the read model agrees with every workflow")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; read model vs workflow: {seen['behind']}") from None
    return result


def assert_intact(w: World, before: Snapshot, after: Snapshot) -> None:
    for cid, (case_before, events_before) in before.items():
        case_after, events_after = after[cid]
        assert events_after[: len(events_before)] == events_before, f"{cid}: the timeline was rewritten"
        assert case_after["created_at"] == case_before["created_at"]
        assert case_after["worker"] == case_before["worker"] and case_after["title"] == case_before["title"]
        if cid in w.quiet:
            assert events_after == events_before, f"{cid} ({w.quiet[cid]}): events appeared from nowhere"
            assert case_after == case_before, f"{cid} ({w.quiet[cid]}) changed"
    for cid, (_, events) in after.items():
        notes = [e["data"]["note"] for e in events if e["type"] == "assignment.progress_reported"]
        assert len(notes) == len(set(notes)), f"{cid}: an event recorded twice: {notes}"


# --- bursts of actions ---------------------------------------------------------------------------


@dataclass
class Action:
    case_id: str
    user: str
    path: str
    payload: Json | None
    note: str | None = None  # a progress note's text: unique, so it can be counted on the timeline
    key: str | None = None  # a case creation's Idempotency-Key
    outcome: int | str | None = None  # the HTTP status, or the name of the transport error
    sent: float = 0.0  # time.monotonic() when it went out, and when it was answered
    answered: float = 0.0


class Burst:
    """Actions sent by ``threads`` clients, each taking the next one as soon as its last is
    answered, until the source runs out or ``stop()`` is called."""

    def __init__(self, w: World, source: Iterator[Action], threads: int, pause: float) -> None:
        self.actions: list[Action] = []
        self._source = source
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._answered = 0
        self._threads = [threading.Thread(target=self._send_all, args=(w, pause), daemon=True) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def _next(self) -> Action | None:
        with self._lock:
            action = None if self._stopped.is_set() else next(self._source, None)
            if action is not None:
                self.actions.append(action)
            return action

    def _send_all(self, w: World, pause: float) -> None:
        with httpx.Client(base_url=w.stack.base_url, timeout=90) as client:
            while (action := self._next()) is not None:
                headers = w.auth(action.user)
                if action.key is not None:
                    headers = {**headers, "Idempotency-Key": action.key}
                action.sent = time.monotonic()
                try:
                    action.outcome = client.post(action.path, json=action.payload, headers=headers).status_code
                except httpx.HTTPError as exc:
                    action.outcome = type(exc).__name__
                action.answered = time.monotonic()
                with self._lock:
                    self._answered += 1
                time.sleep(pause)

    def done(self) -> int:
        return self._answered

    def stop(self) -> None:
        self._stopped.set()

    def finish(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in self._threads), f"requests still unanswered after {timeout:.0f}s"

    def across(self, began: float, ended: float) -> list[Action]:
        """The actions that were waiting for an answer at some moment between the two instants."""
        return [a for a in self.actions if a.sent < ended and a.answered > began]

    def outcomes(self) -> dict[int | str | None, int]:
        counts: dict[int | str | None, int] = {}
        for action in self.actions:
            counts[action.outcome] = counts.get(action.outcome, 0) + 1
        return counts


def fire(w: World, actions: list[Action], threads: int = 6) -> Burst:
    """These actions, as fast as ``threads`` clients send them."""
    return Burst(w, iter(actions), threads, pause=0.0)


def stream(w: World, targets: list[str], threads: int = 6) -> Burst:
    """Actions on the targets, without end until stopped, so they go on across a whole fault:
    justice acknowledges each case, then hrss reports progress on each in turn."""
    return Burst(w, iter(progress_and_acks(targets)), threads, pause=0.05)


def burst_targets(w: World, count: int) -> list[str]:
    """Fresh cases with hrss acknowledged (progress can be reported) and justice still to acknowledge."""
    ids = []
    with w.stack.client() as c:
        for _ in range(count):
            case = w.create(c, body())
            w.act(c, "hrss", f"/api/v1/cases/{case['id']}/assignments/hrss/acknowledge")
            ids.append(case["id"])
    return ids


def progress_and_acks(targets: list[str], notes_per_case: int | None = None) -> Iterator[Action]:
    """Justice acknowledges each case, then hrss reports progress on each in turn (so every case
    has actions in flight at any moment): ``notes_per_case`` rounds, or without end."""
    tag = uuid.uuid4().hex[:6]
    for cid in targets:
        yield Action(cid, "justice", f"/api/v1/cases/{cid}/assignments/justice/acknowledge", None)
    rounds = itertools.count() if notes_per_case is None else range(notes_per_case)
    for i in rounds:
        for cid in targets:
            note = f"进展 {tag}-{cid}-{i}"
            yield Action(cid, "hrss", f"/api/v1/cases/{cid}/assignments/hrss/progress", {"note": note}, note=note)


def assert_each_applied_once_at_most(w: World, burst: Burst, after: Snapshot, allowed_errors: set[int | str]) -> None:
    """Told 200: on the timeline exactly once. Any error: at most once. Never a 500."""
    for action in burst.actions:
        if action.key is not None:
            continue  # creations: checked by the API's test with their keys
        events = after[action.case_id][1]
        if action.note is not None:
            notes = [e for e in events if e["type"] == "assignment.progress_reported"]
            hits = [e for e in notes if e["data"]["note"] == action.note]
        else:
            acks = [e for e in events if e["type"] == "assignment.acknowledged"]
            hits = [e for e in acks if e["data"]["department"] == "justice"]
        assert len(hits) <= 1, f"{action.path} ({action.outcome}) applied {len(hits)} times"
        if action.outcome == 200:
            assert len(hits) == 1, f"{action.path} answered 200 but is not on the timeline"
    unexpected = [(a.path, a.outcome) for a in burst.actions if a.outcome not in (200, 201, *allowed_errors)]
    assert not unexpected, f"unexpected answers during the fault: {unexpected}"


# --- deadlines -----------------------------------------------------------------------------------


def urgent_case(w: World) -> tuple[str, float]:
    """Acknowledge within URGENT_ACK s, escalate 1 s after: due while the fault is on."""
    with w.stack.client() as c:
        case = w.create(c, body("fault_urgent"))
    return str(case["id"]), time.monotonic() + URGENT_ACK


def until(instant: float) -> None:
    time.sleep(max(0.0, instant - time.monotonic()))


def assert_deadline_fired(w: World, case_id: str) -> None:
    with w.stack.client() as c:
        wait_for(lambda: case_of(c, w, case_id)["status"] == "escalated", f"{case_id}'s missed deadline escalates")
        events = events_of(c, w, case_id)
    types = [e["type"] for e in events]
    overdue = [(e["data"]["department"], e["data"]["deadline"]) for e in events if e["type"] == "assignment.overdue"]
    assert overdue == [("traffic", "ack")], types
    assert types.index("assignment.overdue") < types.index("case.escalated")


def recovered(w: World, before: Snapshot, burst: Burst, urgent: str, allowed_errors: set[int | str]) -> Snapshot:
    """The checks every fault ends with."""
    started = time.monotonic()
    after = converged(w)
    log.info("converged in %.1fs; burst outcomes %s", time.monotonic() - started, burst.outcomes())
    assert_intact(w, before, after)
    assert_each_applied_once_at_most(w, burst, after, allowed_errors)
    assert_deadline_fired(w, urgent)
    return after


# --- the faults ----------------------------------------------------------------------------------


def test_worker_sigkilled_while_projections_run(world: World) -> None:
    w = world
    before = snapshot(w)
    targets = burst_targets(w, 4)
    assert w.stack.pg is not None
    # Two cases' read-model rows are locked from outside, so their projection activities block:
    # they are certainly running when the worker dies. The other two cases' actions flow meanwhile.
    with RowLock(w.stack.pg.dsn(), targets[:2]) as lock:
        urgent, due = urgent_case(w)
        burst = fire(w, list(progress_and_acks(targets, notes_per_case=4)))
        wait_for(lambda: lock_waiters(w.stack.pg) >= 2 and burst.done() >= 4, "projections wait on the lock", 20)
        w.stack.kill("worker")
        lock.release()
    until(due + 0.5)  # the deadline falls due with no worker running
    w.stack.start("worker")
    burst.finish()
    w.stack.wait_ready()
    recovered(w, before, burst, urgent, allowed_errors={503})


def test_postgres_stopped_and_started_while_in_use(world: World) -> None:
    w = world
    before = snapshot(w)
    targets = burst_targets(w, 3)
    urgent, due = urgent_case(w)
    with EventStream(w) as subscriber:
        actions = stream(w, targets)  # before, during and after the outage
        wait_for(lambda: actions.done() >= 3, "the actions are under way", 20)
        down = time.monotonic()
        w.stack.stop_postgres()
        try:
            with w.stack.client() as c:
                read = timed(lambda: c.get(f"/api/v1/cases/{targets[0]}", headers=w.auth("officer")))
                note = {"note": "数据库停机时的进展"}
                path = f"/api/v1/cases/{targets[0]}/assignments/hrss/progress"
                write = timed(lambda: c.post(path, json=note, headers=w.auth("hrss")))
                ready = c.get("/readyz")
            until(due + 0.5)  # the deadline falls due while the database is down
        finally:
            w.stack.start_postgres()
        up = time.monotonic()
        w.stack.wait_ready()
        actions.stop()
        actions.finish()
        assert read[0] == 503 and read[1] < PROMPT, f"a read while PostgreSQL is down: {read}"
        assert write[0] == 503 and write[1] < PROMPT, f"an action while PostgreSQL is down: {write}"
        assert ready.status_code == 503 and ready.json()["checks"]["database"] is False
        # Whether they waited it out (200) or were refused (503) depends on where the outage found them.
        assert actions.across(down, up), "no action met the outage"
        after = recovered(w, before, actions, urgent, allowed_errors={503})
        notes = [e["data"].get("note") for e in after[targets[0]][1]]
        assert "数据库停机时的进展" not in notes, "an action refused with 503 must not happen"
        # A subscriber connected before the outage gets the events recorded after it.
        with w.stack.client() as c:
            w.act(c, "hrss", f"/api/v1/cases/{targets[1]}/assignments/hrss/progress", {"note": "恢复后的进展"})
        wait_for(lambda: subscriber.saw(targets[1], "恢复后的进展"), "the event stream delivers after the outage", 20)


def test_temporal_sigkilled_and_restarted_while_in_use(world: World) -> None:
    w = world
    before = snapshot(w)
    targets = burst_targets(w, 3)
    urgent, due = urgent_case(w)
    actions = stream(w, targets)  # before, during and after the outage
    wait_for(lambda: actions.done() >= 3, "the actions are under way", 20)
    down = time.monotonic()
    w.stack.kill_temporal()
    try:
        with w.stack.client() as c:
            read = timed(lambda: c.get(f"/api/v1/cases/{targets[0]}", headers=w.auth("officer")))
        until(due + 0.5)  # the deadline falls due while the server is down
    finally:
        w.stack.start_temporal()
    up = time.monotonic()
    w.stack.wait_ready()  # the worker and the API found the server again by themselves
    actions.stop()
    actions.finish()
    assert read[0] == 200, f"reads come from PostgreSQL and keep working: {read}"
    assert actions.across(down, up), "no action met the outage"
    recovered(w, before, actions, urgent, allowed_errors={503})
    with w.stack.client() as c:  # and the cases work as before
        w.act(c, "hrss", f"/api/v1/cases/{targets[0]}/assignments/hrss/complete", {"outcome": "已办结"})


def test_api_sigkilled_mid_request(world: World) -> None:
    w = world
    before = snapshot(w)
    targets = burst_targets(w, 3)
    urgent, _ = urgent_case(w)
    actions = list(progress_and_acks(targets, notes_per_case=6))
    # New cases with an Idempotency-Key among the rest: a client cut off retries with its key.
    keys = [f"fault-{uuid.uuid4().hex}" for _ in range(4)]
    creations = [Action(new_case_id("officer", k), "officer", "/api/v1/cases", body(title=k), key=k) for k in keys]
    for i, creation in enumerate(creations):
        actions.insert(2 + 5 * i, creation)
    burst = fire(w, actions)
    wait_for(lambda: burst.done() >= 5, "the burst is under way", 20)
    w.stack.kill("api")
    burst.finish()
    w.stack.start("api")
    w.stack.wait_ready()
    cut_off = [a for a in burst.actions if a.outcome in CUT]
    assert cut_off, f"the kill caught no request in flight: {burst.outcomes()}"

    # A creation cut off may or may not have happened; retried with its key, it exists once.
    with w.stack.client() as c:
        for creation in creations:
            assert creation.key is not None
            headers = {**w.auth("officer"), "Idempotency-Key": creation.key}
            first = c.post("/api/v1/cases", json=creation.payload, headers=headers)
            again = c.post("/api/v1/cases", json=creation.payload, headers=headers)
            assert first.status_code in (200, 201) and again.status_code in (200, 201), (first.text, again.text)
            assert first.json()["id"] == again.json()["id"] == creation.case_id, "one case per key"
            w.cases.add(creation.case_id)
    after = recovered(w, before, burst, urgent, allowed_errors=CUT)
    for creation in creations:
        assert [e["type"] for e in after[creation.case_id][1]].count("case.created") == 1


# --- small helpers -------------------------------------------------------------------------------


def timed(call: Callable[[], httpx.Response]) -> tuple[int | str, float]:
    started = time.monotonic()
    try:
        status: int | str = call().status_code
    except httpx.HTTPError as exc:
        status = type(exc).__name__
    return status, time.monotonic() - started


class EventStream:
    """An officer subscribed to the event stream in a background thread, reconnecting as a
    browser's EventSource does."""

    def __init__(self, w: World) -> None:
        self.w = w
        self.lines: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)

    def _read(self) -> None:
        while not self.stop.is_set():
            try:
                with (
                    httpx.Client(base_url=self.w.stack.base_url, timeout=httpx.Timeout(5, read=30)) as c,
                    c.stream("GET", "/api/v1/events/stream", headers=self.w.auth("officer")) as response,
                ):
                    for line in response.iter_lines():
                        self.lines.append(line)
                        if self.stop.is_set():
                            return
            except httpx.HTTPError:
                time.sleep(0.5)

    def saw(self, case_id: str, text: str) -> bool:
        return any(case_id in line and text in line for line in list(self.lines))

    def __enter__(self) -> EventStream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
