"""docker-compose.yml and the Dockerfile describe the system the code defines (read, never run)."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import re
import shlex
import tomllib
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices, TypeAdapter
from pydantic_settings import BaseSettings

from contracts.topics import SERVICES
from infra.console import CONSOLE_ROLES
from infra.ports import CONSOLE_PORT, DEFAULT_PORTS
from infra.setup import share_auth
from infra.simulators.carriers import SimulatedCarriersSettings
from infra.simulators.kafka import KafkaSettings
from infra.simulators.threepl_settings import SimulatedThreePLSettings
from infra.tokens import LocalIssuer
from services.runtime.config import ServiceSettings
from services.runtime.database import PostgresLocation

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SHARED_VARIABLES = frozenset({"KAFKA_BOOTSTRAP_SERVERS", "POSTGRES_DSN"})
SETUP = "setup"
SIMULATORS = "simulators"
CONSOLE = "console"


@functools.cache
def compose_services() -> dict[str, dict[str, Any]]:
    """The `services` of docker-compose.yml, with YAML anchors and merge keys resolved."""
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    services: dict[str, dict[str, Any]] = document["services"]
    return services


def unitrail_services() -> dict[str, dict[str, Any]]:
    """The compose services that run the image built from this repository, `setup` included."""
    image = compose_services()[SETUP]["image"]
    return {
        name: block for name, block in compose_services().items() if block.get("image") == image
    }


def settings_class(service: str) -> type[ServiceSettings]:
    """The `ServiceSettings` subclass that `services.<service>.config` defines."""
    module = importlib.import_module(f"services.{service}.config")
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, ServiceSettings)
        and value is not ServiceSettings
    ]
    assert len(found) == 1, f"services.{service}.config defines {len(found)} settings classes"
    return found[0]


def settings_read_by(service: str) -> type[ServiceSettings]:
    """The settings a compose service's process reads: its own, or the shared ones for `setup`."""
    return ServiceSettings if service == SETUP else settings_class(service)


def variables_read_by(settings: type[BaseSettings]) -> set[str]:
    """Every environment variable name a settings class reads, upper-cased."""
    prefix = settings.model_config.get("env_prefix") or ""
    names: set[str] = set()
    for field_name, field in settings.model_fields.items():
        alias = field.validation_alias or field.alias
        if isinstance(alias, AliasChoices):
            names.update(choice for choice in alias.choices if isinstance(choice, str))
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(prefix + field_name)
    return {name.upper() for name in names}


def environment_of(block: dict[str, Any]) -> dict[str, str]:
    """A compose service's `environment`, in either the mapping or the `NAME=value` list form."""
    environment = block.get("environment") or {}
    if isinstance(environment, list):
        return dict(entry.split("=", 1) for entry in environment)
    return {name: str(value) for name, value in environment.items()}


def command_of(block: dict[str, Any]) -> list[str]:
    """A compose service's `command` as an argument list."""
    command = block["command"]
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def published_ports(block: dict[str, Any]) -> list[tuple[int, int]]:
    """(host port, container port) of each entry of `ports`, short or long syntax."""
    ports: list[tuple[int, int]] = []
    for entry in block.get("ports", []):
        if isinstance(entry, dict):
            ports.append((int(entry["published"]), int(entry["target"])))
        else:
            *_, host, container = str(entry).split(":")
            ports.append((int(host), int(container.split("/")[0])))
    return ports


def host_and_port(address: str) -> tuple[str, int]:
    """Split one `host:port` of a bootstrap list."""
    host, port = address.strip().rsplit(":", 1)
    return host, int(port)


def dockerfile_instructions() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    return [
        " ".join(line.split())
        for line in joined.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_the_app_services_are_the_services_of_the_registry() -> None:
    assert set(unitrail_services()) - {SETUP, SIMULATORS, CONSOLE} == set(SERVICES)


def test_the_console_reads_every_service_where_compose_runs_it_with_the_token_setup_signs() -> None:
    block = unitrail_services()[CONSOLE]
    assert command_of(block) == ["python", "-m", "infra.console"]
    environment = environment_of(block)
    for service in SERVICES:
        url = urllib.parse.urlsplit(environment[f"UNITRAIL_{service.upper()}_URL"])
        assert (url.hostname, url.port) == (service, DEFAULT_PORTS[service])
    assert published_ports(block) == [(CONSOLE_PORT, CONSOLE_PORT)]
    # It acts with its own token for whoever reaches it: on the host's loopback only.
    assert block["ports"] == [f"127.0.0.1:{CONSOLE_PORT}:{CONSOLE_PORT}"]
    assert environment["UNITRAIL_CONSOLE_TOKEN_FILE"].startswith("/app/.unitrail/auth/")
    assert block["depends_on"][SETUP]["condition"] == "service_completed_successfully"


def test_the_simulated_partners_run_from_the_same_image_against_kafka_after_setup() -> None:
    block = unitrail_services()[SIMULATORS]
    assert command_of(block) == ["python", "-m", "infra.simulators"]
    assert importlib.util.find_spec("infra.simulators.__main__") is not None
    assert block["depends_on"][SETUP]["condition"] == "service_completed_successfully"
    environment = environment_of(block)
    host, _ = host_and_port(environment["KAFKA_BOOTSTRAP_SERVERS"])
    assert host in compose_services()
    assert TypeAdapter(bool).validate_python(environment["UNITRAIL_KAFKA_IDEMPOTENCE"]) is True
    settings: tuple[type[BaseSettings], ...] = (
        KafkaSettings,
        SimulatedThreePLSettings,
        SimulatedCarriersSettings,
    )
    read = {name for model in settings for name in variables_read_by(model)}
    assert not set(environment) - read, "the simulators set variables nothing reads"


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_its_own_main_module(service: str) -> None:
    module = f"services.{service}.main"
    assert command_of(compose_services()[service]) == ["python", "-m", module]
    assert importlib.util.find_spec(module) is not None


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_publishes_the_port_its_settings_default_to(service: str) -> None:
    settings = settings_class(service)
    port = settings.model_fields["http_port"].default
    block = compose_services()[service]
    assert published_ports(block) == [(port, port)]
    port_variable = f"{settings.model_config.get('env_prefix', '')}HTTP_PORT"
    assert port_variable not in {name.upper() for name in environment_of(block)}


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_is_probed_on_its_health_endpoint(service: str) -> None:
    port = settings_class(service).model_fields["http_port"].default
    probe = compose_services()[service]["healthcheck"]["test"]
    assert probe[:3] == ["CMD", "python", "-c"], "the slim image has python, not curl"
    assert f"http://127.0.0.1:{port}/health" in probe[3]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_listens_beyond_its_container_and_waits_for_setup(service: str) -> None:
    block = compose_services()[service]
    assert environment_of(block)["UNITRAIL_HTTP_HOST"] == "0.0.0.0"
    assert block["depends_on"][SETUP]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize("service", [*SERVICES, SETUP])
def test_kafka_and_postgres_are_reached_through_compose_services(service: str) -> None:
    services = compose_services()
    environment = environment_of(services[service])
    for address in environment["KAFKA_BOOTSTRAP_SERVERS"].split(","):
        host, _ = host_and_port(address)
        assert host in services, f"{service}: no compose service {host!r} for Kafka"
        advertised = environment_of(services[host])["KAFKA_ADVERTISED_LISTENERS"]
        assert f"//{address.strip()}" in advertised, f"{host} does not advertise {address}"
    postgres = PostgresLocation.from_dsn(environment["POSTGRES_DSN"])
    assert postgres.host in services, f"{service}: no compose service {postgres.host!r}"
    server = environment_of(services[postgres.host])
    assert postgres.user == server.get("POSTGRES_USER", "postgres")
    assert postgres.password == server["POSTGRES_PASSWORD"]


@pytest.mark.parametrize("service", SERVICES)
def test_idempotence_is_on_for_real_kafka(service: str) -> None:
    value = environment_of(compose_services()[service])["UNITRAIL_KAFKA_IDEMPOTENCE"]
    assert TypeAdapter(bool).validate_python(value) is True


def test_kafka_is_apache_kafka_in_kraft_mode() -> None:
    kafka = compose_services()["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    environment = environment_of(kafka)
    assert set(environment["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert environment["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert "healthcheck" in kafka


def test_postgres_is_postgres_18_with_a_health_check() -> None:
    postgres = compose_services()["postgres"]
    assert postgres["image"] == "postgres:18"
    assert "healthcheck" in postgres


def test_setup_prepares_the_servers_once_they_are_healthy() -> None:
    setup = compose_services()[SETUP]
    assert command_of(setup)[:3] == ["python", "-m", "infra.setup"]
    assert importlib.util.find_spec("infra.setup") is not None
    assert setup["build"] in (".", {"context": "."})
    for server in ("kafka", "postgres"):
        assert setup["depends_on"][server]["condition"] == "service_healthy"


@pytest.mark.parametrize("service", [*SERVICES, SETUP])
def test_every_variable_compose_sets_is_read_by_the_settings(service: str) -> None:
    ours = {
        name.upper()
        for name in environment_of(compose_services()[service])
        if name.upper().startswith("UNITRAIL_") or name.upper() in SHARED_VARIABLES
    }
    unread = ours - variables_read_by(settings_read_by(service))
    assert not unread, f"{service} sets variables nothing reads: {sorted(unread)}"


def test_the_dockerfile_installs_the_project_as_a_non_root_user() -> None:
    assert DOCKERFILE.exists()
    instructions = dockerfile_instructions()
    assert instructions[0] == "FROM python:3.11-slim"
    installs = [line for line in instructions if line.startswith("RUN") and "pip install" in line]
    assert any(re.search(r"pip install \.(\s|$)", line) for line in installs), installs
    assert not any("[dev]" in line for line in installs), "dev dependencies stay out of the image"
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users, "the image must not run as root"
    assert users[-1] not in ("root", "0")
    copied = {
        source.removeprefix("./").rstrip("/")
        for line in instructions
        if line.startswith("COPY ")
        for source in line.split()[1:-1]
        if not source.startswith("--")
    }
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = [
        name.rstrip("*") for name in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    for needed in ("pyproject.toml", *packages):
        assert needed in copied or "" in copied, f"{needed} is not copied into the image"


def volumes_of(block: dict[str, Any]) -> dict[str, str]:
    """Mount point of each named volume of a service (short syntax), with `:ro` when read-only."""
    mounts: dict[str, str] = {}
    for entry in block.get("volumes", []):
        name, target, *mode = str(entry).split(":")
        mounts[name] = target + (f":{mode[0]}" if mode else "")
    return mounts


def test_only_setup_holds_the_signing_key_and_the_others_get_what_it_shares() -> None:
    services = compose_services()
    setup = volumes_of(services[SETUP])
    assert setup["unitrail-signing"] == "/app/.unitrail/auth"  # `LocalIssuer.of_data_dir`
    *_, share, shared_to = command_of(services[SETUP])
    assert (share, setup["unitrail-keys"]) == ("--share-auth", shared_to)
    readers = [name for name, block in services.items() if "unitrail-keys" in volumes_of(block)]
    assert set(readers) >= {*SERVICES, CONSOLE}
    for name in readers:
        if name != SETUP:
            assert volumes_of(services[name])["unitrail-keys"] == "/app/.unitrail/auth:ro", name
    assert [
        name for name, block in services.items() if "unitrail-signing" in volumes_of(block)
    ] == [SETUP]
    instructions = " ".join(dockerfile_instructions())
    assert f"chown unitrail /app/.unitrail/auth {shared_to}" in instructions, "owned by the user"


def test_setup_shares_the_public_key_and_the_tokens_never_the_private_key(
    tmp_path: Path,
) -> None:
    issuer = LocalIssuer(tmp_path / "auth").ensure()
    tokens = [
        issuer.personal_data_token_file(),
        issuer.token_file("console", "unitrail-console", CONSOLE_ROLES),
    ]
    shared = share_auth([issuer.public_key_file, *tokens], tmp_path / "shared")
    assert sorted(path.name for path in (tmp_path / "shared").iterdir()) == [
        "console.token",
        "personal-data.token",
        "signing-key.pub.pem",
    ]
    for copy in shared:
        original = issuer.directory / copy.name
        assert copy.read_bytes() == original.read_bytes()
        assert copy.stat().st_mode == original.stat().st_mode  # tokens stay owner-only
    assert not (tmp_path / "shared" / issuer.private_key_file.name).exists()
