"""Server-sent events: one poller reads new events from PostgreSQL and fans them out.

One query per tick however many subscribers there are. Events are read by ``recorded_at`` with an
overlap window and de-duplicated by id, because ids are assigned at insert but become visible at
commit, so a cursor on id alone could skip an event committed late.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from casebridge.db.models import Case, CaseEvent

log = structlog.get_logger(__name__)

OVERLAP = timedelta(seconds=10)
SEEN_LIMIT = 50_000


@dataclass(frozen=True)
class StreamEvent:
    id: int
    case_id: str
    seq: int
    type: str
    at: datetime
    actor: str
    data: dict[str, Any]
    departments: tuple[str, ...]


Filter = Callable[[StreamEvent], bool]


class EventBroadcaster:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], interval: float = 0.25) -> None:
        self._sessions = sessions
        self._interval = interval
        self._subscribers: dict[asyncio.Queue[StreamEvent], Filter] = {}
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._since: datetime | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-broadcaster")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def subscribe(self, accept: Filter) -> asyncio.Queue[StreamEvent]:
        queue: asyncio.Queue[StreamEvent] = asyncio.Queue(maxsize=10_000)
        self._subscribers[queue] = accept
        return queue

    def unsubscribe(self, queue: asyncio.Queue[StreamEvent]) -> None:
        self._subscribers.pop(queue, None)

    async def _run(self) -> None:
        while True:
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a database outage must not end the stream for good
                log.warning("event stream poll failed", error=str(exc))
                await asyncio.sleep(2)
            await asyncio.sleep(self._interval)

    async def _tick(self) -> None:
        async with self._sessions() as session:
            if self._since is None:
                self._since = await session.scalar(select(func.now()))
                return
            rows = (
                await session.execute(
                    select(CaseEvent, Case.departments)
                    .join(Case, Case.id == CaseEvent.case_id)
                    .where(CaseEvent.recorded_at >= self._since - OVERLAP)
                    .order_by(CaseEvent.id)
                )
            ).all()
            self._since = await session.scalar(select(func.now()))
        for event, departments in rows:
            if event.id in self._seen:
                continue
            self._seen[event.id] = None
            if len(self._seen) > SEEN_LIMIT:
                self._seen.popitem(last=False)
            self._publish(
                StreamEvent(
                    event.id,
                    event.case_id,
                    event.seq,
                    event.type,
                    event.at,
                    event.actor,
                    event.data,
                    tuple(departments),
                )
            )

    def _publish(self, event: StreamEvent) -> None:
        for queue, accept in list(self._subscribers.items()):
            if accept(event):
                try:
                    queue.put_nowait(event)
                except asyncio.QueueFull:  # a stalled client loses its stream, not the server
                    self.unsubscribe(queue)
