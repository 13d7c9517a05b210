"""All I/O: the read model writers, the working-day calendar, and meeting placement."""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from casebridge.activities.deadlines import DeadlineActivities
from casebridge.activities.meetings import MeetingActivities
from casebridge.activities.projection import ProjectionActivities
from casebridge.activities.webhooks import WebhookActivities
from casebridge.calendar_source import load_calendar
from casebridge.domain.policy import Policy


def build_activities(
    sessions: async_sessionmaker[AsyncSession],
    calendar_overrides: Path | None,
    tz: tzinfo,
    client: Client,
    policy: Policy,
    task_queue: str,
) -> list[Callable[..., Any]]:
    deadlines = DeadlineActivities(lambda: load_calendar(calendar_overrides), tz)
    projection = ProjectionActivities(sessions)
    meetings = MeetingActivities(
        sessions,
        lambda: client,
        task_queue,
        policy.meeting_interval,
        {code: d.name for code, d in policy.departments.items()},
        lambda: load_calendar(calendar_overrides),
        tz,
    )
    webhooks = WebhookActivities(sessions)
    return [
        deadlines.compute_schedule,
        projection.project_case,
        meetings.project_meeting,
        meetings.place_on_agenda,
        meetings.carry_over,
        meetings.apply_case_decision,
        meetings.release_case,
        webhooks.next_deliveries,
        webhooks.deliver,
        webhooks.disable_subscription,
    ]
