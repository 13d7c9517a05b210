"""All I/O: the read model writer and the working-day calendar."""

from __future__ import annotations

from datetime import tzinfo
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from casebridge.activities.deadlines import DeadlineActivities
from casebridge.activities.projection import ProjectionActivities
from casebridge.calendar_source import load_calendar


def build_activities(
    sessions: async_sessionmaker[AsyncSession], calendar_overrides: Path | None, tz: tzinfo
) -> list[object]:
    deadlines = DeadlineActivities(lambda: load_calendar(calendar_overrides), tz)
    projection = ProjectionActivities(sessions)
    return [deadlines.compute_schedule, projection.project_case]
