"""Deterministic workflow code: imports only temporalio, domain, and activity references."""

from casebridge.workflows.case import CaseWorkflow, CaseWorkflowInput

WORKFLOWS = [CaseWorkflow]

__all__ = ["WORKFLOWS", "CaseWorkflow", "CaseWorkflowInput"]
