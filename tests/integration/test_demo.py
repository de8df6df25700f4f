"""`scripts/demo` against a running system: its orders reach delivered, and it can run again."""

from __future__ import annotations

import pytest

from infra import demo
from tests.integration.harness import Services, Simulators, Stack

pytestmark = pytest.mark.integration


def test_the_demo_takes_its_orders_to_delivered_and_can_run_again(
    services: Services,
    simulators: Simulators,
    stack: Stack,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pim, inventory, order, _, shipping, returns = services(
        "pim", "inventory", "order", "warehouse_adapter", "shipping", "returns"
    )
    # Some mistakes on the floor and on the road; the flow recovers from each.
    simulators(
        UNITRAIL_SIMULATED_3PL_MIS_SCAN_RATE="0.3",
        UNITRAIL_SIMULATED_3PL_DUPLICATE_RATE="0.3",
        UNITRAIL_SIMULATED_CARRIERS_EXCEPTION_RATE="0.3",
    )
    system = [
        *("--bootstrap", stack.bootstrap_servers),
        *("--pim-url", pim.url, "--inventory-url", inventory.url),
        *("--order-url", order.url, "--shipping-url", shipping.url),
        *("--returns-url", returns.url),
        *("--rate", "20", "--timeout", "90", "--review-after", "0"),
    ]

    assert demo.main(["--orders", "5", *system]) == 0
    first = capsys.readouterr().out
    assert "5 of 5 orders delivered" in first
    assert "risk desk: " in first
    assert "reviewed and released it" in first
    assert "status    delivered" in first  # where one order is, as `unitrail where` says
    assert first.count("refunded ") == 2, "two customers returned a unit, graded B and refunded"
    # Stock came in on purchase orders whose ASNs named the serials the parcels then carried.
    assert "received by the 3PL against their ASNs" in first
    assert "serials: " in first
    assert "serials: SIM" not in first

    assert demo.main(["--orders", "2", "--no-fraud-order", "--returns", "0", *system]) == 0
    assert "2 of 2 orders delivered" in capsys.readouterr().out
