"""Administration: users, the policy in force, and calendar updates."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import select

from casebridge.api.deps import Admin, CurrentUser, PolicyDep, SessionDep, StateDep
from casebridge.api.schemas import CategoryOut, Me, PolicyOut, RecomputeOut, UserCreate
from casebridge.db.models import User
from casebridge.domain.model import Actor
from casebridge.operations import recompute_provisional_deadlines
from casebridge.passwords import hash_password

router = APIRouter(prefix="/api/v1", tags=["admin"])


@router.get("/policy", response_model=PolicyOut, summary="The routing and deadline policy for new cases")
async def get_policy(_: CurrentUser, policy: PolicyDep) -> PolicyOut:
    return PolicyOut(
        digest=policy.digest,
        meeting_interval=policy.meeting_interval,
        departments={code: d.name for code, d in policy.departments.items()},
        categories=[
            CategoryOut(
                category=c.category,
                label=c.label,
                lead=c.lead,
                assist=c.assist,
                ack_within=c.ack_within,
                resolve_within=c.resolve_within,
                warn_at=c.warn_at,
                escalate_after_overdue=c.escalate_after_overdue,
            )
            for c in policy.categories.values()
        ],
    )


@router.get("/admin/users", response_model=list[Me])
async def list_users(_: Admin, session: SessionDep) -> list[Me]:
    users = await session.scalars(select(User).order_by(User.username))
    return [Me(username=u.username, role=u.role, department=u.department) for u in users]


@router.post("/admin/users", response_model=Me, status_code=201)
async def create_user(body: UserCreate, _: Admin, session: SessionDep, policy: PolicyDep) -> Me:
    if body.role == "department" and body.department not in policy.departments:
        raise HTTPException(422, detail="部门用户须指定已知单位 / a department user needs a known department")
    if body.role != "department" and body.department is not None:
        raise HTTPException(422, detail="只有部门用户属于单位 / only department users belong to a department")
    if await session.get(User, body.username) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="用户名已存在 / that username is taken")
    session.add(
        User(
            username=body.username,
            password_hash=hash_password(body.password),
            role=body.role,
            department=body.department,
        )
    )
    await session.commit()
    return Me(username=body.username, role=body.role, department=body.department)


@router.post(
    "/admin/calendar/recompute",
    response_model=RecomputeOut,
    summary="Recompute provisional deadlines after the calendar (override file) gained a year",
)
async def recompute_calendar(user: Admin, state: StateDep) -> RecomputeOut:
    cases, moved = await recompute_provisional_deadlines(
        state.sessions, state.temporal, Actor(user.username, user.role, user.department)
    )
    return RecomputeOut(cases=cases, moved=moved)
