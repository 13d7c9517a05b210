"""Record the seed scenarios' workflow histories into tests/replay/histories/.

Run it (``python -m tests.replay.record_histories [--prefix P] [scenario ...]``) for a new
scenario, or after a workflow change guarded by ``workflow.patched``: record the scenarios again
under a new prefix (``--prefix v2-``) and keep the old files, so the replay test proves both that
cases started before the change still replay and that cases started after it do. Never overwrite
a history that cases in production may have.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from casebridge.db.migrate import upgrade_async
from casebridge.db.session import make_engine, make_session_factory
from casebridge.devstack import free_port, start_postgres
from tests.conftest import binary
from tests.replay.scenarios import SCENARIOS
from tests.support import running_worker

HISTORIES = Path(__file__).parent / "histories"


async def record(only: set[str], prefix: str = "") -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="casebridge-record-"))
    with start_postgres(data_dir, free_port()) as pg:
        await upgrade_async(pg.url)
        engine = make_engine(pg.url)
        env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=binary("temporal-test-server"))
        try:
            for name, scenario in SCENARIOS.items():
                if only and name not in only:
                    continue
                async with running_worker(env.client, make_session_factory(engine)) as cases:
                    result = await scenario(env, cases)
                    handles = result if isinstance(result, list) else [result]
                    for index, handle in enumerate(handles):
                        suffix = f"-{index}" if index else ""
                        history = await handle.fetch_history()
                        (HISTORIES / f"{prefix}{name}{suffix}.json").write_text(history.to_json(), encoding="utf-8")
        finally:
            await env.shutdown()
            await engine.dispose()
    shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    # Names given: record only those scenarios (old histories must stay as they were recorded).
    args = sys.argv[1:]
    prefix = ""
    if args[:1] == ["--prefix"] and len(args) > 1:
        prefix, args = args[1], args[2:]
    asyncio.run(record(set(args), prefix))
