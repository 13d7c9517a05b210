"""Container health checks of the Casebridge image (docker-compose.yml ``healthcheck``).

``python healthcheck.py api``     GET /healthz on this container's API port answers 200.
``python healthcheck.py worker``  this container's worker polls both the workflow and the activity
                                  task queue: a poller whose identity is ``<pid>@<this hostname>``
                                  (the Temporal SDK's default identity) was seen within the last
                                  few minutes. A worker that runs but no longer polls is unhealthy.

Exit code 0 = healthy, 1 = unhealthy (the reason on stderr). The worker check reads the same
CASEBRIDGE_* settings and connects the same way as the worker itself.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

# A worker long-polls each queue for up to ~70 s, so a poller seen within 3 minutes is a live one.
FRESH = timedelta(minutes=3)


def check_api() -> str | None:
    port = os.environ.get("CASEBRIDGE_HTTP_PORT", "8000")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return None if response.status == 200 else f"/healthz answered {response.status}"
    except (OSError, urllib.error.URLError) as exc:
        return f"/healthz did not answer: {exc}"


async def check_worker() -> str | None:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    from casebridge.settings import Settings
    from casebridge.temporal import connect

    settings = Settings()
    client = await connect(settings, attempts=1)
    suffix = f"@{socket.gethostname()}"
    now = datetime.now(UTC)
    for kind, queue_type in (
        ("workflow", TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
        ("activity", TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
    ):
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=settings.temporal_namespace,
                task_queue=TaskQueue(name=settings.task_queue),
                task_queue_type=queue_type,
            ),
            timeout=timedelta(seconds=5),
        )
        ours = [
            poller
            for poller in response.pollers
            if poller.identity.endswith(suffix) and now - poller.last_access_time.ToDatetime(tzinfo=UTC) < FRESH
        ]
        if not ours:
            return f"no {kind} poller of this host ({suffix[1:]}) on task queue {settings.task_queue!r}"
    return None


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "api":
        problem = check_api()
    elif mode == "worker":
        try:
            problem = asyncio.run(asyncio.wait_for(check_worker(), timeout=20))
        except Exception as exc:  # unreachable server, bad settings, timeout: all mean unhealthy
            problem = f"{type(exc).__name__}: {exc}"
    else:
        problem = "usage: healthcheck.py api|worker"
    if problem:
        sys.stderr.write(f"unhealthy: {problem}\n")
    sys.stderr.flush()
    sys.stdout.flush()
    # Skip interpreter teardown: a short-lived Temporal client can abort at exit (sdk-python#300).
    os._exit(1 if problem else 0)


if __name__ == "__main__":
    main()
