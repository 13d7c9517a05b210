"""The README's screenshots, from a running stack (`make run`), with the seed's three cases.

    .venv/bin/python -m tests.web.readme_screenshots http://127.0.0.1:8000 docs/screenshots

It files the cases through the JSON API (so run it on a fresh data dir), lets the departments act,
and shoots each role's main page at desktop width and the worker's status page at phone width.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx
from playwright.async_api import Page, async_playwright

from tests.web.conftest import CHROMIUM, DESKTOP, LAUNCH_ARGS, PHONE

TRUCK = {
    "worker": {"name": "陈力", "phone": "13800138000", "occupation": "卡车司机", "platform": "昆磨高速货运线"},
    "category": "work_injury",
    "title": "卸货时从车上摔下受伤，事故责任有争议",
    "description": "卡车司机陈力卸货时从车上滑落，腿部骨折，医疗费用高昂；事故责任有争议，未获赔偿。",
    "station": "司机之家",
    "counterparty": "某物流公司",
    "departments": ["traffic", "hrss"],
}
COURIER = {
    "worker": {"name": "杨书", "phone": "13912345678", "occupation": "快递员", "platform": "某快递"},
    "category": "wage_arrears",
    "title": "快递员一年工资未发",
    "description": "杨书已一年没有拿到工资，在驿站法律援助点求助。",
    "station": "暖心驿站（江北）",
    "counterparty": "某快递网点",
    "amount_claimed": "36000.00",
}
HAZARD = {
    "worker": {"name": "李松", "phone": "13711112222", "occupation": "外卖骑手", "platform": "美团"},
    "category": "safety_hazard",
    "title": "楼道外空调外机松动，随时可能坠落",
    "description": "骑手李松在景亮社区发现楼道外空调外机悬空松动。",
    "station": "景亮社区",
}


def token(client: httpx.Client, user: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": user, "password": "demo"})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def seed(base_url: str) -> dict[str, str]:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        officer, hrss, justice = token(client, "officer"), token(client, "hrss"), token(client, "justice")
        ids = {}
        for name, body in (("courier", COURIER), ("hazard", HAZARD), ("truck", TRUCK)):
            response = client.post("/api/v1/cases", json=body, headers=officer)
            response.raise_for_status()
            ids[name] = response.json()["id"]
        courier = f"/api/v1/cases/{ids['courier']}/assignments"
        case, truck = f"/api/v1/cases/{ids['courier']}", f"/api/v1/cases/{ids['truck']}"
        for path, headers, body in (
            (f"{courier}/hrss/acknowledge", hrss, None),
            (f"{courier}/justice/acknowledge", justice, None),
            (f"{courier}/justice/progress", justice, {"note": "志愿律师已在驿站法律援助点接待，正在整理证据。"}),
            (f"{courier}/justice/complete", justice, {"outcome": "法律援助已指派，协助申请劳动仲裁。"}),
            (f"{courier}/hrss/complete", hrss, {"outcome": "劳动保障监察责令支付，已全额追回。"}),
            (f"{case}/resolve", officer, {"summary": "工资已追回", "amount_recovered": "36000"}),
            (f"{case}/feedback", officer, {"satisfied": True, "comment": "很满意"}),
            (f"{truck}/escalate", officer, {"reason": "事故责任认定与工伤认定相互等待，需联席会议协调"}),
        ):
            client.post(path, json=body, headers=headers).raise_for_status()
        return ids


async def sign_in(page: Page, base_url: str, user: str) -> None:
    await page.goto(f"{base_url}/login")
    await page.fill("#f-username", user)
    await page.fill("#f-password", "demo")
    await page.click("button[type=submit]")
    await page.wait_for_url(lambda url: "/login" not in url)


async def shoot(base_url: str, out: Path, ids: dict[str, str], executable: str | None) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
        for user, path, shot in (
            ("officer", "/cases", "officer-queue"),
            ("officer", f"/cases/{ids['truck']}", "officer-case"),
            ("traffic", "/inbox", "department-inbox"),
            ("leader", "/meetings", "leader-agenda"),
            ("leader", "/dashboard", "dashboard"),
        ):
            context = await browser.new_context(viewport=DESKTOP, locale="zh-CN")
            page = await context.new_page()
            await sign_in(page, base_url, user)
            await page.goto(base_url + path)
            if shot == "leader-agenda":
                await page.locator("tbody tr a").first.click()
            await page.screenshot(path=str(out / f"{shot}.png"))
            await context.close()
        context = await browser.new_context(viewport=PHONE, is_mobile=True, locale="zh-CN")
        page = await context.new_page()
        await page.goto(f"{base_url}/status?case_id={ids['truck']}&last4=8000")
        await page.screenshot(path=str(out / "worker-status-phone.png"))
        await browser.close()


def main() -> None:
    base_url, out = sys.argv[1].rstrip("/"), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    ids = seed(base_url)
    asyncio.run(shoot(base_url, out, ids, CHROMIUM if Path(CHROMIUM).exists() else None))


if __name__ == "__main__":
    main()
