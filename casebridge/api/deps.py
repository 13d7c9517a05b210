"""Dependencies: the database session, the Temporal client, the policy, and the current user."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

import structlog
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from casebridge.api.errors import ServiceUnavailable
from casebridge.api.security import CurrentUserInfo, read_token
from casebridge.api.state import AppState
from casebridge.db.models import User
from casebridge.db.session import is_unavailable
from casebridge.domain.policy import Policy

log = structlog.get_logger(__name__)

bearer = HTTPBearer(auto_error=False, description="Bearer token from POST /api/v1/auth/token")


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.casebridge
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def get_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    session = state.sessions()
    try:
        yield session
    except Exception as exc:
        # Only a database that cannot serve (refused, lost, shutting down) is "unavailable"; any
        # other error is a bug to see.
        if is_unavailable(exc):
            raise ServiceUnavailable("the database is unavailable") from exc
        raise
    finally:
        try:
            await session.close()
        except Exception as exc:
            # Giving back a connection the server has dropped fails; the pool discards it. The
            # answer (often already sent) must not turn into a 500 or a cut connection for that.
            if not is_unavailable(exc):
                raise
            log.info("database session closed on a lost connection", error=str(exc))


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def get_temporal(state: StateDep) -> Client:
    return state.temporal


TemporalDep = Annotated[Client, Depends(get_temporal)]


def get_policy(state: StateDep) -> Policy:
    return state.policy


PolicyDep = Annotated[Policy, Depends(get_policy)]

UNAUTHORIZED = HTTPException(
    status.HTTP_401_UNAUTHORIZED,
    detail="未登录或登录已过期 / not authenticated or the token has expired",
    headers={"WWW-Authenticate": "Bearer"},
)


async def get_current_user(
    state: StateDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> CurrentUserInfo:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise UNAUTHORIZED
    username = read_token(credentials.credentials, state.settings.secret_key.get_secret_value())
    if username is None:
        raise UNAUTHORIZED
    user = await session.get(User, username)
    if user is None or not user.active:
        raise UNAUTHORIZED
    return CurrentUserInfo(user.username, user.role, user.department)


CurrentUser = Annotated[CurrentUserInfo, Depends(get_current_user)]


def require_roles(*roles: str) -> Callable[[CurrentUserInfo], CurrentUserInfo]:
    def check(user: CurrentUser) -> CurrentUserInfo:
        if user.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"该操作仅限 {'/'.join(roles)} / only {', '.join(roles)} may do this",
            )
        return user

    return check


Officer = Annotated[CurrentUserInfo, Depends(require_roles("officer"))]
Admin = Annotated[CurrentUserInfo, Depends(require_roles("admin"))]
