"""The API in-process (httpx over ASGI) against a real Temporal dev server, a worker on its own
task queue and a real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from casebridge.activities import build_activities
from casebridge.api.app import create_app
from casebridge.db.seed import seed_demo_users
from casebridge.policy_source import load_policy
from casebridge.settings import Settings
from casebridge.workflows import WORKFLOWS
from tests.conftest import binary

ROLES = ("officer", "hrss", "justice", "traffic", "leader", "admin")


@dataclass
class Api:
    client: httpx.AsyncClient
    tokens: dict[str, str]
    env: WorkflowEnvironment
    settings: Settings

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    async def create_case(self, body: dict[str, object], user: str = "officer") -> dict[str, object]:
        response = await self.client.post("/api/v1/cases", json=body, headers=self.auth(user))
        assert response.status_code == 201, response.text
        result: dict[str, object] = response.json()
        return result

    async def post(self, path: str, user: str, body: object | None = None) -> httpx.Response:
        return await self.client.post(path, json=body, headers=self.auth(user))


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        dev_server_extra_args=["--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true"],
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def api(
    dev_env: WorkflowEnvironment, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Api]:
    settings = Settings(
        env="test",
        database_url=database_url,
        temporal_address="unused",
        temporal_namespace="default",
        task_queue=f"api-{uuid.uuid4().hex[:8]}",
        secret_key=SecretStr("test-secret-" + uuid.uuid4().hex),
    )
    await seed_demo_users(database_url)
    activities = build_activities(
        sessions, None, ZoneInfo(settings.timezone), dev_env.client, load_policy(settings.policy), settings.task_queue
    )
    app = create_app(settings, temporal=dev_env.client)
    async with (
        Worker(dev_env.client, task_queue=settings.task_queue, workflows=WORKFLOWS, activities=activities),
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=60) as client,
    ):
        tokens = {}
        for user in ROLES:
            response = await client.post("/api/v1/auth/token", data={"username": user, "password": "demo"})
            assert response.status_code == 200, response.text
            tokens[user] = response.json()["access_token"]
        yield Api(client, tokens, dev_env, settings)


def courier_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "worker": {"name": "杨书", "phone": "13912345678", "occupation": "快递员", "platform": "某快递"},
        "category": "wage_arrears",
        "title": "快递员一年工资未发",
        "description": "杨书已一年没有拿到工资，在驿站法律援助点求助。",
        "station": "暖心驿站（江北）",
        "counterparty": "某快递网点",
        "amount_claimed": "36000.00",
    }
    body.update(overrides)
    return body


def truck_driver_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "worker": {"name": "陈力", "phone": "13800138000", "occupation": "卡车司机", "platform": "昆磨高速货运线"},
        "category": "work_injury",
        "title": "卸货时从车上摔下受伤，事故责任有争议",
        "description": "卡车司机陈力卸货时从车上滑落，腿部骨折，因事故责任有争议未获赔偿。",
        "station": "司机之家",
        "counterparty": "某物流公司",
        "departments": ["traffic", "hrss"],
    }
    body.update(overrides)
    return body


def hazard_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "worker": {"name": "李松", "phone": "13711112222", "occupation": "外卖骑手", "platform": "美团"},
        "category": "safety_hazard",
        "title": "楼道外空调外机松动，随时可能坠落",
        "description": "骑手李松在景亮社区发现楼道外空调外机悬空松动。",
        "station": "景亮社区",
    }
    body.update(overrides)
    return body
