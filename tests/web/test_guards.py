"""What the web UI refuses and protects: forged posts, other departments' cases, the worker's phone,
bad input (shown next to the field, typed values kept, never a 500), and the language switch."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import expect

from tests.web.conftest import WebStack, shoot

pytestmark = pytest.mark.timeout(90)
expect.set_options(timeout=15_000)

COURIER_PHONE = "13912345678"


async def courier_case(web: WebStack) -> str:
    """Seed story 2 (wage arrears: HR leads, Justice assists — traffic has no part in it)."""
    if "courier" not in web.shared:
        body = {
            "worker": {"name": "杨书", "phone": COURIER_PHONE, "occupation": "快递员", "platform": "某快递"},
            "category": "wage_arrears",
            "title": "快递员一年工资未发",
            "description": "杨书已一年没有拿到工资，在驿站法律援助点求助。",
            "counterparty": "某快递网点",
            "amount_claimed": "36000.00",
        }
        response = await web.api("POST", "/api/v1/cases", "officer", body)
        assert response.status_code == 201, response.text
        web.shared["courier"] = response.json()["id"]
    return str(web.shared["courier"])


async def test_a_department_cannot_open_another_departments_case(web: WebStack) -> None:
    case_id = await courier_case(web)
    page = await (await web.signed_in("traffic")).new_page()
    response = await page.goto(web.url(f"/cases/{case_id}"))
    assert response is not None and response.status == 404
    await expect(page.locator("#error-message")).to_contain_text("没有找到")
    assert "快递员一年工资未发" not in await page.content()
    await shoot(page, "traffic-refused-hr-case")
    for path in (f"/cases/{case_id}/live", f"/cases?q={case_id}"):
        response = await page.goto(web.url(path))
        assert response is not None
        assert "快递员一年工资未发" not in await page.content(), path
    # Acting on it by a forged form is refused too, and changes nothing.
    csrf = await page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    posted = await page.request.post(
        web.url(f"/cases/{case_id}/act/acknowledge"), form={"department": "hrss", "csrf_token": csrf}, max_redirects=0
    )
    assert posted.status == 404
    case = (await web.api("GET", f"/api/v1/cases/{case_id}", "officer")).json()
    assert {a["department"]: a["status"] for a in case["assignments"]}["hrss"] == "pending_ack"
    await page.close()


async def test_the_phone_is_masked_in_the_html_for_those_who_do_not_handle_the_case(web: WebStack) -> None:
    case_id = await courier_case(web)
    leader = await web.page("leader", f"/cases/{case_id}")
    await expect(leader.locator("#worker-phone")).to_have_text("139****5678")
    assert COURIER_PHONE not in await leader.content()
    await shoot(leader, "leader-case-masked")
    await leader.close()
    hrss = await web.page("hrss", f"/cases/{case_id}")  # an assigned department handles it: full number
    await expect(hrss.locator("#worker-phone")).to_have_text(COURIER_PHONE)
    await hrss.close()


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(web: WebStack) -> None:
    case_id = await courier_case(web)
    context = await web.signed_in("officer")
    before = (await web.api("GET", "/api/v1/cases?limit=1", "officer")).json()["total"]
    form = {
        "worker_name": "伪造",
        "worker_phone": "13600000000",
        "category": "wage_arrears",
        "title": "forged",
        "description": "forged",
    }
    for extra in ({}, {"csrf_token": "not-the-token"}):
        response = await context.request.post(web.url("/intake"), form={**form, **extra}, max_redirects=0)
        assert response.status == 403
        assert "安全令牌" in await response.text()
    withdraw = await context.request.post(
        web.url(f"/cases/{case_id}/act/withdraw"), form={"reason": "forged"}, max_redirects=0
    )
    assert withdraw.status == 403
    assert (await web.api("GET", "/api/v1/cases?limit=1", "officer")).json()["total"] == before
    assert (await web.api("GET", f"/api/v1/cases/{case_id}", "officer")).json()["status"] == "in_progress"
    # A forged sign-out does not sign anyone out, and a forged sign-in is refused before any check.
    assert (await context.request.post(web.url("/logout"), max_redirects=0)).status == 403
    async with httpx.AsyncClient(base_url=web.base_url) as anonymous:
        login = await anonymous.post("/login", data={"username": "officer", "password": "demo"})
        assert login.status_code == 403 and "cb_session" not in login.cookies
    page = await context.new_page()
    response = await page.goto(web.url("/cases"))
    assert response is not None and response.status == 200 and "/login" not in page.url
    await page.close()


async def test_a_form_error_is_shown_next_to_the_field_and_keeps_what_was_typed(web: WebStack) -> None:
    page = await web.page("officer", "/intake")
    await page.select_option("#f-category", "wage_arrears")
    await page.fill("#f-worker_name", "杨书")
    await page.fill("#f-worker_phone", "12345")
    await page.fill("#f-description", "一年没有拿到工资。")
    await page.fill("#f-amount_claimed", "很多")
    await page.click("#intake-submit")
    await expect(page.locator("#form-error")).to_be_visible()
    phone = page.locator(".field[data-field=worker_phone]")
    await expect(phone.locator(".err")).to_contain_text("11 位手机号")
    await expect(page.locator(".field[data-field=title] .err")).to_contain_text("必填")
    await expect(page.locator(".field[data-field=amount_claimed] .err")).to_be_visible()
    await expect(page.locator("#f-worker_name")).to_have_value("杨书")
    await expect(page.locator("#f-worker_phone")).to_have_value("12345")
    await expect(page.locator("#f-description")).to_have_value("一年没有拿到工资。")
    await expect(page.locator("#f-category")).to_have_value("wage_arrears")
    await shoot(page, "officer-intake-errors", full_page=True)
    await page.close()

    # On a case page: a department returns without a reason.
    case_id = await courier_case(web)
    hrss = await web.page("hrss", f"/cases/{case_id}")
    await hrss.locator("details[data-action='return:hrss'] summary").click()
    await hrss.locator("details[data-action='return:hrss'] button[type=submit]").click()
    action = hrss.locator("details[data-action='return:hrss']")
    await expect(action).to_have_attribute("open", "")
    await expect(action.locator(".field[data-field=reason] .err")).to_contain_text("必填")
    await hrss.close()


async def test_bad_input_never_yields_a_500(web: WebStack) -> None:
    case_id = await courier_case(web)
    context = await web.signed_in("officer")
    page = await context.new_page()
    await page.goto(web.url("/cases"))
    csrf = await page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    await page.close()
    gets = [
        "/status?case_id=" + "X" * 500 + "&last4=abcd",
        "/status?case_id=CB-%E2%80%AE&last4=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94",
        "/cases?page=abc&status=nonsense&category=%F0%9F%98%80&q=" + "字" * 300,
        "/cases/" + "Z" * 200,
        "/cases/%00",
        "/intake/routing?category=nope",
        "/meetings/" + "M" * 100,
        "/lang/xx?next=//evil.example",
    ]
    for path in gets:
        response = await context.request.get(web.url(path), max_redirects=0)
        assert response.status < 500, (path, response.status)
    posts = [
        (f"/cases/{case_id}/act/unknown", {}),
        (f"/cases/{case_id}/act/route", {"department": "nowhere", "role": "boss"}),
        (f"/cases/{case_id}/act/feedback", {"satisfied": "maybe"}),
        (f"/cases/{case_id}/act/resolve", {"summary": "\x01", "amount_recovered": "-1"}),
        (f"/cases/{case_id}/act/decide_extension", {"department": "x" * 300, "approved": "true"}),
        ("/intake", {"category": "nope", "worker_phone": "１３９１２３４５６７８", "departments": "x"}),
        ("/meetings/M-none/decide", {"key": "k", "decision": "d", "lead_department": "x", "resolve_within": "1 eon"}),
    ]
    for path, form in posts:
        response = await context.request.post(web.url(path), form={**form, "csrf_token": csrf}, max_redirects=0)
        assert response.status < 500, (path, response.status, (await response.text())[:300])
    redirect = await context.request.get(web.url("/lang/en?next=//evil.example"), max_redirects=0)
    assert redirect.headers["location"] == "/"
    await context.request.get(web.url("/lang/zh"), max_redirects=0)  # back to Chinese for the other tests


async def test_the_english_switch(web: WebStack) -> None:
    context = await web.browser.new_context(locale="zh-CN")
    page = await context.new_page()
    await page.goto(web.url("/"))
    await expect(page.locator("h1")).to_have_text("查询我的诉求进度")
    await page.click("#lang-switch")
    await expect(page.locator("h1")).to_have_text("Check my case")
    await page.goto(web.url("/login"))  # the choice is remembered (cookie)
    await expect(page.locator("h1")).to_have_text("Staff sign-in")
    await page.fill("#f-username", "officer")
    await page.fill("#f-password", "demo")
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/cases$"))
    await expect(page.locator("h1")).to_have_text("Cases by urgency")
    await expect(page.locator("header nav")).to_contain_text("Take in")
    await shoot(page, "officer-queue-english")
    await page.goto(web.url("/cases?lang=zh"))  # or per request, by query parameter
    await expect(page.locator("h1")).to_have_text("待办个案（按紧急程度）")
    await context.close()
