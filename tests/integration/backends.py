"""Where the integration tests' servers come from: embedded (the default, on any machine) or
containers of Apache Kafka and PostgreSQL where a Docker engine answers
(`UNITRAIL_TEST_BACKEND=containers`).

The containers are the ones `docker-compose.yml` runs, image and settings read from that file, so
the suite and the compose deployment cannot drift apart. Each test gets a broker of its own (a
fresh container: a clean slate, as an embedded broker is); Postgres is one per session, each test
with databases of its own. On real Kafka the producers are idempotent, as in production.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.embedded import EmbeddedBroker, EmbeddedPostgres, free_port

BACKEND_VARIABLE = "UNITRAIL_TEST_BACKEND"
BACKENDS = ("embedded", "containers")
COMPOSE_FILE = Path(__file__).parents[2] / "docker-compose.yml"
KAFKA_HOST_LISTENER_PORT = 9094
"""The compose file's listener for clients outside the compose network."""
POSTGRES_PORT = 5432
CONTAINER_START_SECONDS = 120.0


def chosen_backend() -> str:
    """The backend `UNITRAIL_TEST_BACKEND` names (`embedded` when unset); anything else stops the
    run with one line saying what may be chosen."""
    backend = os.environ.get(BACKEND_VARIABLE, "embedded") or "embedded"
    if backend not in BACKENDS:
        pytest.exit(f"{BACKEND_VARIABLE}={backend}: choose one of {', '.join(BACKENDS)}", 4)
    return backend


@dataclass(frozen=True)
class ComposeService:
    """A server as `docker-compose.yml` runs it."""

    image: str
    environment: dict[str, str]


def compose_service(name: str, compose_file: Path = COMPOSE_FILE) -> ComposeService:
    """The image and environment of one service of the compose file."""
    services: dict[str, Any] = yaml.safe_load(compose_file.read_text())["services"]
    service = services[name]
    environment = service.get("environment") or {}
    return ComposeService(
        image=str(service["image"]),
        environment={key: str(value) for key, value in environment.items()},
    )


def require_docker() -> None:
    """Stop the run with one clear line when no Docker engine answers."""
    try:
        from testcontainers.core.docker_client import DockerClient

        DockerClient().client.ping()
    except Exception as unavailable:  # the client raises several kinds; any means "none here"
        reason = str(unavailable).splitlines()[0] if str(unavailable) else type(unavailable)
        pytest.exit(
            f"{BACKEND_VARIABLE}=containers needs a Docker engine, and none answers ({reason});"
            " unset it to run on the embedded servers",
            4,
        )


def kafka_environment(host_port: int) -> dict[str, str]:
    """The compose file's Kafka settings, advertising its outside listener on `host_port` of the
    loopback address (where the test's clients reach it) instead of the compose host's 9094."""
    environment = compose_service("kafka").environment
    advertised = [
        f"HOST://127.0.0.1:{host_port}" if listener.startswith("HOST://") else listener
        for listener in environment["KAFKA_ADVERTISED_LISTENERS"].split(",")
    ]
    return environment | {"KAFKA_ADVERTISED_LISTENERS": ",".join(advertised)}


@contextmanager
def kafka_container() -> Iterator[str]:
    """A Kafka broker in a container of the compose file's image; yields its bootstrap address."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    host_port = free_port()
    container = DockerContainer(compose_service("kafka").image, env=kafka_environment(host_port))
    container.with_bind_ports(KAFKA_HOST_LISTENER_PORT, host_port)
    container.start()
    try:
        wait_for_logs(container, "Kafka Server started", timeout=CONTAINER_START_SECONDS)
        yield f"127.0.0.1:{host_port}"
    finally:
        container.stop()


@contextmanager
def postgres_container() -> Iterator[str]:
    """A PostgreSQL server in a container of the compose file's image; yields a DSN of its
    `postgres` database."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    service = compose_service("postgres")
    host_port = free_port()
    container = DockerContainer(service.image, env=service.environment)
    container.with_bind_ports(POSTGRES_PORT, host_port)
    container.start()
    try:
        # The image restarts the server once after initialising: ready is its second such line.
        wait_for_logs(
            container,
            lambda logs: logs.count("database system is ready to accept connections") >= 2,
            timeout=CONTAINER_START_SECONDS,
        )
        password = service.environment["POSTGRES_PASSWORD"]
        yield f"postgresql://postgres:{password}@127.0.0.1:{host_port}/postgres"
    finally:
        container.stop()


TEST_SERVER_SETTINGS = {"fsync": "off", "full_page_writes": "off"}
"""The tests' server writes its WAL at every commit as always, so a server process that is killed
loses nothing committed (what the tests do to it); it only no longer waits for the disk, which
guards against the machine losing power (what no test does)."""


@contextmanager
def postgres_server(data_dir: Path) -> Iterator[str]:
    """The session's PostgreSQL, by the chosen backend; yields a DSN of its `postgres` database."""
    if chosen_backend() == "containers":
        require_docker()
        with postgres_container() as dsn:
            yield dsn
        return
    server = EmbeddedPostgres(data_dir, delete_on_stop=True, settings=TEST_SERVER_SETTINGS)
    try:
        yield server.start()
    finally:
        server.stop()


@contextmanager
def broker() -> Iterator[str]:
    """A test's own Kafka-protocol broker, by the chosen backend; yields its bootstrap address."""
    if chosen_backend() == "containers":
        with kafka_container() as bootstrap:
            yield bootstrap
        return
    embedded = EmbeddedBroker(free_port())
    try:
        yield embedded.start()
    finally:
        embedded.stop()


def idempotent_producers() -> bool:
    """Real Kafka takes idempotent producers, as production runs them; the embedded broker does
    not support them."""
    return chosen_backend() == "containers"
