"""Demo users for a new development data dir (password ``demo``)."""

from __future__ import annotations

from sqlalchemy import func, select

from casebridge.db.models import User
from casebridge.db.session import make_engine, make_session_factory
from casebridge.passwords import hash_password

DEMO_PASSWORD = "demo"

DEMO_USERS: list[tuple[str, str, str | None]] = [
    ("officer", "officer", None),
    ("hrss", "department", "hrss"),
    ("justice", "department", "justice"),
    ("traffic", "department", "traffic"),
    ("leader", "leader", None),
    ("admin", "admin", None),
]


async def seed_demo_users(database_url: str, password: str = DEMO_PASSWORD) -> bool:
    """Create the demo users if there are no users at all; True when it created them."""
    engine = make_engine(database_url, pool_size=1)
    try:
        async with make_session_factory(engine)() as session, session.begin():
            if await session.scalar(select(func.count()).select_from(User)):
                return False
            hashed = hash_password(password)
            session.add_all(
                User(username=name, password_hash=hashed, role=role, department=dept) for name, role, dept in DEMO_USERS
            )
            return True
    finally:
        await engine.dispose()
