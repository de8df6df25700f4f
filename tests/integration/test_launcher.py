"""`scripts/run` (that is, `python -m infra.stack`): one command up, Ctrl-C down, nothing left;
meanwhile it restarts what dies, the embedded broker and Postgres included."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from contracts.topics import SERVICES, all_topics
from infra.embedded import EmbeddedBroker, free_port, free_ports
from infra.processes import PORT_STEP, consumes
from infra.supervision import BrokerSupervisor, recreate_topics
from services.runtime.config import OFF_PATH_NICENESS
from tests.integration.harness import Stack, eventually

pytestmark = pytest.mark.integration


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    pending = [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
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


def niceness_of_threads(pid: int) -> set[int]:
    """The niceness of each thread of a process (field 19 of its `stat`)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(FileNotFoundError):
            fields = (task / "stat").read_text().rpartition(")")[2].split()
            found.add(int(fields[16]))
    return found


def command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def launch(
    env: dict[str, str], data_dir: Path, broker_port: int, log: Path, *options: str
) -> subprocess.Popen[bytes]:
    """The launcher in a session of its own, so that a Ctrl-C can be sent to its whole process
    group, as a terminal does."""
    with log.open("wb") as output:
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "infra.stack"),
                *("--data-dir", str(data_dir), "--broker-port", str(broker_port)),
                *options,
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def ctrl_c(launcher: subprocess.Popen[bytes]) -> None:
    """What a terminal does on Ctrl-C: SIGINT to every process of the foreground group."""
    os.killpg(launcher.pid, signal.SIGINT)


def stop_at_once(launcher: subprocess.Popen[bytes]) -> None:
    """After a failure: Ctrl-C twice, so nothing is left running."""
    if launcher.poll() is None:
        ctrl_c(launcher)
        time.sleep(0.5)
        ctrl_c(launcher)
        launcher.wait(60)


def said(log: Path, text: str) -> bool:
    return text in log.read_text()


def said_in_order(log: Path, *texts: str) -> bool:
    """Each text said, each after the one before it."""
    content = log.read_text()
    at = 0
    for text in texts:
        at = content.find(text, at)
        if at < 0:
            return False
        at += len(text)
    return True


def launch_ports() -> tuple[dict[str, str], int]:
    """Distinct free ports: the services' and the console's (as settings), and the broker's."""
    *services, console, broker = free_ports(len(SERVICES) + 2)
    ports = {
        f"UNITRAIL_{name.upper()}_HTTP_PORT": str(port)
        for name, port in zip(SERVICES, services, strict=True)
    }
    return ports | {"UNITRAIL_CONSOLE_HTTP_PORT": str(console)}, broker


def wait_until_all_healthy(ports: list[int]) -> None:
    eventually(
        lambda: all(healthy(port) for port in ports),
        timeout=240,
        what="every service process to be healthy",
    )


def process_of(launcher: subprocess.Popen[bytes], fragment: bytes) -> int:
    [pid] = [pid for pid in descendants(launcher.pid) if fragment in command_line(pid)]
    return pid


def moments_of_death(launcher: subprocess.Popen[bytes], pids: dict[str, int]) -> dict[str, float]:
    """Watch processes until the launcher exits; when each one was first seen gone.

    Everything found gone in one look shares that look's moment: within a look the order of the
    checks, not of the deaths, would decide which came first."""
    gone: dict[str, float] = {}
    deadline = time.monotonic() + 180
    while launcher.poll() is None and time.monotonic() < deadline:
        looked = time.monotonic()
        for name, pid in pids.items():
            if name not in gone and not alive(pid):
                gone[name] = looked
        time.sleep(0.02)
    now = time.monotonic()
    return {name: gone.get(name, now) for name in pids}


def partition_counts(bootstrap_servers: str) -> dict[str, int]:
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    metadata = admin.list_topics(timeout=10)
    return {name: len(topic.partitions) for name, topic in metadata.topics.items()}


def test_it_starts_everything_embedded_restarts_a_dead_broker_and_postgres_and_drains_in_order(
    tmp_path: Path,
) -> None:
    ports, broker_port = launch_ports()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("KAFKA_BOOTSTRAP_SERVERS", "POSTGRES_DSN")
    } | ports
    env["UNITRAIL_DRAIN_TIMEOUT"] = "120"
    log = tmp_path / "stack.log"
    bootstrap = f"127.0.0.1:{broker_port}"
    registered = {topic.name: topic.partitions for topic in all_topics()}
    launcher = launch(env, tmp_path / "data", broker_port, log)
    try:
        wait_until_all_healthy([int(port) for port in ports.values()])
        eventually(lambda: said(log, "all services are up"), what="the launcher to say so")
        console = f"http://127.0.0.1:{ports['UNITRAIL_CONSOLE_HTTP_PORT']}"
        with urllib.request.urlopen(f"{console}/orders", timeout=30) as page:
            assert b"orders" in page.read(), "the console reads the services with its token"
        processes = descendants(launcher.pid)
        assert len(processes) >= len(SERVICES) + 3  # the services, simulators, broker, Postgres
        simulators = process_of(launcher, b"infra.simulators")
        postmaster = int((tmp_path / "data/pgdata/postmaster.pid").read_text().split()[0])
        assert postmaster in processes  # adopted: its death is seen, and reaped, by the launcher

        broker = process_of(launcher, b"tansu")
        os.kill(broker, signal.SIGKILL)
        eventually(lambda: said(log, "embedded broker restarted"), what="the broker restarted")
        assert said(log, "; incarnation ")
        counts = partition_counts(bootstrap)
        assert {name: counts.get(name) for name in registered} == registered
        assert process_of(launcher, b"tansu") != broker

        os.kill(postmaster, signal.SIGKILL)
        eventually(
            lambda: said(log, "embedded Postgres restarted"), timeout=90, what="Postgres restarted"
        )
        postmaster = int((tmp_path / "data/pgdata/postmaster.pid").read_text().split()[0])
        assert alive(postmaster)
        wait_until_all_healthy([int(port) for port in ports.values()])  # reconnected
        watched = {"simulators": simulators, "broker": process_of(launcher, b"tansu")}
        watched["postgres"] = postmaster
        for name in SERVICES:
            watched[name] = process_of(launcher, f"services.{name}.main".encode())
        # Off the order path every thread yields the cores; on it, none.
        [started_at] = niceness_of_threads(launcher.pid)
        for name in ("simulators", *SERVICES):
            on_the_path = name in ("order", "inventory")
            expected = {started_at if on_the_path else min(19, started_at + OFF_PATH_NICENESS)}
            assert niceness_of_threads(watched[name]) == expected, name
    except BaseException:
        stop_at_once(launcher)
        raise
    ctrl_c(launcher)
    died = moments_of_death(launcher, watched)
    status = launcher.wait(60)
    services_died = [died[name] for name in SERVICES]
    # The launcher reaps every service before it stops the broker, and the broker before Postgres;
    # deaths closer together than one look (20 ms) are seen at the same moment.
    assert died["simulators"] <= min(services_died)
    assert max(services_died) <= died["broker"] <= died["postgres"]
    assert said_in_order(
        log,
        "stopping the services",
        "stopping the embedded broker",
        "stopping the embedded Postgres",
    )
    assert status == 0
    assert said(log, "drained in ")
    eventually(lambda: not any(alive(pid) for pid in processes), timeout=15, what="no orphans")


def test_two_processes_of_each_consuming_service_and_a_second_ctrl_c_stops_at_once(
    stack: Stack, tmp_path: Path
) -> None:
    ports, broker_port = launch_ports()
    env = stack.env() | ports | {"UNITRAIL_DRAIN_TIMEOUT": "300"}
    log = tmp_path / "stack.log"
    launcher = launch(
        env, tmp_path / "data", broker_port, log, "--processes", "2", "--no-simulators"
    )
    try:
        expected: list[int] = []
        for name in SERVICES:
            port = int(ports[f"UNITRAIL_{name.upper()}_HTTP_PORT"])
            expected.append(port)
            if consumes(name):
                expected.append(port + PORT_STEP)
        wait_until_all_healthy(expected)
        pim_port = int(ports["UNITRAIL_PIM_HTTP_PORT"])
        assert not healthy(pim_port + PORT_STEP)  # it consumes nothing: one process
        commands = [command_line(pid) for pid in descendants(launcher.pid)]
        assert sum(b"services.order.main" in command for command in commands) == 2
        assert sum(b"services.pim.main" in command for command in commands) == 1
        assert not any(b"tansu" in command or b"postgres" in command for command in commands)
        assert not any(b"infra.simulators" in command for command in commands)
        assert not (tmp_path / "data").exists()

        order_port = int(ports["UNITRAIL_ORDER_HTTP_PORT"]) + PORT_STEP
        second_order = [
            pid
            for pid in descendants(launcher.pid)
            if b"services.order.main" in command_line(pid)
            and f"UNITRAIL_ORDER_HTTP_PORT={order_port}".encode()
            in Path(f"/proc/{pid}/environ").read_bytes()
        ]
        os.kill(second_order[0], signal.SIGKILL)
        eventually(lambda: said(log, "order#2 exited with -9; restarting it"), what="a restart")
        wait_until_all_healthy([order_port])

        # A process that answers nothing can never be seen drained: only the second Ctrl-C ends
        # the wait.
        pim = process_of(launcher, b"services.pim.main")
        os.kill(pim, signal.SIGSTOP)
        ctrl_c(launcher)
        eventually(lambda: said(log, "pim: no answer from /health"), timeout=60, what="progress")
        ctrl_c(launcher)
        started = time.monotonic()
        status = launcher.wait(60)
        assert time.monotonic() - started < 30
    finally:
        stop_at_once(launcher)
    assert status == 1
    text = log.read_text()
    assert "stopping at once; not drained: " in text
    assert "pim: no answer from /health" in text.split("stopping at once; not drained: ")[1]
    assert "using the Postgres server at POSTGRES_DSN" in text
    assert f"using the Kafka brokers at {stack.bootstrap_servers}" in text
    eventually(lambda: not alive(pim), timeout=15, what="the paused process stopped too")


def test_a_stuck_broker_is_replaced_and_a_topic_made_by_a_client_gets_its_count() -> None:
    broker = EmbeddedBroker(free_port())
    bootstrap = broker.start()
    registered = {topic.name: topic.partitions for topic in all_topics()}
    messages: list[str] = []
    supervisor = BrokerSupervisor(
        broker,
        paused=contextlib.nullcontext,
        say=messages.append,
        unanswered_seconds=2,
        probe_every=0.5,
    )
    stuck = broker.pid
    assert stuck is not None
    try:
        os.kill(stuck, signal.SIGSTOP)  # it still accepts connections, but answers nothing

        def replaced() -> bool:
            supervisor.check()
            return supervisor.restarts == 1

        eventually(replaced, timeout=30, what="the stuck broker to be replaced")
        assert not alive(stuck)
        assert "answered nothing for 2 s" in messages[0]

        # On a restart a client that auto-creates topics (librdkafka's producer does) may get in
        # first: its topic is made again with the registered count.
        broker.kill()
        broker.start()
        producer = Producer({"bootstrap.servers": bootstrap})
        producer.produce("order.deadletter.v1", b"early")
        producer.flush(10)
        assert partition_counts(bootstrap)["order.deadletter.v1"] != 1
        asyncio.run(recreate_topics(bootstrap))
        counts = partition_counts(bootstrap)
        assert {name: counts.get(name) for name in registered} == registered
    finally:
        broker.stop()
