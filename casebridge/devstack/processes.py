"""Child processes of the dev stack: spawning, pid files, leftover clean-up, ports.

Every child records ``<data_dir>/run/<name>.pid`` (pid, start time, command line). After a crash
the next start stops the processes those files name -- but only a live process with the same pid,
start time and command line, so a recycled pid is never mistaken for ours.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Self, TypeVar

import psutil

HOST = "127.0.0.1"


class StartupError(RuntimeError):
    """A server of the stack could not be started; the message says which and where its log is."""


def run_dir(data_dir: Path) -> Path:
    return data_dir / "run"


def log_dir(data_dir: Path) -> Path:
    return data_dir / "logs"


def free_port(host: str = HOST) -> int:
    """A TCP port that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR ignores TIME_WAIT leftovers but still fails if something listens.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def port_answers(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _port_owner(port: int) -> str:
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                proc = psutil.Process(conn.pid)
                return f" by pid {conn.pid} ({' '.join(proc.cmdline())[:80]})"
    return ""


def ensure_port_free(port: int, what: str, env_var: str, host: str = HOST) -> None:
    if not port_is_free(port, host):
        raise StartupError(
            f"port {port} on {host} for {what} is already in use{_port_owner(port)}; "
            f"stop that program or choose another port with {env_var}=..."
        )


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "\n".join("    " + line for line in text)


class ManagedProcess:
    """A child process with a pid file and a log; ``stop()`` ends it and removes the pid file."""

    def __init__(
        self,
        name: str,
        popen: subprocess.Popen[bytes],
        log_path: Path,
        pidfile: Path,
        stop_signal: int = signal.SIGTERM,
        stop_timeout: float = 20.0,
    ) -> None:
        self.name = name
        self.popen = popen
        self.log_path = log_path
        self.pidfile = pidfile
        self.stop_signal = stop_signal
        self.stop_timeout = stop_timeout
        self._pump: threading.Thread | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def stop(self, timeout: float | None = None) -> int:
        """Ask the process to stop; kill it if it has not exited within ``timeout`` seconds."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(self.stop_signal)
            try:
                self.popen.wait(self.stop_timeout if timeout is None else timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if self._pump is not None:
            self._pump.join(timeout=5)
        self.pidfile.unlink(missing_ok=True)
        return self.popen.returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} pid={self.pid} alive={self.alive()}>"


P = TypeVar("P", bound=ManagedProcess)
T = TypeVar("T")


def _tee(stream: IO[bytes], log: IO[bytes], prefix: str) -> None:
    for line in iter(stream.readline, b""):
        log.write(line)
        log.flush()
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.write(prefix + line.decode(errors="replace"))
            sys.stdout.flush()
    stream.close()
    log.close()


def spawn(
    name: str,
    argv: Sequence[str],
    data_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    user: int | None = None,
    group: int | None = None,
    stop_signal: int = signal.SIGTERM,
    stop_timeout: float = 20.0,
    tee: bool = False,
    cwd: Path | None = None,
    cls: type[P] = ManagedProcess,  # type: ignore[assignment]
    **extra: Any,
) -> P:
    """Start ``argv`` in its own session (Ctrl-C reaches only the supervisor, which stops the
    children in order). Output goes to ``<data_dir>/logs/<name>.log``, with ``tee`` also to our
    stdout, prefixed with the name."""
    log_path = log_dir(data_dir) / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {name}\n".encode())
    log.flush()
    ids: dict[str, Any] = {}
    if user is not None:
        ids = {"user": user, "group": group, "extra_groups": []}
    try:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if tee else log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            cwd=cwd,
            **ids,
        )
    except OSError as exc:
        log.close()
        raise StartupError(f"could not start {name} ({argv[0]}): {exc}") from exc
    pidfile = run_dir(data_dir) / f"{name}.pid"
    _write_pidfile(pidfile, popen.pid, stop_signal)
    proc = cls(name, popen, log_path, pidfile, stop_signal, stop_timeout, **extra)
    if tee:
        assert popen.stdout is not None
        proc._pump = threading.Thread(
            target=_tee, args=(popen.stdout, log, f"{name:<7}| "), name=f"tee-{name}", daemon=True
        )
        proc._pump.start()
    else:
        log.close()  # the child holds its own copy
    return proc


def _write_pidfile(pidfile: Path, pid: int, stop_signal: int) -> None:
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    try:
        proc = psutil.Process(pid)
        record = {"pid": pid, "create_time": proc.create_time(), "cmdline": proc.cmdline()}
    except psutil.Error:  # exited at once; the caller's readiness check reports it
        record = {"pid": pid, "create_time": 0.0, "cmdline": []}
    record["stop_signal"] = stop_signal
    pidfile.write_text(json.dumps(record) + "\n")


def _recorded_process(pidfile: Path) -> tuple[psutil.Process, int] | None:
    """The live process a pid file names, if it is still the very process we started."""
    try:
        record = json.loads(pidfile.read_text())
        proc = psutil.Process(int(record["pid"]))
        same = (
            abs(proc.create_time() - float(record["create_time"])) < 0.5
            and proc.cmdline() == record["cmdline"]
            and proc.status() != psutil.STATUS_ZOMBIE
        )
    except (OSError, ValueError, KeyError, TypeError, psutil.Error):
        return None
    return (proc, int(record.get("stop_signal", signal.SIGTERM))) if same else None


def _gone(proc: psutil.Process) -> bool:
    try:  # an orphan may stay a zombie for a while if pid 1 is slow to reap it
        return bool(proc.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def _wait_gone(proc: psutil.Process, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not _gone(proc):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def terminate(proc: psutil.Process, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Send ``sig`` to a process that is not our child; SIGKILL it if it is still there after ``timeout``."""
    try:
        proc.send_signal(sig)
    except psutil.NoSuchProcess:
        return
    if not _wait_gone(proc, timeout):
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
        _wait_gone(proc, 5)


def stop_leftover(data_dir: Path, name: str) -> bool:
    """Stop the process ``<data_dir>/run/<name>.pid`` names if it is still ours; True if it was."""
    pidfile = run_dir(data_dir) / f"{name}.pid"
    found = _recorded_process(pidfile)
    if found is not None:
        terminate(*found)
    pidfile.unlink(missing_ok=True)
    return found is not None


def stop_leftovers(data_dir: Path, order: Sequence[str] = ("api", "worker", "temporal", "postgres")) -> list[str]:
    """Stop every process left over from an earlier run on this data dir (API first, database last)."""
    names = [p.stem for p in sorted(run_dir(data_dir).glob("*.pid"))]
    names.sort(key=lambda n: order.index(n) if n in order else -1)
    return [name for name in names if stop_leftover(data_dir, name)]


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, on a fresh event loop in a helper thread: safe
    inside a running loop (async test fixtures) and it never replaces the caller's current loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0
