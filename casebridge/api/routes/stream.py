"""GET /api/v1/events/stream: every case event the user may see, as server-sent events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from casebridge.api.deps import CurrentUser, StateDep
from casebridge.api.security import CurrentUserInfo
from casebridge.api.state import AppState
from casebridge.api.stream import StreamEvent

router = APIRouter(prefix="/api/v1/events", tags=["events"])

HEARTBEAT_SECONDS = 15.0


def visible_to(user: CurrentUserInfo) -> Callable[[StreamEvent], bool]:
    if user.role == "department":
        department = user.department
        return lambda event: department is not None and department in event.departments
    return lambda event: True


def render(event: StreamEvent, tz: ZoneInfo) -> str:
    body = {
        "case_id": event.case_id,
        "seq": event.seq,
        "type": event.type,
        "at": event.at.astimezone(tz).isoformat(),
        "actor": event.actor,
        "data": event.data,
    }
    return f"id: {event.id}\nevent: case_event\ndata: {json.dumps(body, ensure_ascii=False)}\n\n"


def event_stream(request: Request, user: CurrentUserInfo, state: AppState) -> StreamingResponse:
    """The SSE response for ``user``: the JSON route and the web pages (cookie session) share it."""
    queue = state.broadcaster.subscribe(visible_to(user))

    async def events() -> AsyncIterator[str]:
        try:
            yield ": connected\n\n"
            while not await request.is_disconnected():
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield render(event, state.tz)
        finally:
            state.broadcaster.unsubscribe(queue)

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


@router.get("/stream", summary="Server-sent events, one per case event the user may see")
async def stream(request: Request, user: CurrentUser, state: StateDep) -> StreamingResponse:
    return event_stream(request, user, state)
