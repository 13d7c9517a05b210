"""The agenda and the minutes as .docx (the format these offices work in) and printable HTML."""

from __future__ import annotations

import html
import io

import docx
from docx.document import Document
from docx.oxml.ns import qn
from docx.shared import Pt

from casebridge.api.meeting_schemas import MeetingOut

STATUS_ZH = {"pending_ack": "待签收", "acknowledged": "已签收", "completed": "已办结", "returned": "已退回"}


def _department_line(names: dict[str, str], codes: list[str]) -> str:
    return "、".join(names.get(code, code) for code in codes) or "—"


def _new_document(title: str) -> Document:
    document = docx.Document()
    style = document.styles["Normal"]
    style.font.name = "SimSun"
    style.font.size = Pt(11)
    style.element.rPr.rFonts.set(qn("w:eastAsia"), "宋体")  # CJK text needs the East Asian font set
    document.add_heading(title, level=1)
    return document


def agenda_docx(meeting: MeetingOut, names: dict[str, str]) -> bytes:
    document = _new_document(f"{meeting.title} 议程")
    document.add_paragraph(f"会议时间：{meeting.scheduled_for.strftime('%Y年%m月%d日 %H:%M')}")
    if meeting.follow_up:
        document.add_heading("一、前次会议决定落实情况", level=2)
        for f in meeting.follow_up:
            state = "已超期" if f.overdue else STATUS_ZH.get(f.lead_status or "", f.lead_status or "—")
            lead = names.get(f.lead_department, f.lead_department)
            document.add_paragraph(
                f"{f.case_id} {f.case_title}：{f.decision}（牵头：{lead}，{state}）", style="List Bullet"
            )
    document.add_heading("二、议题", level=2)
    table = document.add_table(rows=1, cols=5)
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, ("序号", "议题", "提请事由", "涉及单位", "超期（工作日）"), strict=True):
        cell.text = text
    for number, item in enumerate(meeting.agenda, start=1):
        row = table.add_row().cells
        subject = f"{item.case_id} {item.title}" if item.case_id else f"突出问题：{item.title}"
        row[0].text, row[1].text, row[2].text = str(number), subject, item.reason
        row[3].text, row[4].text = _department_line(names, item.departments), str(item.overdue_days)
    for item in meeting.agenda:
        if item.positions:
            document.add_paragraph(f"{item.title} —— 各单位意见：", style="Heading 3")
            for code, statement in item.positions.items():
                document.add_paragraph(f"{names.get(code, code)}：{statement}", style="List Bullet")
    return _bytes(document)


def minutes_docx(meeting: MeetingOut, names: dict[str, str]) -> bytes:
    document = _new_document(f"{meeting.title} 会议纪要")
    document.add_paragraph(f"会议时间：{meeting.scheduled_for.strftime('%Y年%m月%d日 %H:%M')}")
    decided = [item for item in meeting.agenda if item.decision is not None]
    table = document.add_table(rows=1, cols=5)
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, ("序号", "议题", "会议决定", "牵头/配合单位", "办结时限"), strict=True):
        cell.text = text
    for number, item in enumerate(decided, start=1):
        decision = item.decision
        assert decision is not None
        row = table.add_row().cells
        row[0].text = str(number)
        row[1].text = f"{item.case_id} {item.title}" if item.case_id else f"突出问题：{item.title}"
        row[2].text = decision.decision
        row[3].text = (
            f"牵头：{names.get(decision.lead_department, decision.lead_department)}；"
            f"配合：{_department_line(names, decision.assist_departments)}"
        )
        row[4].text = f"{decision.resolve_within}（挂牌督办）"
    undecided = [item for item in meeting.agenda if item.decision is None]
    if undecided:
        document.add_heading("未议定事项（转下次会议）", level=2)
        for item in undecided:
            document.add_paragraph(f"{item.case_id or ''} {item.title}".strip(), style="List Bullet")
    return _bytes(document)


def _bytes(document: Document) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def printable_html(meeting: MeetingOut, names: dict[str, str]) -> str:
    e = html.escape
    rows = []
    for number, item in enumerate(meeting.agenda, start=1):
        decision = item.decision
        decided = "—"
        if decision:
            lead = e(names.get(decision.lead_department, decision.lead_department))
            assist = e(_department_line(names, decision.assist_departments))
            decided = (
                f"{e(decision.decision)}<br><small>牵头：{lead}；配合：{assist}；"
                f"时限：{e(decision.resolve_within)}</small>"
            )
        positions = "".join(f"<li>{e(names.get(code, code))}：{e(text)}</li>" for code, text in item.positions.items())
        subject = f"{e(item.case_id or '突出问题')} {e(item.title)}"
        rows.append(
            f"<tr><td>{number}</td><td>{subject}<ul>{positions}</ul></td><td>{e(item.reason)}</td>"
            f"<td>{e(_department_line(names, item.departments))}</td>"
            f"<td>{item.overdue_days}</td><td>{decided}</td></tr>"
        )
    minutes = f"<h2>会议纪要</h2><pre>{e(meeting.minutes)}</pre>" if meeting.minutes else ""
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>{e(meeting.title)}</title>
<style>body{{font-family:"SimSun","Songti SC",serif;margin:2cm}}table{{border-collapse:collapse;width:100%}}
td,th{{border:1px solid #333;padding:4px;vertical-align:top}}@media print{{a{{display:none}}}}</style></head>
<body><h1>{e(meeting.title)}</h1><p>会议时间：{meeting.scheduled_for.strftime("%Y年%m月%d日 %H:%M")}</p>
<table><thead><tr><th>序号</th><th>议题</th><th>提请事由</th><th>涉及单位</th><th>超期（工作日）</th><th>会议决定</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>{minutes}</body></html>"""
