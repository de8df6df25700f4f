"""The servers under the system fail while orders flow: the embedded broker dies (and comes back
empty), Postgres dies."""

from __future__ import annotations

import time

import pytest

from tests.faults.flow import Flow, Ledger, prepare
from tests.faults.invariants import check, kill_the_broker_with_nothing_of_the_partners_in_flight
from tests.faults.system import System, is_alive
from tests.integration.harness import eventually

pytestmark = pytest.mark.faults


@pytest.mark.xfail(
    strict=False,
    reason="open defect (issue 12): after the broker restarts empty, one stored event can be "
    "missing from a topic now and then (1 run in 4); the test keeps running and reporting it",
)
def test_a_broker_killed_mid_flow_comes_back_empty_and_every_order_still_arrives_once(
    system: System, ledger: Ledger
) -> None:
    """Orders come in through the durable HTTP intake (202 once stored), which is what the
    embedded broker, memory only, is paired with; the topics are derived again from the stores.

    The simulated partners still speak Kafka, and what they published is not in any store until
    consumed: they are held (SIGSTOP) until everything was consumed, as a real partner on the
    embedded broker would use the intake instead."""
    orders = prepare(system, ledger, "BROKER", count=20, seed=5)
    with Flow(system, ledger, orders, rate=0.5, via="http"):
        time.sleep(10)
        kill_the_broker_with_nothing_of_the_partners_in_flight(system)

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
