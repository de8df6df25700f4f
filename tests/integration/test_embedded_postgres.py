"""The embedded Postgres started again after its server process was killed, as the launcher's
supervisor does (`EmbeddedPostgres.restart`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from infra.embedded import EmbeddedPostgres, adopt_orphans

pytestmark = pytest.mark.integration

REPOSITORY = Path(__file__).resolve().parents[2]


def kill_close_and_restart(data: Path) -> None:
    """Start a server on `data`, kill it, close the directory above `data` to others (as pytest
    does to its temporary root at the start of each session), and start it again. In a process
    of its own: like the launcher, it reaps the killed server (`adopt_orphans`), which a test
    process must not become for every other test."""
    adopt_orphans()
    server = EmbeddedPostgres(data, delete_on_stop=True)
    dsn = server.start()
    try:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute("CREATE TABLE kept (n integer)")
            connection.execute("INSERT INTO kept VALUES (1)")
        dead = server.pid
        assert dead is not None
        os.kill(dead, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while server.is_running():
            assert time.monotonic() < deadline, "the killed server is still there"
            time.sleep(0.1)
        data.parent.chmod(0o700)
        deadline = time.monotonic() + 60
        while True:
            try:
                server.restart()
                break
            except RuntimeError as error:  # its processes may still hold its memory a moment
                if time.monotonic() > deadline:
                    raise AssertionError("not started again") from error
                time.sleep(1)
        assert server.pid != dead
        with psycopg.connect(dsn, autocommit=True) as connection:
            assert connection.execute("SELECT n FROM kept").fetchall() == [(1,)]
    finally:
        server.stop()


def test_a_killed_server_starts_again_though_a_directory_above_its_data_was_closed(
    tmp_path: Path,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("the server runs as this user, who can reach its own directories")
    scenario = (
        "import sys; from pathlib import Path; from tests.integration.test_embedded_postgres"
        " import kill_close_and_restart; kill_close_and_restart(Path(sys.argv[1]))"
    )
    finished = subprocess.run(
        [sys.executable, "-c", scenario, str(tmp_path / "closed" / "pgdata")],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
