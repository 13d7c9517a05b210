"""The worker's own status lookup: case id + last four digits of the phone, no login, nothing personal."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from casebridge.api.deps import SessionDep, StateDep
from casebridge.api.schemas import PublicCaseOut
from casebridge.api.state import AppState
from casebridge.db import queries
from casebridge.db.models import Case

router = APIRouter(prefix="/api/v1/public", tags=["public"])

NOT_FOUND = "没有找到该个案，请核对编号和手机号后四位 / no case matches that id and phone number"


async def lookup(state: AppState, session: AsyncSession, client: str, case_id: str, phone_last4: str) -> Case:
    """The case a worker asks about, when the id and the phone's last four digits both match.
    Throttled per client after repeated misses (429), so pairs cannot be found by brute force.
    The JSON route and the web status page both look up through here."""
    if state.public_lookups.blocked(client):
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, detail="查询过于频繁，请稍后再试 / too many lookups")
    case = await queries.get_case(session, case_id) if len(case_id) <= 32 else None
    if case is None or not case.worker_phone.endswith(phone_last4):
        state.public_lookups.failed(client)
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=NOT_FOUND)
    return case


@router.get("/cases/{case_id}", response_model=PublicCaseOut, summary="Case status for the worker")
async def public_case(
    case_id: str,
    request: Request,
    state: StateDep,
    session: SessionDep,
    phone_last4: Annotated[str, Query(pattern=r"^\d{4}$", description="last 4 digits of the worker's phone")],
) -> PublicCaseOut:
    client = request.client.host if request.client else "unknown"
    case = await lookup(state, session, client, case_id, phone_last4)
    return PublicCaseOut(id=case.id, status=case.status, updated_at=case.updated_at.astimezone(state.tz))
