"""The joint meeting through the API: escalation joins the agenda once, leaders review and decide,
decisions come back as supervised work, minutes and documents, carry-over and follow-up."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import docx
import pytest

from tests.api.conftest import Api, courier_body, truck_driver_body

pytestmark = pytest.mark.timeout(180)

PHONE = "13800138000"


async def get(api: Api, path: str, user: str = "leader") -> Any:
    response = await api.client.get(path, headers=api.auth(user))
    assert response.status_code == 200, response.text
    return response.json()


async def escalated_case(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    case = await api.create_case(body)
    response = await api.post(f"/api/v1/cases/{case['id']}/escalate", "officer", {"reason": "责任争议，部门间无法协调"})
    assert response.status_code == 200, response.text
    escalated: dict[str, Any] = response.json()
    assert escalated["status"] == "escalated"
    assert escalated["meeting_id"], "the case joins a planned meeting's agenda"
    return escalated


async def test_escalation_joins_the_earliest_planned_agenda_once(api: Api) -> None:
    case = await escalated_case(api, truck_driver_body())
    meeting_id = case["meeting_id"]
    again = await api.post(f"/api/v1/cases/{case['id']}/escalate", "officer", {"reason": "再次提请"})
    assert again.status_code == 409
    meeting = await get(api, f"/api/v1/meetings/{meeting_id}")
    assert meeting["status"] == "planned"
    items = [item for item in meeting["agenda"] if item["case_id"] == case["id"]]
    assert len(items) == 1
    item = items[0]
    assert item["reason"] == "责任争议，部门间无法协调"
    assert set(item["departments"]) == {"traffic", "hrss"}
    assert item["summary"]["occupation"] == "卡车司机" and item["summary"]["platform"] == "昆磨高速货运线"
    assert {a["department"] for a in item["summary"]["assignments"]} == {"traffic", "hrss"}
    response = await api.client.get(f"/api/v1/meetings/{meeting_id}", headers=api.auth("leader"))
    assert PHONE not in response.text
    events = await get(api, f"/api/v1/cases/{case['id']}/events", "officer")
    assert [e["type"] for e in events].count("case.added_to_agenda") == 1


async def test_concurrent_escalations_plan_one_meeting_and_join_it(api: Api) -> None:
    cases = [await api.create_case(courier_body(title=f"并发提请 {i}")) for i in range(4)]
    responses = await asyncio.gather(
        *(api.post(f"/api/v1/cases/{c['id']}/escalate", "officer", {"reason": "并发"}) for c in cases)
    )
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    meeting_ids = {r.json()["meeting_id"] for r in responses}
    assert len(meeting_ids) == 1, "all join the same earliest planned meeting"
    meeting = await get(api, f"/api/v1/meetings/{meeting_ids.pop()}")
    keys = [item["key"] for item in meeting["agenda"]]
    assert len(keys) == len(set(keys))
    assert {c["id"] for c in cases} <= set(keys)


async def test_leader_reviews_decides_and_closes(api: Api) -> None:
    decided = await escalated_case(api, truck_driver_body(title="卸货摔伤（联席会议决定）"))
    undecided = await escalated_case(api, courier_body(title="欠薪（本次未议定）"))
    meeting_id = decided["meeting_id"]
    assert undecided["meeting_id"] == meeting_id
    base = f"/api/v1/meetings/{meeting_id}"

    # Departments write their own position statements only.
    r = await api.post(f"{base}/items/{decided['id']}/position", "traffic", {"statement": "需鉴定结论后方可认定"})
    assert r.status_code == 200, r.text
    r = await api.post(f"{base}/items/{decided['id']}/position", "justice", {"statement": "不相干"})
    assert r.status_code == 404
    assert (await api.client.get(base, headers=api.auth("traffic"))).status_code == 403
    own = await get(api, f"{base}/items/{decided['id']}/position", "traffic")
    assert own["statement"] == "需鉴定结论后方可认定"

    # Only leaders approve, decide and close; officers may read.
    assert (await api.post(f"{base}/approve-agenda", "officer")).status_code == 403
    r = await api.post(f"{base}/approve-agenda", "leader")
    assert r.status_code == 200 and r.json()["status"] == "agenda_approved"
    late = await escalated_case(api, courier_body(title="迟到的提请"))
    assert late["meeting_id"] != meeting_id, "an approved agenda is frozen; late escalations go to the next meeting"

    decision = {
        "decision": "交警大队十个工作日内出具责任认定，人社局同步启动工伤认定",
        "lead_department": "traffic",
        "assist_departments": ["hrss"],
        "resolve_within": "10 working days",
    }
    assert (await api.post(f"{base}/items/{decided['id']}/decision", "officer", decision)).status_code == 403
    r = await api.post(f"{base}/items/{decided['id']}/decision", "leader", decision)
    assert r.status_code == 200, r.text
    again = await api.post(f"{base}/items/{decided['id']}/decision", "leader", decision)
    assert again.status_code == 409
    case = await get(api, f"/api/v1/cases/{decided['id']}", "officer")
    assert case["status"] == "in_progress"
    by_dept = {a["department"]: a for a in case["assignments"]}
    assert by_dept["traffic"]["supervised"] and by_dept["traffic"]["status"] == "pending_ack"
    assert by_dept["traffic"]["role"] == "lead" and by_dept["hrss"]["supervised"]

    assert (await api.post(f"{base}/close", "officer")).status_code == 403
    r = await api.post(f"{base}/close", "leader")
    assert r.status_code == 200, r.text
    closed = r.json()
    assert closed["status"] == "closed"
    assert decision["decision"] in closed["minutes"] and "牵头单位" in closed["minutes"]

    # The undecided case moved to the next planned meeting, whose agenda opens with the follow-up.
    moved = await get(api, f"/api/v1/cases/{undecided['id']}", "officer")
    assert moved["meeting_id"] not in (None, meeting_id)
    following = await get(api, f"/api/v1/meetings/{moved['meeting_id']}")
    carried = [item for item in following["agenda"] if item["case_id"] == undecided["id"]]
    assert carried and carried[0]["carried_from"] == meeting_id
    assert decided["id"] in [f["case_id"] for f in following["follow_up"]]

    # Documents: .docx that python-docx reads back, in Chinese, with no phone number.
    for name in ("agenda.docx", "minutes.docx"):
        response = await api.client.get(f"{base}/{name}", headers=api.auth("officer"))
        assert response.status_code == 200
        document = docx.Document(io.BytesIO(response.content))
        text = "\n".join(p.text for p in document.paragraphs) + "\n".join(
            cell.text for table in document.tables for row in table.rows for cell in row.cells
        )
        assert decided["id"] in text and PHONE not in text
        if name == "minutes.docx":
            assert decision["decision"] in text and "挂牌督办" in text
    printable = await api.client.get(f"{base}/print", headers=api.auth("leader"))
    assert printable.status_code == 200 and "会议纪要" in printable.text and PHONE not in printable.text
    log = await get(api, f"{base}/events")
    assert [e["type"] for e in log][-3:] == [
        "meeting.decision_recorded",
        "meeting.closed",
        "meeting.items_carried_over",
    ]


async def test_dropped_item_goes_back_to_in_progress(api: Api) -> None:
    case = await escalated_case(api, courier_body(title="可由部门自行解决"))
    base = f"/api/v1/meetings/{case['meeting_id']}"
    r = await api.post(f"{base}/items/{case['id']}/drop", "leader", {"reason": "人社局可自行处理，无需上会"})
    assert r.status_code == 200, r.text
    assert case["id"] not in [item["key"] for item in r.json()["agenda"]]
    back = await get(api, f"/api/v1/cases/{case['id']}", "officer")
    assert back["status"] == "in_progress" and back["meeting_id"] is None
    events = await get(api, f"/api/v1/cases/{case['id']}/events", "officer")
    removed = [e for e in events if e["type"] == "case.removed_from_agenda"]
    assert removed and removed[0]["data"]["reason"] == "人社局可自行处理，无需上会"


async def test_three_cases_against_one_counterparty_are_proposed_as_a_systemic_issue(api: Api) -> None:
    platform = "某同城配送平台（测试）"
    ids = [(await api.create_case(courier_body(title=f"平台拖欠 {i}", counterparty=platform)))["id"] for i in range(3)]
    case = await escalated_case(api, truck_driver_body())
    base = f"/api/v1/meetings/{case['meeting_id']}"
    meeting = await get(api, base)
    proposals = [p for p in meeting["proposals"] if p["kind"] == "counterparty" and platform in p["title"]]
    assert len(proposals) == 1 and set(ids) <= set(proposals[0]["case_ids"])
    key = proposals[0]["key"]
    r = await api.post(f"{base}/proposals/{key}/accept", "leader")
    assert r.status_code == 200, r.text
    topic = next(item for item in r.json()["agenda"] if item["key"] == f"topic:{key}")
    assert topic["kind"] == "topic" and set(ids) <= set(topic["case_ids"])
    assert key not in [p["key"] for p in r.json()["proposals"]]


async def test_leader_reorders_the_agenda_and_dismisses_a_proposal(api: Api) -> None:
    first = await escalated_case(api, courier_body(title="排序一"))
    second = await escalated_case(api, courier_body(title="排序二"))
    base = f"/api/v1/meetings/{first['meeting_id']}"
    keys = [item["key"] for item in (await get(api, base))["agenda"]]
    assert keys.index(first["id"]) < keys.index(second["id"])
    reordered = [second["id"], *[k for k in keys if k != second["id"]]]
    assert (await api.post(f"{base}/reorder", "officer", {"order": reordered})).status_code == 403
    bad = await api.post(f"{base}/reorder", "leader", {"order": reordered[1:]})
    assert bad.status_code == 422, "the new order must list every item"
    r = await api.post(f"{base}/reorder", "leader", {"order": reordered})
    assert r.status_code == 200 and [item["key"] for item in r.json()["agenda"]] == reordered

    platform = "某跑腿平台（驳回测试）"
    for i in range(3):
        await api.create_case(courier_body(title=f"驳回 {i}", counterparty=platform))
    meeting = await get(api, base)
    key = next(p["key"] for p in meeting["proposals"] if platform in p["title"])
    r = await api.post(f"{base}/proposals/{key}/dismiss", "leader", {"reason": "已由人社局专项处理"})
    assert r.status_code == 200 and key not in [p["key"] for p in r.json()["proposals"]]
    again = await api.post(f"{base}/proposals/{key}/accept", "leader")
    assert again.status_code == 404, "a dismissed proposal is no longer offered"


async def test_cases_closed_since_they_joined_the_agenda_do_not_stall_the_meeting(api: Api) -> None:
    """An operator may terminate a case's workflow while it waits on an agenda: dropping its item
    still works, deciding it is refused with a 409, and closing the meeting carries the others on
    without trying (forever) to reach the closed case."""
    gone = await escalated_case(api, truck_driver_body(title="议程中被终止的个案"))
    dropped = await escalated_case(api, courier_body(title="议程中被终止后撤下"))
    carried = await escalated_case(api, courier_body(title="未议定，转下次会议"))
    meeting_id = gone["meeting_id"]
    assert dropped["meeting_id"] == carried["meeting_id"] == meeting_id
    for case in (gone, dropped):
        await api.env.client.get_workflow_handle(case["id"]).terminate(reason="operator test")
    base = f"/api/v1/meetings/{meeting_id}"

    r = await api.post(f"{base}/items/{dropped['id']}/drop", "leader", {"reason": "个案已终止"})
    assert r.status_code == 200, r.text
    assert dropped["id"] not in {item["case_id"] for item in r.json()["agenda"]}

    assert (await api.post(f"{base}/approve-agenda", "leader")).status_code == 200
    decision = {
        "decision": "人社局牵头处理",
        "lead_department": "hrss",
        "assist_departments": [],
        "resolve_within": "5 working days",
    }
    r = await api.post(f"{base}/items/{gone['id']}/decision", "leader", decision)
    assert r.status_code == 409, r.text
    assert "no longer running" in r.json()["detail_en"]

    r = await api.post(f"{base}/close", "leader")
    assert r.status_code == 200, r.text
    later = await get(api, f"/api/v1/cases/{carried['id']}", "officer")
    assert later["meeting_id"] not in (None, meeting_id), "the undecided case moved to the next meeting"
    following = await get(api, f"/api/v1/meetings/{later['meeting_id']}")
    on_agenda = {item["case_id"] for item in following["agenda"]}
    assert carried["id"] in on_agenda and gone["id"] not in on_agenda
