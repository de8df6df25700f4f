"""The whole system as a user runs it (`python -m infra.stack`, what `scripts/run` starts), and the
ways a fault test breaks it: kill -9 of a service, the broker or Postgres, an extra process of a
service joining its consumer group, Ctrl-C to the launcher.

Everything listens on free loopback ports and keeps its data in a directory of its own, so a fault
run never touches a system someone else is running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.topics import SERVICES
from infra.embedded import free_port, free_ports
from infra.tokens import LocalIssuer, client_token, data_dir
from services.runtime.auth import Role
from services.runtime.faults import CRASH_EXIT_CODE
from tests.integration.harness import INSTANT_PARTNERS, eventually

SIMULATORS = "simulators"
BROKER = "broker"

SALES_CHANNELS = {"webshop": 0, "amazon-us": 2, "ebay-us": 0, "bestbuy-mp": 1, "webshop-ca": 0}
"""What each channel keeps back (safety buffer); inventory publishes available-to-sell to these."""


def note(message: str) -> None:
    """A timestamped line on stderr: what a fault run did when (pytest shows it on failure)."""
    print(f"{time.strftime('%H:%M:%S')} [faults] {message}", file=sys.stderr, flush=True)


def children_of(pid: int) -> set[int]:
    """Every live process under `pid` (by parent links in /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def is_alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "State:\tZ" not in status


def environment_of(pid: int) -> dict[str, str]:
    """The environment a running process was started with."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {key.decode(): value.decode() for key, value in pairs}


def matches(component: str, command: str) -> bool:
    if component == BROKER:
        return "tansu" in command and " broker" in command
    if component == SIMULATORS:
        return "-m infra.simulators" in command
    return f"-m services.{component}.main" in command


def http_json(
    method: str, url: str, body: dict[str, Any] | None = None, *, timeout: float = 10
) -> tuple[int, Any]:
    """One JSON request, with an admin token once the system has its key; (status, decoded
    body); status 0 when nothing answers."""
    headers = {"content-type": "application/json"}
    if LocalIssuer.of_data_dir(data_dir()).exists:
        headers["authorization"] = f"Bearer {client_token(Role.ADMIN, 'fault-tests')}"
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers=headers,
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as error:
        content = error.read()
        try:
            return error.code, json.loads(content or b"null")
        except ValueError:
            return error.code, content.decode(errors="replace")
    except OSError:
        return 0, None


@dataclass
class ExtraProcess:
    """A further process of a service, started beside the launcher's (as `--processes` would)."""

    service: str
    port: int
    process: subprocess.Popen[bytes]
    log_file: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def messages_handled(self) -> int:
        """How many messages it consumed (its /health says): proof that the group gave it
        partitions."""
        status, health = http_json("GET", f"{self.url}/health", timeout=3)
        return int(health["consumer"]["messages"]) if status == 200 else 0


@dataclass
class System:
    """One launcher (`python -m infra.stack`) with its data directory and loopback ports."""

    root: Path
    settings: dict[str, str] = field(default_factory=dict)
    broker_port: int = field(init=False)
    ports: dict[str, int] = field(init=False)
    console_port: int = field(init=False)
    launcher: subprocess.Popen[bytes] | None = None
    extras: list[ExtraProcess] = field(default_factory=list)
    launches: int = 0

    def __post_init__(self) -> None:
        # Distinct free ports, chosen once: a process given another's port fails to start.
        *services, self.console_port, self.broker_port = free_ports(len(SERVICES) + 2)
        self.ports = dict(zip(SERVICES, services, strict=True))

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.broker_port}"

    @property
    def log_file(self) -> Path:
        return self.root / f"stack-{self.launches}.log"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def env(self) -> dict[str, str]:
        inherited = {
            key: value
            for key, value in os.environ.items()
            if key not in ("KAFKA_BOOTSTRAP_SERVERS", "POSTGRES_DSN", "UNITRAIL_CRASH_AT")
        }
        return (
            inherited
            | INSTANT_PARTNERS
            | {f"UNITRAIL_{name.upper()}_HTTP_PORT": str(port) for name, port in self.ports.items()}
            | {
                "UNITRAIL_CONSOLE_HTTP_PORT": str(self.console_port),
                "UNITRAIL_LOG_LEVEL": "warning",
                # Joins and failovers in seconds rather than tens of seconds on the embedded broker.
                "UNITRAIL_KAFKA_SESSION_TIMEOUT_MS": "3000",
                "UNITRAIL_INVENTORY_SALES_CHANNELS": json.dumps(SALES_CHANNELS),
                # A warehouse never picks in no time: a second lets the 3PL read that a parcel
                # has shipped before it would pick it again after a restart.
                "UNITRAIL_SIMULATED_3PL_PICK_DELAY": "1",
                "PYTHONWARNINGS": "ignore:XDG_RUNTIME_DIR is not set",
            }
            | self.settings
        )

    # -- the launcher ---------------------------------------------------------------------------

    def start(self, *, timeout: float = 180) -> System:
        """Launch as `scripts/run` does and wait until every service answers /health."""
        assert self.launcher is None or self.launcher.poll() is not None, "already running"
        self.launches += 1
        self.root.mkdir(parents=True, exist_ok=True)
        # The tests' own calls (and the demo's functions they use) sign their tokens with the key
        # the launcher creates in its data directory, as the CLI does beside `scripts/run`.
        os.environ["UNITRAIL_DATA_DIR"] = str(self.data_dir)
        with self.log_file.open("wb") as output:
            self.launcher = subprocess.Popen(
                [
                    *(sys.executable, "-m", "infra.stack"),
                    *("--data-dir", str(self.data_dir), "--broker-port", str(self.broker_port)),
                ],
                env=self.env(),
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.wait_until_healthy(timeout=timeout)
        note(f"system up ({self.root})")
        return self

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def healthy(self, service: str) -> bool:
        status, _ = http_json("GET", f"{self.url(service)}/health", timeout=3)
        return status == 200

    def wait_until_healthy(self, *services: str, timeout: float = 120) -> None:
        pending = list(services or SERVICES)

        def all_healthy() -> bool:
            if self.launcher is not None and self.launcher.poll() is not None:
                raise AssertionError(
                    f"the launcher exited with {self.launcher.returncode}:\n{self.log()[-3000:]}"
                )
            pending[:] = [name for name in pending if not self.healthy(name)]
            return not pending

        try:
            eventually(all_healthy, timeout=timeout)
        except AssertionError as timed_out:
            # What each one still waiting says of itself: which of its loops is down, and why.
            answers = {
                name: http_json("GET", f"{self.url(name)}/health", timeout=3) for name in pending
            }
            raise AssertionError(f"{timed_out}; not healthy: {answers}") from None

    def interrupt(self, *, timeout: float = 120) -> int:
        """Ctrl-C: SIGINT to the launcher, as a terminal sends it; its exit status."""
        assert self.launcher is not None
        self.launcher.send_signal(signal.SIGINT)
        return self.launcher.wait(timeout)

    def stop(self) -> None:
        """Stop everything this system started, whatever state it is in."""
        for extra in self.extras:
            _end(extra.process)
        self.extras.clear()
        if self.launcher is not None and self.launcher.poll() is None:
            tree = children_of(self.launcher.pid)
            self.launcher.send_signal(signal.SIGINT)
            try:
                self.launcher.wait(60)
            except subprocess.TimeoutExpired:
                self.launcher.kill()
                self.launcher.wait()
            for pid in tree:
                if is_alive(pid):
                    os.kill(pid, signal.SIGKILL)
        postmaster = self.postgres_pid()
        if postmaster is not None and is_alive(postmaster):
            os.kill(postmaster, signal.SIGTERM)  # fast shutdown of the server this system started
            eventually(lambda: not is_alive(postmaster), timeout=30, what="Postgres to stop")

    # -- its processes --------------------------------------------------------------------------

    def pids(self, component: str) -> list[int]:
        """The launcher's live processes of a service, of the simulators or of the broker."""
        if self.launcher is None or self.launcher.poll() is not None:
            return []
        extra = {extra.process.pid for extra in self.extras}
        return sorted(
            pid
            for pid in children_of(self.launcher.pid) - extra
            if matches(component, command_line(pid))
        )

    def postgres_pid(self) -> int | None:
        pid_file = self.data_dir / "pgdata" / "postmaster.pid"
        try:
            return int(pid_file.read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def kill(self, component: str) -> int:
        """kill -9 of one process of a service, the simulators or the broker; its pid."""
        (pid, *_) = eventually(lambda: self.pids(component), what=f"a {component} process")
        os.kill(pid, signal.SIGKILL)
        eventually(lambda: not is_alive(pid), timeout=10, what=f"{component} {pid} to die")
        note(f"killed {component} ({pid})")
        return pid

    def freeze(self, component: str) -> int:
        """SIGSTOP: the process stays, answers nothing and holds what it took (a hung partner)."""
        (pid, *_) = eventually(lambda: self.pids(component), what=f"a {component} process")
        os.kill(pid, signal.SIGSTOP)
        note(f"froze {component} ({pid})")
        return pid

    def thaw(self, pid: int) -> None:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            # A broker restart pauses and continues every process of the stack, a frozen one
            # too; the simulators then see the new broker and exit to be started again.
            note(f"{pid} had exited before it was thawed")
            return
        note(f"thawed {pid}")

    def kill_postgres(self) -> int:
        """kill -9 of the Postgres server (the postmaster; its backends follow it)."""
        pid = self.postgres_pid()
        assert pid is not None, "Postgres never ran"
        assert is_alive(pid), "Postgres is not running"
        os.kill(pid, signal.SIGKILL)
        eventually(lambda: not is_alive(pid), timeout=10, what="Postgres to die")
        return pid

    def wait_until_replaced(
        self, component: str, dead: int, *, healthy: bool = True, timeout: float = 120
    ) -> int:
        """Until the launcher has started `component` again (and, for a service, it is healthy
        unless `healthy` is False)."""
        (pid, *_) = eventually(
            lambda: [pid for pid in self.pids(component) if pid != dead],
            timeout=timeout,
            what=f"{component} to be started again",
        )
        if healthy and component in SERVICES:
            self.wait_until_healthy(component, timeout=timeout)
        note(f"{component} is back ({pid})")
        return pid

    def add_processes(self, *services: str) -> list[ExtraProcess]:
        """Start one more process of each service with the environment the launcher gave its
        first (so it joins the same consumer group), on a port of its own; healthy on return."""
        added = [self._launch_extra(service) for service in services]
        for extra in added:

            def answers(extra: ExtraProcess = extra) -> bool:
                if extra.process.poll() is not None:
                    raise AssertionError(
                        f"the extra {extra.service} exited with {extra.process.returncode}"
                    )
                return http_json("GET", f"{extra.url}/health", timeout=3)[0] == 200

            eventually(answers, timeout=120, what=f"the extra {extra.service} to be healthy")
        note("added a process of " + ", ".join(services))
        return added

    def crash_once_at(self, service: str, point: str, passes: int) -> None:
        """Make `service` die at a crash point (`services/runtime/faults.py`) once, then run on.

        The launcher is paused (SIGSTOP) so it does not start its own process meanwhile; its
        process of `service` is killed and a process set to crash at the `passes`-th pass of
        `point` takes its place, alone, so it holds the relay's leadership and every partition.
        Once it crashed the launcher resumes, notices, and starts its own again, which must
        pick up what the crash left half done."""
        assert self.launcher is not None
        self.launcher.send_signal(signal.SIGSTOP)
        try:
            (sibling, *_) = eventually(lambda: self.pids(service), what=f"a {service} process")
            env = environment_of(sibling)
            self.kill(service)
            # On the killed process's port, so what clients send it (the HTTP intake) reaches
            # the crashing one.
            crashing = self._launch_extra(
                service,
                env | {"UNITRAIL_CRASH_AT": f"{point}:{passes}"},
                port=int(env[f"UNITRAIL_{service.upper()}_HTTP_PORT"]),
            )
            try:
                crashing.process.wait(180)
            finally:
                _end(crashing.process)
                self.extras.remove(crashing)
        finally:
            self.launcher.send_signal(signal.SIGCONT)
        log = crashing.log_file.read_text(errors="replace")
        assert crashing.process.returncode == CRASH_EXIT_CODE, f"{service} did not crash:\n{log}"
        assert f"crash point {point!r} reached" in log, log
        note(f"{service} crashed at {point} ({passes}); the launcher starts it again")
        self.wait_until_healthy(service)

    def _launch_extra(
        self, service: str, env: dict[str, str] | None = None, port: int | None = None
    ) -> ExtraProcess:
        if env is None:
            (sibling, *_) = eventually(lambda: self.pids(service), what=f"a {service} process")
            env = environment_of(sibling)
        port = port or free_port()
        env = env | {f"UNITRAIL_{service.upper()}_HTTP_PORT": str(port)}
        log_file = self.root / f"{service}-extra-{port}.log"
        with log_file.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", f"services.{service}.main"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        extra = ExtraProcess(service, port, process, log_file)
        self.extras.append(extra)
        return extra

    def remove_process(self, extra: ExtraProcess) -> None:
        """Stop an extra process as an operator scaling down would (SIGTERM)."""
        _end(extra.process)
        self.extras.remove(extra)
        note(f"removed the extra {extra.service} ({extra.process.pid})")


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def running_system(root: Path, settings: dict[str, str] | None = None) -> Iterator[System]:
    """A started system, stopped afterwards whatever happened (for fixtures and the soak)."""
    system = System(root, dict(settings or {}))
    try:
        yield system.start()
    finally:
        system.stop()
