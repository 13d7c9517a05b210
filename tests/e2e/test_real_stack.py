"""End to end on the real stack: the seed's stories over HTTP, and SIGKILL durability."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from casebridge.db.session import make_engine
from casebridge.devstack.processes import run_sync
from tests.e2e.stack import Stack, running_stack

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running


def create(client: httpx.Client, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/cases", json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def act(client: httpx.Client, headers: dict[str, str], path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
    result: dict[str, Any] = response.json()
    return result


def event_types(client: httpx.Client, headers: dict[str, str], case_id: str) -> list[str]:
    events = client.get(f"/api/v1/cases/{case_id}/events", headers=headers).json()
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    return [e["type"] for e in events]


def assignment(case: dict[str, Any], department: str) -> dict[str, Any]:
    found: dict[str, Any] = next(a for a in case["assignments"] if a["department"] == department)
    return found


def test_the_seed_stories_end_to_end(stack: Stack) -> None:
    officer, hrss, justice, traffic = (stack.token(u) for u in ("officer", "hrss", "justice", "traffic"))
    with stack.client() as client:
        # 1. The truck driver: traffic leads the liability finding, HR's clock waits on it.
        truck = create(
            client,
            officer,
            {
                "worker": {"name": "陈力", "phone": "13800138000", "occupation": "卡车司机", "platform": "昆磨高速"},
                "category": "work_injury",
                "title": "卸货时摔伤，事故责任有争议，工伤赔偿无着落",
                "description": "卡车司机陈力在卸货时从车上滑落，腿部骨折。",
                "station": "司机之家",
                "departments": ["traffic", "hrss"],
            },
        )
        base = f"/api/v1/cases/{truck['id']}/assignments"
        act(client, traffic, f"{base}/traffic/acknowledge")
        act(client, hrss, f"{base}/hrss/acknowledge")
        suspended = act(
            client, officer, f"{base}/hrss/suspend", {"reason": "等待责任认定", "until_department": "traffic"}
        )
        assert assignment(suspended, "hrss")["suspended"]
        done = act(client, traffic, f"{base}/traffic/complete", {"outcome": "责任认定书已出具"})
        assert not assignment(done, "hrss")["suspended"]
        act(client, hrss, f"{base}/hrss/complete", {"outcome": "认定为工伤，赔偿已到位"})
        act(client, officer, f"/api/v1/cases/{truck['id']}/resolve", {"summary": "工伤赔偿已到位"})
        closed = act(client, officer, f"/api/v1/cases/{truck['id']}/feedback", {"satisfied": True})
        assert closed["status"] == "closed"

        # 2. The courier: HR leads, legal aid assists; the amounts are recorded.
        courier = create(
            client,
            officer,
            {
                "worker": {"name": "杨书", "phone": "13912345678", "occupation": "快递员"},
                "category": "wage_arrears",
                "title": "快递员一年工资未发",
                "description": "杨书一年没有拿到工资。",
                "amount_claimed": "36000",
            },
        )
        assert {a["department"]: a["role"] for a in courier["assignments"]} == {"hrss": "lead", "justice": "assist"}
        base = f"/api/v1/cases/{courier['id']}/assignments"
        for dept, headers in (("hrss", hrss), ("justice", justice)):
            act(client, headers, f"{base}/{dept}/acknowledge")
            act(client, headers, f"{base}/{dept}/complete", {"outcome": "已办结"})
        resolved = act(
            client,
            officer,
            f"/api/v1/cases/{courier['id']}/resolve",
            {"summary": "追回欠薪", "amount_recovered": "36000"},
        )
        assert (resolved["amount_claimed"], resolved["amount_recovered"]) == ("36000.00", "36000.00")

        # 3. The rider's hazard report: acknowledged within hours by traffic.
        hazard = create(
            client,
            officer,
            {
                "worker": {"name": "李松", "phone": "13711112222", "occupation": "外卖骑手"},
                "category": "safety_hazard",
                "title": "空调外机松动",
                "description": "景亮社区楼道外空调外机悬空松动，随时可能坠落。",
            },
        )
        acked = act(client, traffic, f"/api/v1/cases/{hazard['id']}/assignments/traffic/acknowledge")
        assert assignment(acked, "traffic")["status"] == "acknowledged"

        public = client.get(f"/api/v1/public/cases/{truck['id']}", params={"phone_last4": "8000"})
        assert public.json()["status"] == "closed"


def test_worker_and_api_killed_nothing_lost_and_missed_deadline_fires(stack: Stack) -> None:
    officer = stack.token("officer")
    with stack.client() as client:
        body = {
            "worker": {"name": "王五", "phone": "13600001111"},
            "category": "hotline_urgent",
            "title": "紧急工单",
            "description": "测试：确认时限 8 秒。",
        }
        urgent = create(client, officer, body)
        others = [create(client, officer, {**body, "category": "wage_arrears", "title": f"欠薪 {i}"}) for i in range(3)]
        before = {c["id"]: event_types(client, officer, c["id"]) for c in [urgent, *others]}
        ack_due = assignment(urgent, "traffic")["ack_due_at"]

    stack.kill("worker")
    stack.kill("api")
    time.sleep(10)  # the 8-second acknowledgement deadline passes while nothing runs
    stack.start("worker")
    stack.start("api")
    stack.wait_ready()

    officer = stack.token("officer")
    with stack.client() as client:
        for case_id, types in before.items():
            after = event_types(client, officer, case_id)
            assert after[: len(types)] == types, "no event lost or rewritten"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            case = client.get(f"/api/v1/cases/{urgent['id']}", headers=officer).json()
            if case["status"] == "escalated":
                break
            time.sleep(0.5)
        types = event_types(client, officer, urgent["id"])
        assert "assignment.overdue" in types, types
        assert case["status"] == "escalated", "overdue past escalate_after_overdue escalates"
        assert assignment(case, "traffic")["ack_due_at"] == ack_due, "deadline intact"
        assert assignment(case, "traffic")["overdue"]
        listed = client.get("/api/v1/cases", params={"overdue": "true"}, headers=officer).json()
        assert urgent["id"] in [c["id"] for c in listed["items"]]


def test_health_metrics_and_ui_are_served(stack: Stack) -> None:
    with stack.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz").json()
        assert ready["checks"] == {"database": True, "worker": True, "temporal": True}
        page = client.get("/")
        assert page.status_code == 200 and "Casebridge" in page.text
        assert client.get("/openapi.json").json()["info"]["title"] == "Casebridge"
        metrics = client.get("/metrics").text
        assert 'casebridge_http_requests_total{method="GET",route="/readyz",status="200"}' in metrics
        # Business gauges from the read model (the other tests in this module made cases).
        assert 'casebridge_cases{status="closed"}' in metrics
        assert "casebridge_acknowledgements{" in metrics
        assert "casebridge_assignments_overdue{" in metrics
    # The worker's Temporal SDK metrics, scraped from its own endpoint.
    worker = httpx.get(f"http://{stack.worker_metrics}/metrics", timeout=10).text
    assert "temporal_workflow_task_schedule_to_start_latency" in worker or "temporal_request" in worker, worker[:500]


def test_overdue_escalation_joins_the_agenda_and_the_meeting_survives_a_worker_restart(stack: Stack) -> None:
    officer, leader, traffic = (stack.token(u) for u in ("officer", "leader", "traffic"))
    with stack.client() as client:
        urgent = create(
            client,
            officer,
            {
                "worker": {"name": "赵六", "phone": "13655556666", "occupation": "网约车司机"},
                "category": "hotline_urgent",
                "title": "紧急工单无人签收",
                "description": "测试：确认时限 8 秒，超期 4 秒后提请联席会议。",
            },
        )
        deadline = time.monotonic() + 60
        case = urgent
        while time.monotonic() < deadline and not case["meeting_id"]:
            time.sleep(0.5)
            case = client.get(f"/api/v1/cases/{urgent['id']}", headers=officer).json()
        assert case["status"] == "escalated" and case["meeting_id"], case
        meeting_id = case["meeting_id"]
        base = f"/api/v1/meetings/{meeting_id}"
        act(client, traffic, f"{base}/items/{urgent['id']}/position", {"statement": "人手不足，需协调"})
        agenda_before = client.get(base, headers=leader).json()["agenda"]
        assert [item["case_id"] for item in agenda_before].count(urgent["id"]) == 1

    stack.kill("worker")
    stack.start("worker")
    stack.wait_ready()

    with stack.client() as client:
        meeting = client.get(base, headers=leader).json()
        assert meeting["agenda"] == agenda_before, "the agenda is intact after the restart"
        act(client, leader, f"{base}/approve-agenda")
        decision = {
            "decision": "交警大队即日签收并在一小时内处置",
            "lead_department": "traffic",
            "assist_departments": [],
            "resolve_within": "1 hours",
        }
        act(client, leader, f"{base}/items/{urgent['id']}/decision", decision)
        closed = act(client, leader, f"{base}/close")
        assert closed["status"] == "closed" and decision["decision"] in closed["minutes"]
        case = client.get(f"/api/v1/cases/{urgent['id']}", headers=officer).json()
        assert case["status"] == "in_progress"
        assert assignment(case, "traffic")["supervised"] and assignment(case, "traffic")["status"] == "pending_ack"


def test_the_grafana_dashboard_queries_series_that_exist() -> None:
    """Each panel of the sample dashboard queries a series the API or the worker exports."""
    dashboard = json.loads((Path(__file__).parents[2] / "deploy" / "grafana" / "casebridge-dashboard.json").read_text())
    exported = ("casebridge_cases", "casebridge_assignments_overdue", "casebridge_acknowledgements")
    exported += ("casebridge_http_requests_total", "casebridge_http_request_seconds_bucket", "temporal_")
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            assert any(name in target["expr"] for name in exported), target["expr"]


def _cli(stack: Stack, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**stack.env, **(extra_env or {})}
    return subprocess.run(
        [sys.executable, "-m", "casebridge", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_operator_commands_export_reproject_and_load_calendar(stack: Stack, tmp_path: Path) -> None:
    officer = stack.token("officer")
    with stack.client() as client:
        case = create(
            client,
            officer,
            {
                "worker": {"name": "钱七", "phone": "13577778888", "occupation": "外卖骑手"},
                "category": "wage_arrears",
                "title": "骑手被扣押金",
                "description": "平台无故扣押骑手押金三千元。",
            },
        )
        act(client, stack.token("hrss"), f"/api/v1/cases/{case['id']}/assignments/hrss/acknowledge")
        events_before = client.get(f"/api/v1/cases/{case['id']}/events", headers=officer).json()

    # A worker's data-access request: the whole record, phone included.
    exported = _cli(stack, "export", case["id"])
    assert exported.returncode == 0, exported.stderr
    record = json.loads(exported.stdout)
    assert record["case"]["worker_phone"] == "13577778888"
    assert [e["seq"] for e in record["events"]] == [e["seq"] for e in events_before]

    # Lose the case from the read model; rebuild it from the workflow's history.
    async def lose() -> None:
        engine = make_engine(stack.env["CASEBRIDGE_DATABASE_URL"], pool_size=1)
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM case_events WHERE case_id = :id"), {"id": case["id"]})
            await connection.execute(text("DELETE FROM cases WHERE id = :id"), {"id": case["id"]})
        await engine.dispose()

    run_sync(lose())
    with stack.client() as client:
        assert client.get(f"/api/v1/cases/{case['id']}", headers=officer).status_code == 404
    rebuilt = _cli(stack, "reproject", "--case", case["id"])
    assert rebuilt.returncode == 0, rebuilt.stderr
    with stack.client() as client:
        restored = client.get(f"/api/v1/cases/{case['id']}", headers=officer).json()
        assert restored["status"] == "in_progress"
        assert assignment(restored, "hrss")["status"] == "acknowledged"
        assert client.get(f"/api/v1/cases/{case['id']}/events", headers=officer).json() == events_before

    # A calendar override is validated before it is installed.
    target = tmp_path / "calendar.toml"
    bad = tmp_path / "bad.toml"
    bad.write_text('[years.2027]\nholidays = ["2027-13-01"]\n', encoding="utf-8")
    refused = _cli(stack, "load-calendar", str(bad), extra_env={"CASEBRIDGE_CALENDAR_OVERRIDES": str(target)})
    assert refused.returncode != 0 and "2027" in refused.stderr and not target.exists()
    good = tmp_path / "good.toml"
    good.write_text('[years.2027]\nholidays = ["2027-01-01"]\nworkdays = []\n', encoding="utf-8")
    loaded = _cli(stack, "load-calendar", str(good), extra_env={"CASEBRIDGE_CALENDAR_OVERRIDES": str(target)})
    assert loaded.returncode == 0, loaded.stderr
    assert target.read_text(encoding="utf-8") == good.read_text(encoding="utf-8")


def test_an_open311_client_files_and_follows_a_request(stack: Stack) -> None:
    with httpx.Client(base_url=f"{stack.base_url}/open311/v2", timeout=60) as open311:
        services = open311.get("/services.json").json()
        assert "wage_arrears" in {s["service_code"] for s in services}
        filed = open311.post(
            "/requests.json",
            data={
                "api_key": "e2e-open311-key",
                "service_code": "wage_arrears",
                "description": "快递站拖欠两个月工资，多次催要无果。",
                "first_name": "明",
                "last_name": "周",
                "phone": "13812345678",
                "address_string": "江北街道景亮社区",
            },
        )
        assert filed.status_code == 201, filed.text
        request_id = filed.json()[0]["service_request_id"]
        [status] = open311.get(f"/requests/{request_id}.json").json()
        assert status["service_request_id"] == request_id and status["status"] == "open"
        assert "13812345678" not in json.dumps(status, ensure_ascii=False)
