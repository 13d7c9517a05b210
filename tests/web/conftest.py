"""Browser tests: the app served by uvicorn in the test's event loop, a real Temporal dev server, a
worker, a database of its own, and headless Chromium driven by Playwright.

Chromium is Debian's (/usr/bin/chromium, installed by `make test`) or, failing that, Playwright's
own. Without a browser the tests skip on a developer's machine and FAIL in CI (CI=true).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from casebridge.activities import build_activities
from casebridge.api.app import create_app
from casebridge.db.migrate import upgrade_async
from casebridge.db.seed import seed_demo_users
from casebridge.db.session import make_engine, make_session_factory
from casebridge.devstack import free_port
from casebridge.policy_source import load_policy
from casebridge.settings import Settings
from casebridge.workflows import WORKFLOWS
from tests.conftest import binary

try:  # the dev extra installs it; without it the module still imports, and the fixture decides
    from playwright.async_api import Browser, BrowserContext, Page, async_playwright
except ImportError:  # pragma: no cover
    async_playwright = None  # type: ignore[assignment]

SCREENSHOTS = Path("test-output/screenshots")
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}

# The seed's truck driver story in seconds: HR's acknowledgement clock runs out while the test
# watches, and the overdue assignment escalates the case to the joint meeting.
WEB_POLICY = """
[meeting]
interval = "30 days"

[departments.hrss]
name = "人力资源和社会保障局"
[departments.justice]
name = "司法局（法律援助中心）"
[departments.traffic]
name = "公安交警大队 / 交通运输局"

[categories.wage_arrears]
label = "劳动报酬"
lead = "hrss"
assist = ["justice"]
ack_within = "1 working day"
resolve_within = "60 working days"
escalate_after_overdue = "5 working days"

[categories.work_injury]
label = "工伤/职业伤害"
lead = "hrss"
assist = ["justice"]
ack_within = "8 seconds"
resolve_within = "1 hours"
warn_at = [0.5]
escalate_after_overdue = "2 seconds"

[categories.safety_hazard]
label = "安全隐患"
lead = "traffic"
ack_within = "2 hours"
resolve_within = "2 working days"
escalate_after_overdue = "1 working day"
"""


def no_browser(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests must run in CI: {reason}")
    pytest.skip(reason)


@dataclass
class WebStack:
    base_url: str
    browser: Browser
    settings: Settings
    contexts: dict[str, BrowserContext] = field(default_factory=dict)
    shared: dict[str, Any] = field(default_factory=dict)  # what one story step hands the next

    def url(self, path: str) -> str:
        return self.base_url + path

    async def token(self, user: str) -> dict[str, str]:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as client:
            response = await client.post("/api/v1/auth/token", data={"username": user, "password": "demo"})
            response.raise_for_status()
            return {"Authorization": f"Bearer {response.json()['access_token']}"}

    async def api(self, method: str, path: str, user: str, body: object | None = None) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=60) as client:
            return await client.request(method, path, json=body, headers=await self.token(user))

    async def signed_in(self, user: str) -> BrowserContext:
        """One browser context per role for the whole package, signed in through the login form."""
        if user not in self.contexts:
            context = await self.browser.new_context(viewport=DESKTOP, locale="zh-CN", timezone_id="Asia/Shanghai")
            context.set_default_timeout(15_000)
            page = await context.new_page()
            await page.goto(self.url("/login"))
            await page.fill("#f-username", user)
            await page.fill("#f-password", "demo")
            await page.click("button[type=submit]")
            await page.wait_for_url(lambda url: "/login" not in url)
            await page.close()
            self.contexts[user] = context
        return self.contexts[user]

    async def page(self, user: str, path: str) -> Page:
        page = await (await self.signed_in(user)).new_page()
        await page.goto(self.url(path))
        return page


async def shoot(page: Page, name: str, full_page: bool = False) -> None:
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20, interval: float = 0.2) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


async def _fresh_database(server_url: str) -> str:
    name = f"casebridge_web_{uuid.uuid4().hex[:10]}"
    plain = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(plain)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(server_url).set(drivername="postgresql+asyncpg", database=name)
    rendered = url.render_as_string(hide_password=False)
    await upgrade_async(rendered)
    return rendered


def _chromium() -> str | None:
    """Debian's chromium, else None (Playwright's own, if `playwright install chromium` ran)."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    return shutil.which("chromium")


@pytest.fixture(scope="package")
async def web(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[WebStack]:
    if async_playwright is None:
        no_browser("the playwright package is not installed (make test installs the dev extra)")
    policy_file = tmp_path_factory.mktemp("web") / "policy.toml"
    policy_file.write_text(WEB_POLICY, encoding="utf-8")
    database_url = await _fresh_database(pg_server_url)
    await seed_demo_users(database_url)
    settings = Settings(
        env="test",
        database_url=database_url,
        temporal_address="unused",
        temporal_namespace="default",
        task_queue=f"web-{uuid.uuid4().hex[:8]}",
        policy=policy_file,
        secret_key=SecretStr("web-test-" + uuid.uuid4().hex),
    )
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        dev_server_extra_args=["--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true"],
    )
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    policy = load_policy(policy_file)
    activities = build_activities(sessions, None, ZoneInfo(settings.timezone), env.client, policy, settings.task_queue)
    app = create_app(settings, temporal=env.client)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, timeout_graceful_shutdown=2)
    )
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]  # pytest keeps Ctrl-C
    try:
        async with Worker(env.client, task_queue=settings.task_queue, workflows=WORKFLOWS, activities=activities):
            serving = asyncio.create_task(server.serve())
            try:
                while not server.started:
                    if serving.done():
                        serving.result()
                    await asyncio.sleep(0.02)
                async with async_playwright() as playwright:
                    executable = _chromium()
                    try:
                        browser = await playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
                    except Exception as exc:  # no Debian chromium and no Playwright browser either
                        no_browser(f"no Chromium to drive ({exc.__class__.__name__}: {str(exc)[:200]})")
                    stack = WebStack(f"http://127.0.0.1:{port}", browser, settings)
                    try:
                        yield stack
                    finally:
                        for context in stack.contexts.values():
                            await context.close()
                        await browser.close()
            finally:
                server.should_exit = True
                await serving
    finally:
        await engine.dispose()
        await env.shutdown()
        plain = make_url(pg_server_url).set(drivername="postgresql").render_as_string(hide_password=False)
        admin = await asyncpg.connect(plain)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{make_url(database_url).database}" WITH (FORCE)')
        finally:
            await admin.close()
