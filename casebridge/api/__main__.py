"""``python -m casebridge.api``: the API (and web UI) under uvicorn."""

from __future__ import annotations

import uvicorn

from casebridge.api.app import create_app
from casebridge.logs import configure_logging
from casebridge.settings import get_settings


def main() -> None:
    settings = get_settings()
    configure_logging(settings.json_logs, settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=settings.env != "prod",
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
