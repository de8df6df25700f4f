"""kill -9 of every process of the system, one after the other, while orders flow; a consumer
group that grows and shrinks under load; poison on every topic outside systems write."""

from __future__ import annotations

import time

import pytest

from contracts.topics import SERVICES
from tests.faults.flow import Flow, Ledger, prepare, send_poison
from tests.faults.invariants import check
from tests.faults.system import SIMULATORS, System
from tests.integration.harness import eventually

pytestmark = pytest.mark.faults


def test_each_service_killed_in_turn_under_a_flow_of_orders_loses_nothing_and_doubles_nothing(
    system: System, ledger: Ledger
) -> None:
    orders = prepare(system, ledger, "KILL", count=30, seed=1)
    with Flow(system, ledger, orders, rate=1):
        for component in (*SERVICES, SIMULATORS):
            dead = system.kill(component)
            # The next dies while this one is still starting: recoveries overlap, as they would
            # when a machine fails.
            system.wait_until_replaced(component, dead, healthy=False)
            time.sleep(2)
    system.wait_until_healthy()

    verdict = check(system, ledger)

    assert not verdict.problems, verdict.report()
    assert verdict.accepted == 30


def test_a_consumer_group_that_grows_and_shrinks_under_load_and_poison_on_every_inbound_topic(
    system: System, ledger: Ledger
) -> None:
    """Poison is dead-lettered with its reason and everything else flows; a second process of
    inventory and of order joins its group mid-flow and leaves it again."""
    orders = prepare(system, ledger, "SCALE", count=24, seed=2)
    with Flow(system, ledger, orders, rate=0.5):
        send_poison(system, ledger, "SCALE")
        added = system.add_processes("inventory", "order")
        for extra in added:
            eventually(
                extra.messages_handled, timeout=60, what=f"the extra {extra.service} to work"
            )
            system.remove_process(extra)

    verdict = check(system, ledger)

    assert not verdict.problems, verdict.report()
    assert verdict.accepted == 30 + 24
    assert len(ledger.poison) == 7
