"""`make run`: start PostgreSQL and Temporal (unless real ones are configured), migrate, seed the
demo users, run the worker and the API, print where everything is, and stop it all in order on
Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from casebridge.devstack.postgres import start_postgres
from casebridge.devstack.processes import (
    HOST,
    ManagedProcess,
    StartupError,
    ensure_port_free,
    log_dir,
    log_tail,
    port_answers,
    run_dir,
    run_sync,
    spawn,
    stop_leftovers,
)
from casebridge.devstack.temporal import start_temporal, wait_for_temporal
from casebridge.settings import Settings

DEMO_USERS = "officer, hrss, justice, traffic, leader, admin"
API_START_TIMEOUT = 60.0


class Shutdown(BaseException):  # noqa: N818 - a control-flow signal, like KeyboardInterrupt
    """Raised in the main thread by SIGINT/SIGTERM/SIGHUP."""


def say(message: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # the terminal may be gone (SIGHUP)
        sys.stdout.write(message + "\n")
        sys.stdout.flush()


def main() -> None:
    try:
        settings = Settings()
    except ValueError as exc:
        say(f"casebridge: invalid settings: {exc}")
        sys.exit(2)
    sys.exit(run(settings))


def run(settings: Settings) -> int:
    """Run the stack in the foreground until a signal (exit code 0) or a child dies (1)."""
    data_dir = settings.data_dir.resolve()
    for directory in (data_dir, log_dir(data_dir), run_dir(data_dir)):
        directory.mkdir(parents=True, exist_ok=True)
    started: list[ManagedProcess] = []
    stopping = False

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if not stopping:  # a second Ctrl-C must not interrupt the orderly shutdown
            stopping = True
            raise Shutdown(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        started_at = time.monotonic()
        leftovers = stop_leftovers(data_dir)
        if leftovers:
            say(f"stopped processes left over from an earlier run: {', '.join(leftovers)}")
        _check_ports(settings)
        database_url, temporal_address, temporal_ui = _start_servers(settings, data_dir, started)
        _migrate_and_seed(database_url)
        env = _child_env(settings, data_dir, database_url, temporal_address)
        for name in ("worker", "api"):
            module = f"casebridge.{name}"
            started.append(spawn(name, [sys.executable, "-m", module], data_dir, env=env, tee=True))
        _wait_for_api(settings, started)
        _banner(settings, data_dir, database_url, temporal_address, temporal_ui, time.monotonic() - started_at)
        return _watch(started)
    except Shutdown as why:
        say(f"\n{why}: stopping ...")
        return 0
    except StartupError as exc:
        say(f"casebridge: {exc}")
        return 1
    finally:
        stopping = True
        _stop_all(started)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _check_ports(settings: Settings) -> None:
    """Fail before starting anything if a port we need is taken (our own leftovers are gone by now)."""
    if not settings.database_url:
        ensure_port_free(settings.embedded_pg_port, "the embedded PostgreSQL", "CASEBRIDGE_EMBEDDED_PG_PORT")
    if not settings.temporal_address:
        ensure_port_free(settings.temporal_port, "the embedded Temporal server", "CASEBRIDGE_TEMPORAL_PORT")
        ensure_port_free(settings.temporal_ui_port, "the Temporal web UI", "CASEBRIDGE_TEMPORAL_UI_PORT")
    ensure_port_free(settings.http_port, "the web UI and API", "CASEBRIDGE_HTTP_PORT", host=settings.http_host)


def _start_servers(settings: Settings, data_dir: Path, started: list[ManagedProcess]) -> tuple[str, str, str | None]:
    if settings.database_url:
        database_url = settings.database_url
        _wait_for_database(database_url)
    else:
        say(f"starting PostgreSQL on {HOST}:{settings.embedded_pg_port} ...")
        postgres = start_postgres(data_dir, settings.embedded_pg_port)
        started.append(postgres)
        database_url = postgres.url
    if settings.temporal_address:
        temporal_address, temporal_ui = settings.temporal_address, None
        wait_for_temporal(temporal_address, settings.temporal_namespace, timeout=30.0)
    else:
        say(f"starting Temporal on {HOST}:{settings.temporal_port} ...")
        temporal = start_temporal(
            data_dir, settings.temporal_port, settings.temporal_ui_port, settings.temporal_namespace
        )
        started.append(temporal)
        temporal_address, temporal_ui = temporal.address, temporal.ui_url
    return database_url, temporal_address, temporal_ui


def _wait_for_database(database_url: str, timeout: float = 30.0) -> None:
    import asyncpg

    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)

    async def select_one() -> None:
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()

    deadline = time.monotonic() + timeout
    while True:
        try:
            run_sync(select_one())
            return
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            if time.monotonic() > deadline:
                raise StartupError(f"PostgreSQL at {_redacted(database_url)} does not answer: {exc}") from exc
        time.sleep(0.5)


def _migrate_and_seed(database_url: str) -> None:
    from casebridge.db.migrate import upgrade
    from casebridge.db.seed import seed_demo_users

    say("applying database migrations ...")
    upgrade(database_url)
    if asyncio.run(seed_demo_users(database_url)):
        say(f"demo users created: {DEMO_USERS} — password `demo`")


def _child_env(settings: Settings, data_dir: Path, database_url: str, temporal_address: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CASEBRIDGE_DATABASE_URL=database_url,
        CASEBRIDGE_TEMPORAL_ADDRESS=temporal_address,
        CASEBRIDGE_DATA_DIR=str(data_dir),
        PYTHONUNBUFFERED="1",
    )
    env.setdefault("CASEBRIDGE_ENV", settings.env)
    return env


def _wait_for_api(settings: Settings, started: list[ManagedProcess]) -> None:
    deadline = time.monotonic() + API_START_TIMEOUT
    while not port_answers(settings.http_port, _reachable(settings.http_host)):
        for proc in started:
            if not proc.alive():
                raise StartupError(
                    f"{proc.name} exited with code {proc.returncode} while starting; log: {proc.log_path}\n"
                    f"{log_tail(proc.log_path)}"
                )
        if time.monotonic() > deadline:
            raise StartupError(
                f"the API did not answer on port {settings.http_port} within {API_START_TIMEOUT:.0f}s; "
                f"log: {log_dir(Path(settings.data_dir).resolve()) / 'api.log'}"
            )
        time.sleep(0.2)


def _watch(started: list[ManagedProcess], poll: float = 0.5) -> int:
    while True:
        for proc in started:
            if not proc.alive():
                say(f"\n{proc.name} exited unexpectedly with code {proc.returncode}; log: {proc.log_path}")
                say("stopping the rest ...")
                return 1
        time.sleep(poll)


def _stop_all(started: list[ManagedProcess]) -> None:
    """Stop in reverse start order: API, worker, Temporal, PostgreSQL."""
    for proc in reversed(started):
        if proc.alive():
            say(f"stopping {proc.name} ...")
        proc.stop()
    if started:
        say("stopped.")


def _banner(
    settings: Settings,
    data_dir: Path,
    database_url: str,
    temporal_address: str,
    temporal_ui: str | None,
    elapsed: float,
) -> None:
    web = f"http://{_reachable(settings.http_host)}:{settings.http_port}"
    rows: list[tuple[str, str]] = [
        ("web UI", f"{web}/"),
        ("API docs", f"{web}/docs"),
        ("metrics", f"{web}/metrics"),
        ("Temporal UI", temporal_ui or "(external Temporal server)"),
        ("Temporal", f"{temporal_address}  namespace {settings.temporal_namespace}"),
        ("PostgreSQL", _redacted(database_url)),
        ("data dir", f"{data_dir}  (logs in {log_dir(data_dir)})"),
    ]
    if settings.env == "dev":
        rows.append(("demo logins", f"{DEMO_USERS} — password `demo`"))
    width = max(len(label) for label, _ in rows)
    lines = [f"  {label:<{width}}  {value}" for label, value in rows]
    rule = "=" * 72
    say(
        "\n".join(
            [rule, f"  Casebridge is running (started in {elapsed:.1f}s) — Ctrl-C stops everything", *lines, rule]
        )
    )


def _reachable(host: str) -> str:
    return HOST if host in ("0.0.0.0", "::", "") else host


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
