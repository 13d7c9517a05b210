"""What the API process holds for its lifetime (made in the lifespan, not at import)."""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client

from casebridge.api.stream import EventBroadcaster
from casebridge.api.throttle import Throttle
from casebridge.domain.policy import Policy
from casebridge.settings import Settings


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    temporal: Client
    policy: Policy
    tz: ZoneInfo
    broadcaster: EventBroadcaster
    public_lookups: Throttle = field(default_factory=lambda: Throttle(limit=20, window_seconds=600))
    # Wrong passwords per username: after ten in fifteen minutes the account takes no login until
    # the window has moved on (per process, like the lookup throttle).
    login_failures: Throttle = field(default_factory=lambda: Throttle(limit=10, window_seconds=900))
