"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from casebridge.api.deps import StateDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _database(state: StateDep) -> bool:
    async with state.sessions() as session:
        await session.execute(text("SELECT 1"))
    return True


async def _worker_polling(state: StateDep) -> bool:
    response = await state.temporal.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=state.settings.temporal_namespace,
            task_queue=TaskQueue(name=state.settings.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return len(response.pollers) > 0


@router.get("/readyz")
async def readyz(state: StateDep) -> JSONResponse:
    checks: dict[str, bool] = {}
    for name, probe in (("database", _database), ("worker", _worker_polling)):
        try:
            checks[name] = await asyncio.wait_for(probe(state), timeout=3)
        except Exception:  # any failure means not ready; the check names which
            checks[name] = False
    checks["temporal"] = checks["worker"] or await _temporal_answers(state)
    ready = all(checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
    )


async def _temporal_answers(state: StateDep) -> bool:
    try:
        return await asyncio.wait_for(state.temporal.service_client.check_health(), timeout=3)
    except Exception:
        return False
