"""Signed bearer tokens (HS256) and the user they stand for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"


@dataclass(frozen=True)
class CurrentUserInfo:
    username: str
    role: str
    department: str | None

    @property
    def is_officer(self) -> bool:
        return self.role == "officer"


def issue_token(username: str, secret: str, ttl: timedelta) -> str:
    now = datetime.now(UTC)
    return jwt.encode({"sub": username, "iat": now, "exp": now + ttl}, secret, algorithm=ALGORITHM)


def read_token(token: str, secret: str) -> str | None:
    """The username a valid, unexpired token was issued to; None otherwise."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]})
    except jwt.PyJWTError:
        return None
    subject = claims.get("sub")
    return subject if isinstance(subject, str) else None
