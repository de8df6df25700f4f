"""The processes the launcher runs: each process of each service, and the simulators; how many of
each, on which port, how they are started and stopped."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contracts.topics import KEYED_PARTITIONS, SERVICES
from infra.embedded import own_child
from infra.ports import DEFAULT_PORTS

SIMULATORS = "simulators"
"""The process of the simulated external partners: a 3PL warehouse and the carriers."""

CONSOLE = "console"
"""The web console (`infra/console`): pages over the services' HTTP APIs, for operators and
customer service."""

PORT_STEP = 100
"""The k-th process of a service (k = 0, 1, ...) listens on the service's port + PORT_STEP·k."""


def say(message: str) -> None:
    print(f"[unitrail] {message}", file=sys.stderr, flush=True)


def consumes(service: str) -> bool:
    """Whether a service consumes topics (it has Kafka handlers), so that more processes of it
    share its partitions."""
    return importlib.util.find_spec(f"services.{service}.handlers") is not None


def relays(service: str) -> bool:
    """Whether a service publishes its stored events (it has translators to contract events)."""
    return importlib.util.find_spec(f"services.{service}.translators") is not None


def process_counts(default: int, env: dict[str, str]) -> dict[str, int]:
    """How many processes of each service to run: `default` (`--processes`) for each service that
    consumes, one for the others, and `UNITRAIL_<SERVICE>_PROCESSES` for any service overrides."""
    counts: dict[str, int] = {}
    for service in SERVICES:
        setting = env.get(f"UNITRAIL_{service.upper()}_PROCESSES")
        count = int(setting) if setting else (default if consumes(service) else 1)
        if count < 1:
            raise ValueError(f"{service}: at least one process is needed, not {count}")
        counts[service] = count
    return counts


def keyed_partitions(counts: dict[str, int], configured: int | None) -> int:
    """Partitions of each keyed topic for a stack running `counts` processes of each service:
    the `configured` count (`UNITRAIL_KAFKA_PARTITIONS`) when set, else the registry's or, when a
    service runs more processes than that, one per process (a process beyond the partitions gets
    none to consume)."""
    if configured is not None:
        return configured
    return max(KEYED_PARTITIONS, *counts.values())


@dataclass
class ServiceProcess:
    """A child process of the launcher: a process of a service (with an HTTP port) or the
    simulators."""

    name: str
    env: dict[str, str]
    index: int = 0
    """Which process of its service this is (0 for the first)."""
    process: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)
    """When it exited, within the last minute."""
    start_at: float | None = None
    """When to start it again, once it has exited."""

    @property
    def label(self) -> str:
        return self.name if self.index == 0 else f"{self.name}#{self.index + 1}"

    @property
    def serves_http(self) -> bool:
        return self.name in DEFAULT_PORTS

    @property
    def consumes(self) -> bool:
        return self.serves_http and consumes(self.name)

    @property
    def relays(self) -> bool:
        return self.serves_http and relays(self.name)

    @property
    def module(self) -> str:
        if self.name in (SIMULATORS, CONSOLE):
            return f"infra.{self.name}"
        return f"services.{self.name}.main"

    @property
    def port_variable(self) -> str:
        return f"UNITRAIL_{self.name.upper()}_HTTP_PORT"

    @property
    def port(self) -> int:
        return (
            int(self.env.get(self.port_variable, DEFAULT_PORTS[self.name])) + PORT_STEP * self.index
        )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        env = self.env | {self.port_variable: str(self.port)} if self.serves_http else self.env
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module], env=env, preexec_fn=own_child
        )

    def signal(self, signum: signal.Signals) -> None:
        if self.running():
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signum)

    def health(self) -> dict[str, Any] | None:
        """The process's `/health` answer (also when it says it is degraded), or None."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as reply:
                body = json.load(reply)
        except urllib.error.HTTPError as degraded:
            with contextlib.suppress(ValueError):
                body = json.load(degraded)
                return body if isinstance(body, dict) else None
            return None
        except (OSError, ValueError):
            return None
        return body if isinstance(body, dict) else None

    def healthy(self) -> bool:
        if not self.serves_http:
            return self.running()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False


def stop_processes(
    processes: list[ServiceProcess],
    grace: float,
    *,
    hurry: Callable[[], float | None] | None = None,
) -> None:
    """SIGTERM each, then SIGKILL whatever has not exited after `grace` seconds, or after the
    shorter grace `hurry` returns once it returns one (a second Ctrl-C meanwhile)."""
    running = [service for service in processes if service.running()]
    for service in running:
        # A paused process (see Stack.paused) acts on SIGTERM only once it runs again.
        service.signal(signal.SIGCONT)
        service.signal(signal.SIGTERM)
    started = time.monotonic()
    while any(service.running() for service in running):
        shorter = hurry() if hurry is not None else None
        if time.monotonic() - started >= (grace if shorter is None else min(grace, shorter)):
            break
        time.sleep(0.05)
    for service in running:
        if service.running():
            assert service.process is not None
            say(f"{service.label} did not stop in time; killing it")
            service.process.kill()
            service.process.wait()
