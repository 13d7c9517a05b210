"""The case and assignment lifecycles as explicit tables. Every status change goes through here."""

from __future__ import annotations

from casebridge.domain.errors import InvalidTransition
from casebridge.domain.model import AssignmentStatus, CaseStatus

S = CaseStatus
A = AssignmentStatus

CASE_TRANSITIONS: frozenset[tuple[CaseStatus, CaseStatus]] = frozenset(
    {
        (S.IN_PROGRESS, S.ESCALATED),  # the officer asks, an overdue limit passes, or a second return
        (S.ESCALATED, S.IN_PROGRESS),  # the joint meeting records its decision (or drops the item)
        (S.IN_PROGRESS, S.RESOLVED),
        (S.RESOLVED, S.CLOSED),  # the worker is satisfied
        (S.RESOLVED, S.IN_PROGRESS),  # 重办: the worker is not satisfied
        (S.IN_PROGRESS, S.WITHDRAWN),
        (S.ESCALATED, S.WITHDRAWN),
        (S.RESOLVED, S.WITHDRAWN),
    }
)

ASSIGNMENT_TRANSITIONS: frozenset[tuple[AssignmentStatus, AssignmentStatus]] = frozenset(
    {
        (A.PENDING_ACK, A.ACKNOWLEDGED),
        (A.ACKNOWLEDGED, A.COMPLETED),
        (A.PENDING_ACK, A.RETURNED),
        (A.ACKNOWLEDGED, A.RETURNED),
    }
)

CASE_STATUS_ZH = {
    S.IN_PROGRESS: "办理中",
    S.ESCALATED: "已提请联席会议",
    S.RESOLVED: "已办结（待回访）",
    S.CLOSED: "已结案",
    S.WITHDRAWN: "已撤回",
}

ASSIGNMENT_STATUS_ZH = {
    A.PENDING_ACK: "待签收",
    A.ACKNOWLEDGED: "已签收",
    A.COMPLETED: "已办结",
    A.RETURNED: "已退回",
}


def check_case_transition(current: CaseStatus, target: CaseStatus) -> None:
    if (current, target) not in CASE_TRANSITIONS:
        raise InvalidTransition(
            f"个案当前状态为「{CASE_STATUS_ZH[current]}」，不能变为「{CASE_STATUS_ZH[target]}」",
            f"the case is {current.value} and cannot become {target.value}",
        )


def check_assignment_transition(department: str, current: AssignmentStatus, target: AssignmentStatus) -> None:
    if (current, target) not in ASSIGNMENT_TRANSITIONS:
        raise InvalidTransition(
            f"{department} 的派单任务当前为「{ASSIGNMENT_STATUS_ZH[current]}」，"
            f"不能变为「{ASSIGNMENT_STATUS_ZH[target]}」",
            f"the {department} assignment is {current.value} and cannot become {target.value}",
        )
