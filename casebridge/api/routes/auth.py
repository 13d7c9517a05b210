"""Log in (a bearer token) and who am I."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, status

from casebridge.api.deps import CurrentUser, SessionDep, StateDep
from casebridge.api.schemas import Me, Token
from casebridge.api.security import issue_token
from casebridge.db.models import User
from casebridge.db.seed import DEMO_PASSWORD
from casebridge.passwords import verify_password

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.post(
    "/auth/token",
    response_model=Token,
    summary="Log in with username and password (form fields)",
    description="Ten wrong passwords for one username within 15 minutes lock it (429) until the window moves on.",
)
async def login(
    username: Annotated[str, Form(min_length=1, max_length=50, pattern=r"^[\w.-]+$")],
    password: Annotated[str, Form(min_length=1, max_length=200)],
    state: StateDep,
    session: SessionDep,
) -> Token:
    failures = state.login_failures
    if failures.blocked(username):
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail="密码错误次数过多，请十五分钟后再试 / too many wrong passwords; try again in 15 minutes",
            headers={"Retry-After": str(int(failures.window))},
        )
    user = await session.get(User, username)
    # Outside dev mode the demo password is never accepted, even if such a user exists.
    demo_password_refused = state.settings.env == "prod" and password == DEMO_PASSWORD
    if user is None or not user.active or demo_password_refused or not verify_password(user.password_hash, password):
        failures.failed(username)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="用户名或密码错误 / wrong username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    failures.clear(username)
    ttl = timedelta(minutes=state.settings.token_ttl_minutes)
    return Token(access_token=issue_token(user.username, state.settings.secret_key.get_secret_value(), ttl))


@router.get("/me", response_model=Me)
async def me(user: CurrentUser) -> Me:
    return Me(username=user.username, role=user.role, department=user.department)
