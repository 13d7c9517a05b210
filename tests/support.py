"""Helpers shared by the tiers: the seed's cases, actors, and a worker on its own task queue."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.worker import Worker

from casebridge.activities import build_activities
from casebridge.db.models import Meeting
from casebridge.domain.model import Actor, CaseInput, CaseSnapshot
from casebridge.domain.model import Worker as CaseWorker
from casebridge.domain.policy import Policy
from casebridge.policy_source import load_policy
from casebridge.settings import DEFAULT_POLICY
from casebridge.workflows import WORKFLOWS, CaseWorkflow, CaseWorkflowInput

SHANGHAI = ZoneInfo("Asia/Shanghai")
OFFICER = Actor("officer", "officer")
LEADER = Actor("leader", "leader")


def dept(code: str) -> Actor:
    return Actor(code, "department", code)


def default_policy() -> Policy:
    return load_policy(DEFAULT_POLICY)


def truck_driver(case_id: str, policy: Policy) -> CaseInput:
    """Seed story 1: 陈力 slipped off his truck unloading; liability disputed, no compensation."""
    return CaseInput(
        id=case_id,
        category="work_injury",
        title="卸货时从车上摔下受伤，事故责任有争议，工伤赔偿无着落",
        description="昆磨高速货运线卡车司机陈力卸货时从车上滑落，腿部骨折并多处擦伤，医疗费用高昂。",
        worker=CaseWorker("陈力", "13800138000", "卡车司机", "昆磨高速货运线"),
        policy=policy.categories["work_injury"],
        departments_known=sorted(policy.departments),
        created_by="officer",
        station="司机之家",
        counterparty="某物流公司",
        departments=["traffic", "hrss"],
    )


def courier(case_id: str, policy: Policy) -> CaseInput:
    """Seed story 2: 杨书, a courier, unpaid for a year."""
    return CaseInput(
        id=case_id,
        category="wage_arrears",
        title="快递员一年工资未发",
        description="快递员杨书已一年没有拿到工资，在驿站法律援助点求助。",
        worker=CaseWorker("杨书", "13912345678", "快递员", "某快递网点"),
        policy=policy.categories["wage_arrears"],
        departments_known=sorted(policy.departments),
        created_by="officer",
        station="暖心驿站（江北）",
        counterparty="某快递网点",
        amount_claimed="36000.00",
    )


def hazard(case_id: str, policy: Policy) -> CaseInput:
    """Seed story 3: 李松 saw an air-conditioner unit about to fall in 景亮社区."""
    return CaseInput(
        id=case_id,
        category="safety_hazard",
        title="楼道外空调外机松动，随时可能坠落",
        description="外卖骑手李松在江北街道景亮社区送餐时发现楼道外空调外机悬空松动。",
        worker=CaseWorker("李松", "13711112222", "外卖骑手", "美团"),
        policy=policy.categories["safety_hazard"],
        departments_known=sorted(policy.departments),
        created_by="officer",
        station="景亮社区",
    )


def new_case_id() -> str:
    return f"CB-T{uuid.uuid4().hex[:10].upper()}"


class CaseRunner:
    """A worker on its own task queue; cases it opened are terminated when it stops, because the
    time-skipping server cannot skip time past a workflow task that no worker will pick up."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self.client = client
        self.task_queue = task_queue
        self.handles: list[WorkflowHandle[CaseWorkflow, str]] = []

    async def open(self, case: CaseInput) -> tuple[WorkflowHandle[CaseWorkflow, str], CaseSnapshot]:
        handle = await self.client.start_workflow(
            CaseWorkflow.run, CaseWorkflowInput(case=case), id=case.id, task_queue=self.task_queue
        )
        self.handles.append(handle)
        return handle, await handle.execute_update(CaseWorkflow.opened)

    async def close(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        for handle in self.handles:
            with contextlib.suppress(RPCError):
                await handle.terminate("test finished")
        # Meetings planned by this worker's cases live on its task queue, which is going away:
        # end them and take them out of the shared read model so the next test plans its own.
        async with sessions() as session, session.begin():
            open_meetings = list(await session.scalars(select(Meeting.id).where(Meeting.status != "closed")))
            for meeting_id in open_meetings:
                with contextlib.suppress(RPCError):
                    await self.client.get_workflow_handle(meeting_id).terminate("test finished")
            await session.execute(delete(Meeting).where(Meeting.id.in_(open_meetings)))


@asynccontextmanager
async def running_worker(
    client: Client, sessions: async_sessionmaker[AsyncSession], overrides: Path | None = None
) -> AsyncIterator[CaseRunner]:
    runner = CaseRunner(client, f"test-{uuid.uuid4().hex[:8]}")
    activities = build_activities(sessions, overrides, SHANGHAI, client, default_policy(), runner.task_queue)
    try:
        async with Worker(client, task_queue=runner.task_queue, workflows=WORKFLOWS, activities=activities):
            yield runner
    finally:
        await runner.close(sessions)
