"""Scaling out: two workers and two API processes against one Temporal and one PostgreSQL, started
the way tests/e2e/stack.py starts the real stack. Cases are driven through both APIs alternately
and in concurrent bursts; every case must read the same through either API, with a gapless event
log and no action applied twice; both workers must poll and get work; and after one worker is
SIGKILLed mid-run the other finishes everything."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from casebridge.db.migrate import upgrade
from casebridge.db.seed import seed_demo_users
from casebridge.devstack import ManagedProcess, free_port, start_postgres, start_temporal
from casebridge.devstack.processes import run_sync, spawn

pytestmark = pytest.mark.timeout(180)

NAMESPACE = "casebridge"
TASK_QUEUE = "casebridge"
HEALTHCHECK = Path(__file__).resolve().parents[2] / "deploy" / "healthcheck.py"
HOST = socket.gethostname()
# social_insurance: one lead department (hrss), no assist -- a short lifecycle per case.
CATEGORY = "social_insurance"


@dataclass
class Cluster:
    data_dir: Path
    env: dict[str, str]
    temporal_address: str
    api_ports: dict[str, int]
    workers: dict[str, ManagedProcess] = field(default_factory=dict)
    apis: dict[str, ManagedProcess] = field(default_factory=dict)

    def url(self, api: str) -> str:
        return f"http://127.0.0.1:{self.api_ports[api]}"

    def identity(self, worker: str) -> str:
        """The Temporal SDK's default worker identity: ``<pid>@<hostname>``."""
        return f"{self.workers[worker].pid}@{HOST}"

    def check_alive(self) -> None:
        for name, process in {**self.workers, **self.apis}.items():
            if not process.alive():
                log = process.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{log}")


def describe_pollers(address: str, queue_type: TaskQueueType.ValueType) -> set[str]:
    async def describe() -> set[str]:
        client = await Client.connect(address, namespace=NAMESPACE)
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=NAMESPACE, task_queue=TaskQueue(name=TASK_QUEUE), task_queue_type=queue_type
            )
        )
        return {poller.identity for poller in response.pollers}

    return run_sync(describe())


def wait_for_pollers(cluster: Cluster, queue_type: TaskQueueType.ValueType, expected: set[str]) -> None:
    """A task queue's pollers as Temporal reports them (its root partition: a poller shows up once
    one of its long polls has reached it, which can take a while on a busy machine)."""
    wait_until(
        lambda: describe_pollers(cluster.temporal_address, queue_type) == expected,
        60,
        f"pollers of the {TaskQueueType.Name(queue_type)} queue to be {expected}",
        cluster,
    )


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, cluster: Cluster | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cluster is not None:
            cluster.check_alive()
        if predicate():
            return
        time.sleep(0.2)
    raise TimeoutError(f"not within {timeout}s: {what}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    data_dir = tmp_path_factory.mktemp("scale-out")
    with (
        start_postgres(data_dir, free_port()) as pg,
        start_temporal(data_dir, free_port(), None, NAMESPACE) as temporal,
    ):
        upgrade(pg.url)
        run_sync(seed_demo_users(pg.url))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CASEBRIDGE_")},
            "CASEBRIDGE_ENV": "test",
            "CASEBRIDGE_DATA_DIR": str(data_dir),
            "CASEBRIDGE_DATABASE_URL": pg.url,
            "CASEBRIDGE_TEMPORAL_ADDRESS": temporal.address,
            "CASEBRIDGE_TEMPORAL_NAMESPACE": NAMESPACE,
            "CASEBRIDGE_TASK_QUEUE": TASK_QUEUE,
            "CASEBRIDGE_SECRET_KEY": "one secret shared by every API replica",
            "CASEBRIDGE_LOG_JSON": "true",
        }
        cluster = Cluster(data_dir, env, temporal.address, {"a": free_port(), "b": free_port()})
        try:
            for name in ("a", "b"):
                worker = [sys.executable, "-m", "casebridge.worker"]
                cluster.workers[name] = spawn(f"worker-{name}", worker, data_dir, env=env)
            for name, port in cluster.api_ports.items():
                api_env = {**env, "CASEBRIDGE_HTTP_PORT": str(port)}
                api = [sys.executable, "-m", "casebridge.api"]
                cluster.apis[name] = spawn(f"api-{name}", api, data_dir, env=api_env)

            def ready(api: str) -> bool:
                try:
                    return httpx.get(f"{cluster.url(api)}/readyz", timeout=3).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_until(lambda: ready("a") and ready("b"), 60, "both APIs ready", cluster)
            yield cluster
        finally:
            for process in [*cluster.apis.values(), *cluster.workers.values()]:
                process.stop(timeout=10)


# --- driving cases through both APIs --------------------------------------------------------


class Api:
    """One API process, logged in as each demo user it is asked for."""

    def __init__(self, cluster: Cluster, name: str) -> None:
        self.name = name
        self.client = httpx.Client(base_url=cluster.url(name), timeout=60)
        self._tokens: dict[str, dict[str, str]] = {}

    def headers(self, user: str) -> dict[str, str]:
        if user not in self._tokens:
            response = self.client.post("/api/v1/auth/token", data={"username": user, "password": "demo"})
            response.raise_for_status()
            self._tokens[user] = {"Authorization": f"Bearer {response.json()['access_token']}"}
        return self._tokens[user]

    def post(
        self, user: str, path: str, body: dict[str, Any] | None = None, timeout: float = 60, **headers: str
    ) -> httpx.Response:
        return self.client.post(path, json=body, headers={**self.headers(user), **headers}, timeout=timeout)

    def act(self, user: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.post(user, path, body)
        assert response.status_code == 200, f"{self.name} {path}: {response.status_code} {response.text}"
        result: dict[str, Any] = response.json()
        return result

    def create(self, title: str, idempotency_key: str | None = None) -> dict[str, Any]:
        body = {
            "worker": {"name": "赵六", "phone": "13700001111", "occupation": "外卖骑手"},
            "category": CATEGORY,
            "title": title,
            "description": "测试：多个 API 与多个 worker。",
        }
        extra = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        response = self.post("officer", "/api/v1/cases", body, **extra)
        assert response.status_code == 201, f"{self.name} create: {response.status_code} {response.text}"
        result: dict[str, Any] = response.json()
        return result

    def read(self, case_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        case = self.client.get(f"/api/v1/cases/{case_id}", headers=self.headers("officer"))
        events = self.client.get(f"/api/v1/cases/{case_id}/events", headers=self.headers("officer"))
        assert case.status_code == events.status_code == 200, f"{self.name} read {case_id}: {case.text}"
        return case.json(), events.json()


def hrss_status(case: dict[str, Any]) -> str:
    status: str = next(a for a in case["assignments"] if a["department"] == "hrss")["status"]
    return status


def assert_consistent(api_a: Api, api_b: Api, case_id: str) -> list[str]:
    """The case reads the same through both APIs; its events are numbered 1..n without a gap and
    no action was applied twice. Returns the event types."""
    case_a, events_a = api_a.read(case_id)
    case_b, events_b = api_b.read(case_id)
    assert case_a == case_b, f"{case_id} differs between the two APIs"
    assert events_a == events_b, f"{case_id}'s events differ between the two APIs"
    assert [e["seq"] for e in events_a] == list(range(1, len(events_a) + 1)), f"{case_id}: a gap in the events"
    types = [e["type"] for e in events_a]
    once = ("case.created", "assignment.acknowledged", "assignment.completed", "case.resolved", "case.closed")
    doubled = {t: n for t, n in Counter(types).items() if t in once and n > 1}
    assert not doubled, f"{case_id}: applied more than once: {doubled}"
    return types


def finish(api_for: Callable[[int], Api], case_ids: list[str]) -> None:
    """complete → resolve → satisfied feedback, each step through the API ``api_for(step + i)``."""
    steps: list[tuple[str, str, dict[str, Any] | None]] = [
        ("hrss", "assignments/hrss/complete", {"outcome": "已办结"}),
        ("officer", "resolve", {"summary": "已解决"}),
        ("officer", "feedback", {"satisfied": True}),
    ]
    for step, (user, action, body) in enumerate(steps):
        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = [
                pool.submit(api_for(step + i).act, user, f"/api/v1/cases/{case_id}/{action}", body)
                for i, case_id in enumerate(case_ids)
            ]
            results = [future.result() for future in futures]
        assert all(result["id"] in case_ids for result in results)


def histories_identities(address: str, case_ids: list[str]) -> tuple[set[str], set[str]]:
    """Who ran the cases' workflow tasks and activities, from their Temporal histories."""

    async def collect() -> tuple[set[str], set[str]]:
        client = await Client.connect(address, namespace=NAMESPACE)
        workflow_tasks: set[str] = set()
        activities: set[str] = set()
        for case_id in case_ids:
            history = await client.get_workflow_handle(case_id).fetch_history()
            for event in history.events:
                if event.HasField("workflow_task_started_event_attributes"):
                    workflow_tasks.add(event.workflow_task_started_event_attributes.identity)
                if event.HasField("activity_task_started_event_attributes"):
                    activities.add(event.activity_task_started_event_attributes.identity)
        # Some started events carry no identity (e.g. a speculative task for an update): not a worker.
        return workflow_tasks - {""}, activities - {""}

    return run_sync(collect())


# --- the tests ------------------------------------------------------------------------------


def test_both_workers_poll_the_one_task_queue(cluster: Cluster) -> None:
    both = {cluster.identity("a"), cluster.identity("b")}
    wait_for_pollers(cluster, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, both)
    wait_for_pollers(cluster, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, both)


def test_the_container_health_checks_pass_and_fail(cluster: Cluster) -> None:
    """deploy/healthcheck.py, as docker-compose.yml runs it in the containers."""

    def check(mode: str, **env: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, str(HEALTHCHECK), mode]
        full_env = {**cluster.env, **env}
        return subprocess.run(argv, env=full_env, capture_output=True, text=True, timeout=60, check=False)

    assert check("api", CASEBRIDGE_HTTP_PORT=str(cluster.api_ports["a"])).returncode == 0
    assert check("worker").returncode == 0
    idle = check("worker", CASEBRIDGE_TASK_QUEUE=f"nobody-polls-{uuid.uuid4().hex[:8]}")
    assert idle.returncode == 1 and "no workflow poller" in idle.stderr
    assert check("api", CASEBRIDGE_HTTP_PORT=str(free_port())).returncode == 1


def test_cases_driven_alternately_through_both_apis(cluster: Cluster) -> None:
    api_a, api_b = Api(cluster, "a"), Api(cluster, "b")
    # A token from one replica works on the other: they share the secret, not a session.
    assert api_b.client.get("/api/v1/me", headers=api_a.headers("officer")).json()["username"] == "officer"
    for n in range(2):
        case = api_a.create(f"交替办理 {n}")
        base = f"/api/v1/cases/{case['id']}"
        acked = api_b.act("hrss", f"{base}/assignments/hrss/acknowledge")
        assert hrss_status(acked) == "acknowledged"
        assert hrss_status(api_a.read(case["id"])[0]) == "acknowledged", "A reads what B wrote"
        api_a.act("hrss", f"{base}/assignments/hrss/complete", {"outcome": "已办结"})
        resolved = api_b.act("officer", f"{base}/resolve", {"summary": "已解决"})
        assert resolved["status"] == "resolved"
        closed = api_a.act("officer", f"{base}/feedback", {"satisfied": True})
        assert closed["status"] == "closed"
        types = assert_consistent(api_a, api_b, case["id"])
        assert types[-1] == "case.closed"
        # An action already done is refused, whichever replica is asked.
        assert api_b.post("hrss", f"{base}/assignments/hrss/acknowledge").status_code == 409


def test_concurrent_bursts_across_both_apis_and_both_workers_get_work(cluster: Cluster) -> None:
    apis = [Api(cluster, "a"), Api(cluster, "b")]
    with ThreadPoolExecutor(max_workers=10) as pool:
        created = list(pool.map(lambda i: apis[i % 2].create(f"并发 {i}"), range(10)))
        case_ids = [case["id"] for case in created]
        assert len(set(case_ids)) == 10
        acks = pool.map(
            lambda i: apis[(i + 1) % 2].act("hrss", f"/api/v1/cases/{case_ids[i]}/assignments/hrss/acknowledge"),
            range(10),
        )
        assert all(hrss_status(case) == "acknowledged" for case in acks)

        # The same Idempotency-Key sent to both replicas at once makes one case, not two.
        key = f"dup-{uuid.uuid4()}"
        twins = list(pool.map(lambda api: api.create("重复提交", idempotency_key=key), apis))
    assert twins[0]["id"] == twins[1]["id"]
    listed = apis[0].client.get("/api/v1/cases", params={"q": "重复提交"}, headers=apis[0].headers("officer"))
    assert listed.json()["total"] == 1

    finish(lambda i: apis[i % 2], case_ids)
    for case_id in [*case_ids, twins[0]["id"]]:
        types = assert_consistent(apis[0], apis[1], case_id)
        assert types.count("case.created") == 1
    assert all(apis[1].read(case_id)[0]["status"] == "closed" for case_id in case_ids)

    workflow_tasks, activities = histories_identities(cluster.temporal_address, case_ids)
    both = {cluster.identity("a"), cluster.identity("b")}
    assert workflow_tasks == both, f"workflow tasks ran on {workflow_tasks}, expected both of {both}"
    assert activities == both, f"activities ran on {activities}, expected both of {both}"


def test_one_worker_killed_mid_run_the_other_finishes_everything(cluster: Cluster) -> None:
    apis = [Api(cluster, "a"), Api(cluster, "b")]
    with ThreadPoolExecutor(max_workers=10) as pool:
        case_ids = [case["id"] for case in pool.map(lambda i: apis[i % 2].create(f"宕机 {i}"), range(10))]

        # Acknowledge them all at once and SIGKILL worker A while that work is in flight. Like a
        # user, give up on an answer after a while: the action is then in flight, not lost.
        def acknowledge(i: int, api: Api, timeout: float = 20) -> int | str:
            path = f"/api/v1/cases/{case_ids[i]}/assignments/hrss/acknowledge"
            try:
                return api.post("hrss", path, timeout=timeout).status_code
            except httpx.TimeoutException:
                return "no answer yet"

        in_flight = [pool.submit(acknowledge, i, apis[i % 2]) for i in range(len(case_ids))]
        next(iter(in_flight)).result()
        identity_a = cluster.identity("a")
        killed = cluster.workers.pop("a")
        os.kill(killed.pid, signal.SIGKILL)
        killed.popen.wait(10)
        killed.pidfile.unlink(missing_ok=True)
        assert {future.result() for future in in_flight} <= {200, 503, "no answer yet"}

        # What did not get through is asked again (a 409 means it did after all) until the read
        # model shows every case acknowledged -- by worker B, the only one left.
        deadline = time.monotonic() + 90
        while pending := [c for c in case_ids if hrss_status(apis[1].read(c)[0]) != "acknowledged"]:
            cluster.check_alive()
            assert time.monotonic() < deadline, f"not acknowledged after worker A died: {pending}"
            again = pool.map(lambda c: acknowledge(case_ids.index(c), apis[0], timeout=10), pending)
            assert set(again) <= {200, 409, 503, "no answer yet"}
            time.sleep(2)

    finish(lambda i: apis[i % 2], case_ids)
    # And a case begun after the crash goes all the way through on worker B alone.
    late = apis[1].create("宕机之后")
    apis[0].act("hrss", f"/api/v1/cases/{late['id']}/assignments/hrss/acknowledge")
    finish(lambda i: apis[i % 2], [late["id"]])

    for case_id in [*case_ids, late["id"]]:
        types = assert_consistent(apis[0], apis[1], case_id)
        assert types.count("assignment.acknowledged") == 1
        assert apis[0].read(case_id)[0]["status"] == "closed"
    # Cases worker A had been running were finished by worker B (every step after the crash is B's).
    workflow_tasks, _ = histories_identities(cluster.temporal_address, case_ids)
    assert workflow_tasks == {identity_a, cluster.identity("b")}
    workflow_tasks, _ = histories_identities(cluster.temporal_address, [late["id"]])
    assert workflow_tasks == {cluster.identity("b")}, "only the surviving worker ran the late case"
