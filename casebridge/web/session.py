"""The web UI's session cookie and its CSRF token.

The session is a JWT signed with the same secret as the API's bearer tokens, but with an audience
of its own: a session cookie is never accepted as a bearer token, nor a bearer token as a session
(PyJWT refuses a token with an audience when none is expected, and one without when one is).

CSRF: every state-changing request must carry a token (form field ``csrf_token`` or header
``X-CSRF-Token``). Signed in, the token is bound to the session (a claim of the signed cookie);
before signing in (the login form) it is a double-submit cookie.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from casebridge.api.security import ALGORITHM

SESSION_COOKIE = "cb_session"
ANON_CSRF_COOKIE = "cb_csrf"
LANG_COOKIE = "cb_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
AUDIENCE = "casebridge-web"


@dataclass(frozen=True)
class WebSession:
    username: str
    csrf: str


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def issue_session(username: str, secret: str, ttl: timedelta) -> str:
    now = datetime.now(UTC)
    claims = {"sub": username, "csrf": new_csrf_token(), "aud": AUDIENCE, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_session(token: str | None, secret: str) -> WebSession | None:
    if not token:
        return None
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], audience=AUDIENCE, options={"require": ["sub", "exp", "aud"]}
        )
    except jwt.PyJWTError:
        return None
    subject, csrf = claims.get("sub"), claims.get("csrf")
    if not isinstance(subject, str) or not isinstance(csrf, str) or not csrf:
        return None
    return WebSession(subject, csrf)


def tokens_match(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
