"""Start the whole system: `python -m infra.stack` (what `scripts/run` calls).

Without configuration it starts an embedded Postgres (data in `.unitrail/pgdata`) and an embedded
Kafka-protocol broker on 127.0.0.1:9092, creates the topics and the service databases, and runs the
seven services as separate processes, plus the simulated 3PL and carriers (`python -m infra.simulators`) so
orders go all the way to delivered; `--no-simulators` or `UNITRAIL_SIMULATORS=off` leaves them out
when real partners are connected. Setting `KAFKA_BOOTSTRAP_SERVERS` and/or `POSTGRES_DSN` uses those
servers instead and starts nothing embedded for them. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from contracts.topics import SERVICES
from infra.embedded import EmbeddedBroker, EmbeddedPostgres, die_with_parent
from infra.ports import DEFAULT_PORTS
from infra.setup import prepare_system

SIMULATORS = "simulators"
"""The process of the simulated external partners: a 3PL warehouse and the carriers."""


def say(message: str) -> None:
    print(f"[unitrail] {message}", file=sys.stderr, flush=True)


def simulators_wanted(flag_off: bool, env: dict[str, str]) -> bool:
    """The simulated partners run unless `--no-simulators` or `UNITRAIL_SIMULATORS=off`."""
    setting = env.get("UNITRAIL_SIMULATORS", "on").strip().lower()
    return not flag_off and setting not in ("off", "false", "0", "no")


@dataclass
class ServiceProcess:
    """A child process of the launcher: a service (with an HTTP port) or the simulators."""

    name: str
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)

    @property
    def serves_http(self) -> bool:
        return self.name in DEFAULT_PORTS

    @property
    def module(self) -> str:
        return "infra.simulators" if self.name == SIMULATORS else f"services.{self.name}.main"

    @property
    def port(self) -> int:
        variable = f"UNITRAIL_{self.name.upper()}_HTTP_PORT"
        return int(self.env.get(variable, DEFAULT_PORTS[self.name]))

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module],
            env=self.env,
            preexec_fn=die_with_parent,
        )

    def healthy(self) -> bool:
        if not self.serves_http:
            return self.process is not None and self.process.poll() is None
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False


class Stack:
    def __init__(self, data_dir: Path, broker_port: int, *, simulators: bool = True) -> None:
        self.data_dir = data_dir
        self.broker_port = broker_port
        self.simulators = simulators
        self.postgres: EmbeddedPostgres | None = None
        self.broker: EmbeddedBroker | None = None
        self.services: list[ServiceProcess] = []
        self.stopping = False

    def start_servers(self) -> dict[str, str]:
        env = dict(os.environ)
        dsn = env.get("POSTGRES_DSN")
        if dsn:
            say("using the Postgres server at POSTGRES_DSN")
        else:
            self.postgres = EmbeddedPostgres(self.data_dir / "pgdata")
            dsn = self.postgres.start()
            say(f"embedded Postgres ready: {dsn}")
        bootstrap = env.get("KAFKA_BOOTSTRAP_SERVERS")
        if bootstrap:
            say(f"using the Kafka brokers at {bootstrap}")
        else:
            self.broker = EmbeddedBroker(self.broker_port)
            bootstrap = self.broker.start()
            env.setdefault("UNITRAIL_KAFKA_IDEMPOTENCE", "false")
            say(f"embedded Kafka-protocol broker ready: {bootstrap} (in memory)")
        env["POSTGRES_DSN"] = dsn
        env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
        return env

    async def prepare(self, env: dict[str, str]) -> None:
        prepared = await prepare_system(
            env["KAFKA_BOOTSTRAP_SERVERS"],
            env["POSTGRES_DSN"],
            env.get("UNITRAIL_DATABASE_PREFIX", "unitrail"),
        )
        say(f"topics ready ({len(prepared.created_topics)} created)")
        say("databases ready: " + ", ".join(prepared.databases))

    def run(self) -> int:
        env = self.start_servers()
        asyncio.run(self.prepare(env))
        self.services = [ServiceProcess(name, env) for name in SERVICES]
        if self.simulators:
            self.services.append(ServiceProcess(SIMULATORS, env))
        for service in self.services:
            service.start()
        self.wait_until_healthy()
        while not self.stopping:
            time.sleep(0.5)
            self.restart_exited()
        return 0

    def wait_until_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        pending = list(self.services)
        while pending and not self.stopping and time.monotonic() < deadline:
            pending = [service for service in pending if not service.healthy()]
            time.sleep(0.3)
        if pending:
            say("not healthy yet: " + ", ".join(service.name for service in pending))
        elif not self.stopping:
            say("all services are up:")
            for service in self.services:
                if service.serves_http:
                    say(f"  {service.name:<18} http://127.0.0.1:{service.port}  (/docs, /health)")
            if self.simulators:
                say(
                    "  simulated 3PL and carriers running (UNITRAIL_SIMULATORS=off leaves them out)"
                )
                say("try: scripts/demo")
            say("Ctrl-C stops everything")

    def restart_exited(self) -> None:
        for service in self.services:
            if service.process is None or service.process.poll() is None or self.stopping:
                continue
            now = time.monotonic()
            service.restarts = [moment for moment in service.restarts if now - moment < 60]
            if len(service.restarts) >= 5:
                say(f"{service.name} keeps exiting; stopping the system")
                self.stopping = True
                return
            say(f"{service.name} exited with {service.process.returncode}; restarting it")
            service.restarts.append(now)
            service.start()

    def shutdown(self) -> None:
        self.stopping = True
        running = [s.process for s in self.services if s.process and s.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.broker is not None:
            self.broker.stop()
        if self.postgres is not None:
            self.postgres.stop()
        say("stopped")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("UNITRAIL_DATA_DIR", ".unitrail")),
        help="where the embedded Postgres keeps its data (default: .unitrail)",
    )
    parser.add_argument(
        "--broker-port",
        type=int,
        default=int(os.environ.get("UNITRAIL_BROKER_PORT", "9092")),
        help="loopback port of the embedded broker (default: 9092)",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="delete the embedded Postgres data first"
    )
    parser.add_argument(
        "--no-simulators",
        action="store_true",
        help="do not start the simulated 3PL and carriers (real partners are connected); "
        "the same as UNITRAIL_SIMULATORS=off",
    )
    arguments = parser.parse_args()
    if arguments.fresh and arguments.data_dir.exists():
        shutil.rmtree(arguments.data_dir)
    stack = Stack(
        arguments.data_dir.resolve(),
        arguments.broker_port,
        simulators=simulators_wanted(arguments.no_simulators, dict(os.environ)),
    )

    def request_stop(signum: int, _: object) -> None:
        stack.stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        return stack.run()
    finally:
        stack.shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
