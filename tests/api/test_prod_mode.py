"""Outside dev mode no default password or secret is accepted."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from casebridge.api.app import create_app
from casebridge.settings import DEV_SECRET, Settings
from tests.api.conftest import Api

pytestmark = pytest.mark.timeout(60)


def test_prod_refuses_the_development_secret() -> None:
    with pytest.raises(ValidationError, match="CASEBRIDGE_SECRET_KEY"):
        Settings(env="prod", secret_key=SecretStr(DEV_SECRET))


async def test_prod_refuses_the_demo_password(api: Api) -> None:
    settings = api.settings.model_copy(update={"env": "prod"})
    app = create_app(settings, temporal=api.env.client)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        refused = await client.post("/api/v1/auth/token", data={"username": "officer", "password": "demo"})
        assert refused.status_code == 401
    # The same user and password are fine in the test app (dev-like mode).
    allowed = await api.client.post("/api/v1/auth/token", data={"username": "officer", "password": "demo"})
    assert allowed.status_code == 200
