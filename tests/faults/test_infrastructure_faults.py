"""The servers under the system fail while orders flow: the embedded broker dies (and comes back
empty), Postgres dies, the whole system is stopped with Ctrl-C and started again."""

from __future__ import annotations

import time

import pytest

from tests.faults.flow import Flow, Ledger, prepare
from tests.faults.invariants import check, kill_the_broker_with_nothing_of_the_partners_in_flight
from tests.faults.system import System, is_alive
from tests.integration.harness import eventually

pytestmark = pytest.mark.faults


def test_a_broker_killed_mid_flow_comes_back_empty_and_every_order_still_arrives_once(
    system: System, ledger: Ledger
) -> None:
    """Orders come in through the durable HTTP intake (202 once stored), which is what the
    embedded broker, memory only, is paired with; the topics are derived again from the stores.

    The simulated partners still speak Kafka, and what they published is not in any store until
    consumed: they are held (SIGSTOP) until everything was consumed, as a real partner on the
    embedded broker would use the intake instead."""
    orders = prepare(system, ledger, "BROKER", count=20, seed=5)
    with Flow(system, ledger, orders, rate=0.5, via="http") as flow:
        time.sleep(10)
        kill_the_broker_with_nothing_of_the_partners_in_flight(system, flow)

    verdict = check(system, ledger)

    assert not verdict.problems, verdict.report()
    assert verdict.accepted == 20


def test_postgres_killed_mid_flow_is_started_again_and_nothing_is_lost_or_doubled(
    system: System, ledger: Ledger
) -> None:
    orders = prepare(system, ledger, "PG", count=20, seed=6)
    with Flow(system, ledger, orders, rate=0.5):
        time.sleep(10)
        dead = system.kill_postgres()
        eventually(
            lambda: (pid := system.postgres_pid()) not in (None, dead) and is_alive(pid),
            timeout=60,
            what="the launcher to start Postgres again",
        )
        system.wait_until_healthy()

    verdict = check(system, ledger)

    assert not verdict.problems, verdict.report()


def test_ctrl_c_mid_flow_then_run_again_loses_nothing_and_doubles_nothing(
    system: System, ledger: Ledger
) -> None:
    """Ctrl-C drains (every consumer caught up, every relay published) and stops; started again
    on the same data, the embedded broker is empty, the relays publish the stores again, and the
    orders in flight carry on from where the stores left them. Orders keep coming through the
    durable intake meanwhile, retried by the connector while the system is down."""
    orders = prepare(system, ledger, "CTRLC", count=20, seed=7)
    with Flow(system, ledger, orders, rate=0.5, via="http"):
        time.sleep(12)
        status = system.interrupt()
        assert status == 0, f"the launcher exited with {status} on Ctrl-C:\n{system.log()[-3000:]}"
        system.start()

    verdict = check(system, ledger)

    assert not verdict.problems, verdict.report()
    assert sum(order.accepted for order in orders) == 20
