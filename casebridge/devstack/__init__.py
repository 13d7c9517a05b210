"""The embedded two-command stack behind `make run` (`python -m casebridge.devstack`).

Tests start the servers the same way `make run` does::

    with start_postgres(tmp_path, free_port()) as pg, start_temporal(tmp_path, free_port(), None, "ns") as t:
        ...  # pg.url, t.address
"""

from casebridge.devstack.postgres import EmbeddedPostgres, postgres_bin_dir, start_postgres
from casebridge.devstack.processes import (
    ManagedProcess,
    StartupError,
    free_port,
    port_is_free,
    stop_leftover,
    stop_leftovers,
)
from casebridge.devstack.supervisor import main, run
from casebridge.devstack.temporal import EmbeddedTemporal, start_temporal, temporal_executable, wait_for_temporal

__all__ = [
    "EmbeddedPostgres",
    "EmbeddedTemporal",
    "ManagedProcess",
    "StartupError",
    "free_port",
    "main",
    "port_is_free",
    "postgres_bin_dir",
    "run",
    "start_postgres",
    "start_temporal",
    "stop_leftover",
    "stop_leftovers",
    "temporal_executable",
    "wait_for_temporal",
]
