"""kill -9 of every process of the system, one after the other, while orders flow; a consumer
group that grows and shrinks under load; poison on every topic outside systems write."""

from __future__ import annotations

import time
from typing import Any

import pytest

from contracts.topics import SERVICES
from infra.cli.orders import describe
from tests.faults.flow import Flow, Ledger, prepare, send_orders, send_poison
from tests.faults.invariants import check, order_view
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


def test_a_3pl_that_stops_answering_leaves_orders_that_show_how_long_they_have_waited(
    system: System, ledger: Ledger
) -> None:
    """The simulated 3PL hangs (SIGSTOP): its orders wait at the warehouse, and the order says
    for how long, as `unitrail where` prints it; once it answers again they are delivered."""
    orders = prepare(system, ledger, "STALL", count=4, seed=3)
    hung = system.freeze(SIMULATORS)
    try:
        send_orders(system, ledger, orders, rate=5)
        waiting = [order for order in orders if order.expect == "delivered"]

        def waited_a_while() -> dict[str, Any] | None:
            _, view = order_view(system, waiting[0])
            parcels = (view or {}).get("shipments", [])
            seconds = [parcel["waiting_at_warehouse_seconds"] or 0 for parcel in parcels]
            return view if seconds and min(seconds) >= 5 else None

        view = eventually(waited_a_while, timeout=120, what="a parcel waiting at the warehouse")
        assert view["status"] == "released-to-warehouse"
        assert "at the warehouse, waiting for the 3PL for " in describe(view)
    finally:
        system.thaw(hung)

    verdict = check(system, ledger)

    assert not verdict.problems, verdict.report()
    _, delivered = order_view(system, waiting[0])
    assert delivered is not None
    assert all(p["waiting_at_warehouse_seconds"] is None for p in delivered["shipments"])


def test_crashes_between_a_store_commit_and_the_offset_or_the_relay_position_double_nothing(
    system: System, ledger: Ledger
) -> None:
    """Each crash point once, in the services that decide an order's fate: a consumer that
    committed its batch but not the offsets (it is read again), a relay that published but did not
    record how far (it publishes again)."""
    orders = prepare(system, ledger, "CRASH", count=60, seed=4)
    with Flow(system, ledger, orders, rate=0.5) as flow:
        for service, point in (
            ("order", "relay.after-publish"),
            ("inventory", "consumer.after-commit"),
            ("inventory", "relay.after-publish"),
            ("order", "consumer.after-commit"),
        ):
            system.crash_once_at(service, point, passes=2)
        flow.stop()  # orders flowed through every crash; enough

    verdict = check(system, ledger)

    assert not verdict.problems, verdict.report()
