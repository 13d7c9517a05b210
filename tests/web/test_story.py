"""The truck driver's story in the browser, step by step, as each person sees it.

陈力 slipped off his truck unloading; liability is disputed. The officer takes the case in and routes
it to the traffic police (lead) and HR (assisting); traffic acknowledges in its inbox; HR lets its
acknowledgement clock run out (seconds, in the test policy), so the case escalates to the joint
meeting; the leader finds it on the agenda, approves the agenda and decides; the worker checks the
status on a phone. The steps run in order and hand the case id on through ``web.shared``.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.web.conftest import PHONE, WebStack, eventually, shoot

pytestmark = pytest.mark.timeout(90)
expect.set_options(timeout=15_000)

PHONE_NUMBER = "13800138000"


async def test_officer_takes_in_the_truck_driver(web: WebStack) -> None:
    page = await web.page("officer", "/intake")
    await page.select_option("#f-category", "work_injury")
    # Before submitting, the policy's routing and clocks for the category are on screen.
    routing = page.locator("#routing-policy")
    await expect(routing).to_contain_text("人力资源和社会保障局")
    await expect(routing).to_contain_text("8 秒")
    await expect(page.locator("#routing-dates")).to_contain_text("如现在受理")
    await page.fill("#f-worker_name", "陈力")
    await page.fill("#f-worker_phone", PHONE_NUMBER)
    await page.fill("#f-worker_occupation", "卡车司机")
    await page.fill("#f-worker_platform", "昆磨高速货运线")
    await page.fill("#f-title", "卸货时从车上摔下受伤，事故责任有争议")
    await page.fill("#f-description", "卡车司机陈力卸货时从车上滑落，腿部骨折，因事故责任有争议未获赔偿。")
    await page.fill("#f-station", "司机之家")
    await page.fill("#f-counterparty", "某物流公司")
    # The traffic police lead (the liability finding); HR assists (the work-injury decision).
    await page.select_option("#f-lead", "traffic")
    await page.check("input[name=assist][value=hrss]")
    await page.uncheck("input[name=assist][value=justice]")
    await shoot(page, "officer-intake", full_page=True)
    await page.click("#intake-submit")
    await page.wait_for_url(re.compile(r"/cases/CB-[A-Z0-9]+\?done=intake$"))
    await expect(page.locator("#flash")).to_contain_text("已受理")
    traffic = page.locator(".assignment[data-department=traffic]")
    hrss = page.locator(".assignment[data-department=hrss]")
    await expect(traffic).to_contain_text("牵头")
    await expect(traffic.locator("[data-status]")).to_have_text("待签收")
    await expect(hrss).to_contain_text("配合")
    await expect(page.locator("#worker-phone")).to_have_text(PHONE_NUMBER)  # the officer handles the case
    await expect(page.locator("#actions")).to_contain_text("提请联席会议")
    await expect(page.locator("#actions")).not_to_contain_text("办结个案")  # assignments are still open
    web.shared["case_id"] = page.url.split("/cases/")[1].split("?")[0]
    web.shared["officer_page"] = page  # stays open: it must change by itself as others act
    await shoot(page, "officer-case-new", full_page=True)


async def test_traffic_acknowledges_in_its_inbox(web: WebStack) -> None:
    case_id = web.shared["case_id"]
    page = await web.page("traffic", "/inbox")
    row = page.locator(f"#to-ack tr[data-case='{case_id}']")
    await expect(row).to_contain_text("卸货时从车上摔下受伤")
    await shoot(page, "traffic-inbox")
    await row.get_by_role("button", name="签收").click()
    await page.wait_for_url("**/inbox?done=acknowledge")
    await expect(page.locator("#flash")).to_contain_text("签收")
    await expect(page.locator(f"#working tr[data-case='{case_id}']")).to_be_visible()
    await expect(page.locator(f"#to-ack tr[data-case='{case_id}']")).to_have_count(0)
    # The officer's page, open since intake, shows it without a reload (event stream → fragment).
    officer = web.shared["officer_page"]
    await expect(officer.locator(".assignment[data-department=traffic] [data-status]")).to_have_text("已签收")
    await expect(officer.locator("#timeline")).to_contain_text("签收")
    await page.close()


async def test_hr_lets_its_deadline_pass_and_the_case_escalates(web: WebStack) -> None:
    officer = web.shared["officer_page"]
    hrss = officer.locator(".assignment[data-department=hrss]")
    await expect(hrss.locator(".badge.overdue")).to_be_visible(timeout=30_000)
    await expect(officer.locator("#case-live .badge", has_text="已提请联席会议")).to_be_visible(timeout=30_000)
    await expect(officer.locator("#timeline")).to_contain_text("超期")
    await shoot(officer, "officer-case-overdue", full_page=True)
    # The queue puts it first: overdue comes before everything else.
    queue = await web.page("officer", "/cases?status=all")
    first = queue.locator("#queue-table tbody tr").first
    await expect(first).to_have_attribute("data-case", web.shared["case_id"])
    await expect(first).to_have_class(re.compile("overdue"))
    await shoot(queue, "officer-queue")
    # Search and filters narrow the list in place (HTMX), and the URL follows.
    await queue.fill("#f-q", "没有这个词")
    await expect(queue.locator("#queue-table")).to_contain_text("没有符合条件的个案")
    await queue.fill("#f-q", "卸货")
    await queue.select_option("#f-category", "work_injury")
    await expect(queue.locator("#queue-table tbody tr")).to_have_count(1)
    await expect(queue).to_have_url(re.compile(r"category=work_injury"))
    await queue.close()


async def test_leader_sees_it_on_the_agenda_and_decides(web: WebStack) -> None:
    case_id = web.shared["case_id"]

    async def on_agenda() -> bool:
        response = await web.api("GET", f"/api/v1/cases/{case_id}", "officer")
        web.shared["meeting_id"] = response.json()["meeting_id"]
        return web.shared["meeting_id"] is not None

    await eventually(on_agenda)
    meeting_id = web.shared["meeting_id"]

    # Traffic states its position for the meeting from the case page.
    traffic = await web.page("traffic", f"/cases/{case_id}")
    await traffic.locator("details[data-action=position] summary").click()
    await traffic.fill("#f-statement", "事故责任认定需等待车辆技术鉴定，预计十个工作日内出具。")
    await traffic.get_by_role("button", name="提交").click()
    await expect(traffic.locator("#flash")).to_contain_text("意见")
    await traffic.close()

    page = await web.page("leader", "/meetings")
    await page.locator(f"tr[data-meeting='{meeting_id}'] a").click()
    item = page.locator(f"article[data-item='{case_id}']")
    await expect(item).to_contain_text("卸货时从车上摔下受伤")
    await expect(item).to_contain_text("人力资源和社会保障局")
    await expect(item).to_contain_text("超期")
    await expect(item.locator("blockquote")).to_contain_text("车辆技术鉴定")
    assert PHONE_NUMBER not in await page.content()  # never the worker's phone on the agenda
    await shoot(page, "leader-agenda", full_page=True)
    await page.click("#approve-agenda")
    await expect(page.locator("#meeting-status")).to_have_text("议程已审定")
    await item.locator("details[data-action=decide] summary").click()
    await item.locator("#f-decision").fill("交警大队十个工作日内出具责任认定，人社局同步启动工伤认定。")
    await item.locator("#f-lead_department").select_option("traffic")
    await item.locator("input[name=assist_departments][value=hrss]").check()
    await item.locator("#f-resolve_within").fill("10 working days")
    await item.get_by_role("button", name="记录会议决定").click()
    await expect(item.locator(".decision")).to_contain_text("十个工作日内出具责任认定")
    await shoot(page, "leader-decided", full_page=True)
    # The decision comes back to the case as supervised work, live on the officer's page.
    officer = web.shared["officer_page"]
    await expect(officer.locator("#case-live .badge", has_text="办理中").first).to_be_visible()
    await expect(officer.locator(".assignment[data-department=hrss] .badge", has_text="挂牌督办")).to_be_visible()
    # The agenda as a Word document, then the meeting closes and publishes its minutes.
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    agenda = await page.request.get(web.url(f"/meetings/{meeting_id}/agenda.docx"))
    assert agenda.status == 200 and agenda.headers["content-type"] == docx
    await page.click("#close-meeting")
    await expect(page.locator("#meeting-status")).to_have_text("已闭会")
    await expect(page.locator("#minutes")).to_contain_text("十个工作日内出具责任认定")
    minutes = await page.request.get(web.url(f"/meetings/{meeting_id}/minutes.docx"))
    assert minutes.status == 200 and minutes.headers["content-type"] == docx
    await page.close()


async def test_worker_checks_the_status_on_a_phone(web: WebStack) -> None:
    case_id = web.shared["case_id"]
    context = await web.browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    page = await context.new_page()
    await page.goto(web.url("/"))
    await page.fill("#f-case_id", case_id.lower())  # people type ids in lower case too
    await page.fill("#f-last4", "0000")
    await page.click("#status-form button[type=submit]")
    await expect(page.locator("#status-error")).to_contain_text("没有找到该个案")
    await page.fill("#f-last4", PHONE_NUMBER[-4:])
    await page.click("#status-form button[type=submit]")
    result = page.locator("#status-result")
    await expect(result).to_contain_text("办理中")
    await expect(result).to_contain_text("下一步")
    await expect(result.locator(".next")).to_contain_text("部门")
    html = await page.content()
    for personal in ("陈力", PHONE_NUMBER, "卡车司机", "某物流公司"):
        assert personal not in html
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width}px)"
    await shoot(page, "worker-status-phone", full_page=True)
    await context.close()


async def test_dashboard_shows_the_figures_as_charts(web: WebStack) -> None:
    page = await web.page("leader", "/dashboard")
    await expect(page.locator("#tile-open .n")).not_to_have_text("0")
    await expect(page.locator("#chart-rates svg")).to_contain_text("公安交警大队")
    await expect(page.locator("#chart-categories svg")).to_be_visible()
    await shoot(page, "leader-dashboard", full_page=True)
    await page.close()
