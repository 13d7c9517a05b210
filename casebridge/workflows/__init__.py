"""Deterministic workflow code: imports only temporalio, domain, and activity references."""

from casebridge.workflows.case import CaseWorkflow, CaseWorkflowInput
from casebridge.workflows.meeting import JointMeetingWorkflow, MeetingWorkflowInput
from casebridge.workflows.webhooks import WebhookDispatcherWorkflow

WORKFLOWS = [CaseWorkflow, JointMeetingWorkflow, WebhookDispatcherWorkflow]

__all__ = ["WORKFLOWS", "CaseWorkflow", "CaseWorkflowInput", "JointMeetingWorkflow", "MeetingWorkflowInput"]
