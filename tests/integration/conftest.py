"""Real servers for integration tests: PostgreSQL and a Kafka-protocol broker, embedded by default,
or Apache Kafka and PostgreSQL containers with `UNITRAIL_TEST_BACKEND=containers` (`backends.py`).

Postgres is started once per session; each test gets its own databases (a fresh prefix) and its own
broker (an embedded broker keeps everything in memory, so a new one is a clean slate in
milliseconds).
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from infra.embedded import EmbeddedBroker, free_port
from infra.topics import ensure_topics
from tests.integration import backends
from tests.integration.examples import RECORD_EXAMPLES, record_examples
from tests.integration.harness import (
    Channel,
    ServiceProcess,
    SimulatorsProcess,
    Stack,
    TopicReader,
)
from tests.integration.stored_events import RECORD_STORED_EVENTS, record_stored_events

COMPLAINT = re.compile(r"\[(warning|error|critical)\s*\]")
COMPLAINTS_SHOWN = 12


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test shows what its service processes say of themselves (`/health`: their
    consumers' partitions, lag and dead letters, their relays) and what they complained of (their
    warnings and errors, the last few of each): a run on another machine keeps nothing else."""
    report = yield
    if report.when != "call" or not report.failed:
        return report
    fixtures = getattr(item, "funcargs", {})
    tmp_path = fixtures.get("tmp_path")
    if isinstance(tmp_path, Path):
        for log in sorted(tmp_path.glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()
            complaints = [line[:300] for line in lines if COMPLAINT.search(line)]
            shown = "\n".join(complaints[-COMPLAINTS_SHOWN:]) or "(none)"
            report.sections.append(
                (f"{log.name}: {len(complaints)} warning or error lines, the last", shown)
            )
    stack = fixtures.get("stack")
    for process in stack.processes if isinstance(stack, Stack) else []:
        report.sections.append((f"{process.name} at {process.url}/health", process.status()))
    return report


@pytest.fixture(scope="session")
def postgres_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with backends.postgres_server(tmp_path_factory.mktemp("pg") / "data") as dsn:
        yield dsn


@pytest.fixture
def stack(postgres_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    # The CLI and the demo, run in the test's process, sign their tokens with the stack's key,
    # which lives where `scripts/run` keeps it: `<data dir>/auth`.
    monkeypatch.setenv("UNITRAIL_DATA_DIR", str(tmp_path))
    with backends.broker() as bootstrap:
        asyncio.run(ensure_topics(bootstrap))
        stack_prefix = f"t{uuid.uuid4().hex[:10]}"
        yield Stack(
            postgres_dsn=postgres_dsn,
            bootstrap_servers=bootstrap,
            database_prefix=stack_prefix,
            log_dir=tmp_path,
            idempotent_producers=backends.idempotent_producers(),
        )
        if os.environ.get(RECORD_EXAMPLES) == "1":
            record_examples(bootstrap)
        if os.environ.get(RECORD_STORED_EVENTS) == "1":
            record_stored_events(postgres_dsn, stack_prefix)


@pytest.fixture
def services(stack: Stack) -> Iterator[Callable[..., list[ServiceProcess]]]:
    """Start service processes side by side; every one started is stopped after the test."""
    started: list[ServiceProcess] = []

    def start(*names: str) -> list[ServiceProcess]:
        batch = [ServiceProcess(name, stack) for name in names]
        started.extend(batch)
        for service in batch:
            service.launch()
        return [service.wait_until_healthy() for service in batch]

    yield start
    for service in started:
        service.stop()


@pytest.fixture
def simulators(stack: Stack) -> Iterator[Callable[..., SimulatorsProcess]]:
    """Start the simulated 3PL and carriers, without delays unless told otherwise."""
    started: list[SimulatorsProcess] = []

    def start(**settings: str) -> SimulatorsProcess:
        process = SimulatorsProcess(stack, settings).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def channel(stack: Stack) -> Iterator[Channel]:
    connector = Channel(stack.bootstrap_servers)
    yield connector
    connector.close()


@pytest.fixture
def topic(stack: Stack) -> Iterator[Callable[[str], TopicReader]]:
    readers: list[TopicReader] = []

    def read(name: str) -> TopicReader:
        reader = TopicReader(stack.bootstrap_servers, name)
        readers.append(reader)
        return reader

    yield read
    for reader in readers:
        reader.close()


@pytest.fixture
def restartable_broker(
    postgres_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[EmbeddedBroker, Stack]]:
    """A broker of the test's own, which the test may stop and start again (empty, same port),
    and the stack on it."""
    monkeypatch.setenv("UNITRAIL_DATA_DIR", str(tmp_path))
    broker = EmbeddedBroker(free_port())
    bootstrap = broker.start()
    asyncio.run(ensure_topics(bootstrap))
    yield (
        broker,
        Stack(
            postgres_dsn=postgres_dsn,
            bootstrap_servers=bootstrap,
            database_prefix=f"t{free_port()}",
            log_dir=tmp_path,
        ),
    )
    broker.stop()
