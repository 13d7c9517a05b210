"""``python -m casebridge.api``: the API (and web UI) under uvicorn."""

from __future__ import annotations

import uvicorn

from casebridge.api.app import create_app
from casebridge.domain.policy import PolicyError
from casebridge.entry import run_then_exit
from casebridge.logs import configure_logging
from casebridge.settings import get_settings


def run() -> None:
    settings = get_settings()
    configure_logging(settings.json_logs, settings.log_level)
    try:
        app = create_app(settings)
    except PolicyError as exc:
        raise SystemExit(f"casebridge api: {exc}") from exc
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=settings.env != "prod",
        timeout_graceful_shutdown=5,
    )


def main() -> None:
    run_then_exit(run)  # see casebridge.entry


if __name__ == "__main__":
    main()
