"""The integration suite's second backend: the compose file's containers, chosen by a setting, and
one clear line where no Docker engine answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.integration.backends import (
    BACKEND_VARIABLE,
    compose_service,
    kafka_environment,
)

ROOT = Path(__file__).parents[3]


def test_the_kafka_container_runs_with_the_compose_files_settings_reached_on_loopback() -> None:
    compose = compose_service("kafka").environment
    environment = kafka_environment(41234)
    assert environment["KAFKA_ADVERTISED_LISTENERS"] == (
        "PLAINTEXT://kafka:9092,HOST://127.0.0.1:41234"
    )
    unchanged = {key: value for key, value in environment.items() if key in compose}
    del unchanged["KAFKA_ADVERTISED_LISTENERS"]
    assert unchanged == {k: v for k, v in compose.items() if k != "KAFKA_ADVERTISED_LISTENERS"}
    assert compose["KAFKA_PROCESS_ROLES"] == "broker,controller", "KRaft, no ZooKeeper"
    assert compose_service("postgres").image.startswith("postgres:")


def run_suite(**environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "tests/integration/test_hostile_input.py",
        ],
        cwd=ROOT,
        env=os.environ | environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_choosing_containers_without_a_docker_engine_fails_in_one_clear_line() -> None:
    result = run_suite(
        **{BACKEND_VARIABLE: "containers", "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    )
    assert result.returncode == 4
    (line,) = [line for line in result.stdout.splitlines() if "Docker engine" in line]
    assert "UNITRAIL_TEST_BACKEND=containers needs a Docker engine, and none answers" in line
    assert "unset it to run on the embedded servers" in line


def test_an_unknown_backend_is_refused_naming_the_choices() -> None:
    result = run_suite(**{BACKEND_VARIABLE: "kubernetes"})
    assert result.returncode == 4
    assert "UNITRAIL_TEST_BACKEND=kubernetes: choose one of embedded, containers" in result.stdout
