"""Saved histories of the seed scenarios replay against the current workflow code.

A change that alters the commands a running case would issue fails here: guard it with
``workflow.patched(...)`` (README, "Changing workflow code safely").
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from casebridge.workflows import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))

pytestmark = pytest.mark.timeout(60)


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))


def test_histories_are_saved() -> None:
    assert len(HISTORIES) >= 3, "the seed scenarios' histories must be in tests/replay/histories"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    history = load(path)
    result = await Replayer(workflows=WORKFLOWS).replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
