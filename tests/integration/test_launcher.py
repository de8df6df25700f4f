"""`scripts/run` (that is, `python -m infra.stack`): one command up, Ctrl-C down, nothing left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from contracts.topics import SERVICES
from infra.embedded import free_port
from tests.integration.harness import Stack, eventually

pytestmark = pytest.mark.integration


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    pending = [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            children = (task / "children").read_text().split() if task.exists() else []
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    pending.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def launch(
    env: dict[str, str], data_dir: Path, broker_port: int, log: Path
) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "infra.stack"),
                *("--data-dir", str(data_dir), "--broker-port", str(broker_port)),
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def wait_until_all_healthy(ports: dict[str, str]) -> None:
    def all_healthy() -> bool:
        return all(healthy(int(port)) for port in ports.values())

    eventually(all_healthy, timeout=120, what="every service to be healthy")


def service_ports() -> dict[str, str]:
    return {f"UNITRAIL_{name.upper()}_HTTP_PORT": str(free_port()) for name in SERVICES}


def test_one_command_starts_everything_embedded_and_ctrl_c_leaves_no_process_behind(
    tmp_path: Path,
) -> None:
    ports = service_ports()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("KAFKA_BOOTSTRAP_SERVERS", "POSTGRES_DSN")
    } | ports
    log = tmp_path / "stack.log"
    stack = launch(env, tmp_path / "data", free_port(), log)
    try:
        wait_until_all_healthy(ports)
        eventually(lambda: "all services are up" in log.read_text(), what="the launcher to say so")
        processes = descendants(stack.pid)
        assert len(processes) >= len(SERVICES) + 2  # six services, the simulators, the broker
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in processes]
        assert any(b"infra.simulators" in command for command in commands)
        postmaster = int((tmp_path / "data/pgdata/postmaster.pid").read_text().split()[0])
        assert alive(postmaster)
    finally:
        stack.send_signal(signal.SIGINT)
        assert stack.wait(60) == 0
    eventually(lambda: not any(alive(pid) for pid in processes), timeout=15, what="no orphans")
    eventually(lambda: not alive(postmaster), timeout=15, what="Postgres stopped")


def test_external_servers_are_used_as_configured_and_nothing_embedded_is_started(
    stack: Stack, tmp_path: Path
) -> None:
    ports = service_ports()
    env = (
        os.environ
        | ports
        | {
            "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap_servers,
            "POSTGRES_DSN": stack.postgres_dsn,
            "UNITRAIL_DATABASE_PREFIX": stack.database_prefix,
            "UNITRAIL_KAFKA_IDEMPOTENCE": "false",  # the "external" broker here is the embedded kind
        }
    )
    unused_port = free_port()
    launcher = launch(env, tmp_path / "data", unused_port, tmp_path / "stack.log")
    try:
        wait_until_all_healthy(ports)
        assert not (tmp_path / "data").exists()
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in descendants(launcher.pid)]
        assert not any(b"tansu" in command or b"postgres" in command for command in commands)
    finally:
        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(60) == 0
    log = (tmp_path / "stack.log").read_text()
    assert "using the Postgres server at POSTGRES_DSN" in log
    assert f"using the Kafka brokers at {stack.bootstrap_servers}" in log
