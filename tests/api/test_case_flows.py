"""The seed's stories through the API: intake, routing, acknowledgement, suspension, resolution."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, courier_body, hazard_body, truck_driver_body

pytestmark = pytest.mark.timeout(120)


def by_department(case: dict[str, object]) -> dict[str, dict[str, object]]:
    return {a["department"]: a for a in case["assignments"]}  # type: ignore[index,union-attr]


async def events(api: Api, case_id: str, user: str = "officer") -> list[dict[str, object]]:
    response = await api.client.get(f"/api/v1/cases/{case_id}/events", headers=api.auth(user))
    assert response.status_code == 200, response.text
    body: list[dict[str, object]] = response.json()
    assert [e["seq"] for e in body] == list(range(1, len(body) + 1))
    return body


async def test_courier_wages_recovered_and_closed(api: Api) -> None:
    case = await api.create_case(courier_body())
    cid = case["id"]
    assert case["status"] == "in_progress"
    roles = {d: a["role"] for d, a in by_department(case).items()}
    assert roles == {"hrss": "lead", "justice": "assist"}
    assert case["worker"]["phone"] == "13912345678"  # type: ignore[index]

    base = f"/api/v1/cases/{cid}/assignments"
    for dept in ("hrss", "justice"):
        r = await api.post(f"{base}/{dept}/acknowledge", dept)
        assert r.status_code == 200, r.text
    r = await api.post(f"{base}/justice/progress", "justice", {"note": "志愿律师已接案，正在整理证据"})
    assert r.status_code == 200
    r = await api.post(f"/api/v1/cases/{cid}/resolve", "officer", {"summary": "欠薪已追回"})
    assert r.status_code == 409 and "hrss" in r.json()["detail"]
    for dept, outcome in (("justice", "法律援助完成"), ("hrss", "责令支付工资，已全额追回")):
        r = await api.post(f"{base}/{dept}/complete", dept, {"outcome": outcome})
        assert r.status_code == 200, r.text
    r = await api.post(
        f"/api/v1/cases/{cid}/resolve", "officer", {"summary": "欠薪已追回", "amount_recovered": "36000"}
    )
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    assert r.json()["amount_recovered"] == "36000.00"
    r = await api.post(f"/api/v1/cases/{cid}/feedback", "officer", {"satisfied": True, "comment": "感谢"})
    assert r.status_code == 200 and r.json()["status"] == "closed"
    r = await api.post(f"{base}/hrss/progress", "hrss", {"note": "too late"})
    assert r.status_code == 409
    types = [e["type"] for e in await events(api, cid)]
    assert types[-3:] == ["case.feedback_recorded", "case.closed"][-3:] or types[-2:] == [
        "case.feedback_recorded",
        "case.closed",
    ]
    assert "case.resolved" in types

    public = await api.client.get(f"/api/v1/public/cases/{cid}", params={"phone_last4": "5678"})
    assert public.status_code == 200 and public.json()["status"] == "closed"
    assert set(public.json()) == {"id", "status", "updated_at"}
    wrong = await api.client.get(f"/api/v1/public/cases/{cid}", params={"phone_last4": "0000"})
    assert wrong.status_code == 404


async def test_truck_driver_hr_clock_waits_for_traffic_finding(api: Api) -> None:
    case = await api.create_case(truck_driver_body())
    cid = case["id"]
    assignments = by_department(case)
    assert assignments["traffic"]["role"] == "lead" and assignments["hrss"]["role"] == "assist"
    base = f"/api/v1/cases/{cid}/assignments"
    await api.post(f"{base}/traffic/acknowledge", "traffic")
    await api.post(f"{base}/hrss/acknowledge", "hrss")
    # HR asks to stop its work-injury clock until traffic's liability finding is in.
    r = await api.post(
        f"{base}/hrss/suspend", "hrss", {"reason": "等待交警事故责任认定", "until_department": "traffic"}
    )
    assert r.status_code == 200, r.text
    hrss = by_department(r.json())["hrss"]
    assert hrss["suspension_requested"] and not hrss["suspended"]
    r = await api.post(f"{base}/hrss/suspend/decision", "officer", {"approved": True})
    hrss = by_department(r.json())["hrss"]
    assert hrss["suspended"] and not hrss["suspension_requested"]
    due_before = hrss["due_at"]
    r = await api.post(f"{base}/traffic/complete", "traffic", {"outcome": "认定货主承担主要责任"})
    hrss = by_department(r.json())["hrss"]
    assert not hrss["suspended"], "the suspension ends by itself when traffic completes"
    assert hrss["due_at"] >= due_before  # type: ignore[operator]
    types = [e["type"] for e in await events(api, cid)]
    assert types.count("assignment.suspended") == 1 and types.count("assignment.resumed") == 1
    resumed = next(e for e in await events(api, cid) if e["type"] == "assignment.resumed")
    assert resumed["actor"] == "system"


async def test_hazard_report_has_a_short_acknowledgement_clock(api: Api) -> None:
    case = await api.create_case(hazard_body())
    traffic = by_department(case)["traffic"]
    from datetime import datetime

    created = datetime.fromisoformat(case["created_at"])  # type: ignore[arg-type]
    ack_due = datetime.fromisoformat(traffic["ack_due_at"])  # type: ignore[arg-type]
    assert (ack_due - created).total_seconds() == pytest.approx(2 * 3600, abs=5)
    assert ack_due.utcoffset() is not None and ack_due.utcoffset().total_seconds() == 8 * 3600  # type: ignore[union-attr]


async def test_idempotency_key_returns_the_same_case(api: Api) -> None:
    headers = {**api.auth("officer"), "Idempotency-Key": "hotline-20261128-0001"}
    first = await api.client.post("/api/v1/cases", json=courier_body(), headers=headers)
    second = await api.client.post("/api/v1/cases", json=courier_body(), headers=headers)
    assert first.status_code == 201 and second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    listed = await api.client.get("/api/v1/cases", params={"q": "杨书", "limit": 200}, headers=api.auth("officer"))
    assert sum(1 for c in listed.json()["items"] if c["id"] == first.json()["id"]) == 1


async def test_return_twice_escalates_and_officer_reroutes(api: Api) -> None:
    case = await api.create_case(courier_body(departments=["justice"]))
    cid = case["id"]
    r = await api.post(f"/api/v1/cases/{cid}/assignments/justice/return", "justice", {"reason": "不属于法律援助范围"})
    assert r.status_code == 200 and by_department(r.json())["justice"]["status"] == "returned"
    r = await api.post(f"/api/v1/cases/{cid}/assignments", "officer", {"department": "justice", "role": "lead"})
    assert r.status_code == 200 and by_department(r.json())["justice"]["status"] == "pending_ack"
    r = await api.post(f"/api/v1/cases/{cid}/assignments/justice/return", "justice", {"reason": "仍不属于"})
    assert r.status_code == 200 and r.json()["status"] == "escalated"
    escalated = [e for e in await events(api, cid) if e["type"] == "case.escalated"]
    assert escalated[0]["data"]["trigger"] == "returned_twice"  # type: ignore[index]


async def test_list_filters_and_search(api: Api) -> None:
    hazard = await api.create_case(hazard_body(title="景亮社区空调外机松动"))
    officer = api.auth("officer")
    r = await api.client.get("/api/v1/cases", params={"q": "空调外机", "category": "safety_hazard"}, headers=officer)
    assert hazard["id"] in [c["id"] for c in r.json()["items"]]
    r = await api.client.get("/api/v1/cases", params={"q": "李松"}, headers=officer)
    assert hazard["id"] in [c["id"] for c in r.json()["items"]]
    r = await api.client.get("/api/v1/cases", params={"q": "不存在的词语"}, headers=officer)
    assert r.json() == {"items": [], "total": 0}
    r = await api.client.get("/api/v1/cases", params={"department": "traffic", "limit": 1}, headers=officer)
    assert len(r.json()["items"]) == 1 and r.json()["total"] >= 1
    r = await api.client.get("/api/v1/cases", params={"limit": 0}, headers=officer)
    assert r.status_code == 422


async def test_list_totals_are_exact_up_to_the_cap_and_say_so_beyond_it(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counting every match of a million cases would read them all: the total is exact up to
    COUNT_CAP, and beyond it the list says ``total_capped`` (absent while the count is exact)."""
    from casebridge.db import queries

    word = "封顶计数测试"
    for i in range(3):
        await api.create_case(courier_body(title=f"{word} {i}"))
    params = {"q": word, "limit": 1}
    exact = await api.client.get("/api/v1/cases", params=params, headers=api.auth("officer"))
    assert exact.status_code == 200 and exact.json()["total"] == 3 and "total_capped" not in exact.json()

    monkeypatch.setattr(queries, "COUNT_CAP", 2)
    capped = await api.client.get("/api/v1/cases", params=params, headers=api.auth("officer"))
    assert capped.status_code == 200
    assert capped.json()["total"] == 2 and capped.json()["total_capped"] is True
    assert len(capped.json()["items"]) == 1


async def test_an_action_retried_with_its_idempotency_key_is_applied_once(api: Api) -> None:
    case = await api.create_case(courier_body(title="重试签收"))
    path = f"/api/v1/cases/{case['id']}/assignments/hrss/acknowledge"
    key = {"Idempotency-Key": "ack-7f3a", **api.auth("hrss")}
    first = await api.client.post(path, headers=key)
    retry = await api.client.post(path, headers=key)
    assert first.status_code == retry.status_code == 200, retry.text
    assert retry.json()["assignments"] == first.json()["assignments"]
    # The same key on another action is another action.
    note = await api.client.post(
        f"/api/v1/cases/{case['id']}/assignments/hrss/progress", json={"note": "已联系用人单位"}, headers=key
    )
    assert note.status_code == 200, note.text
    # Without a key a second acknowledgement is what it is: not valid any more.
    assert (await api.post(path, "hrss")).status_code == 409
    types = [e["type"] for e in await events(api, case["id"])]
    assert types.count("assignment.acknowledged") == 1 and types.count("assignment.progress_reported") == 1, types
