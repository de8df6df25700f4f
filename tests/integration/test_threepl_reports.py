"""What a 3PL reports besides shipments: a transfer's arrival, its own cycle counts and units found
damaged on the shelf, through the running warehouse adapter and inventory.

The 3PL here is written only from the published contract: every message it sends is checked
against `contracts/schemas/` before it goes out, and every event it reads against the schema of
its envelope and payload, as a partner building on `docs/asyncapi.yaml` would.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.integration.harness import (
    Channel,
    SchemaBuiltThreePL,
    ServiceProcess,
    Services,
    Simulators,
    TopicReader,
    Topics,
    eventually,
    receive_serials,
)

pytestmark = pytest.mark.integration


class ReportingThreePL(SchemaBuiltThreePL):
    """The 3PL of `SchemaBuiltThreePL`, reporting arrivals and what it finds on its shelves."""

    def transfer_received(self, transfer_id: str, sku: str, *serials: str) -> None:
        message = {
            "type": "transfer_received",
            "transfer_id": transfer_id,
            "location": "WH-B",
            "sku": sku,
            "quantity": len(serials),
            "serials": list(serials),
            "at": datetime.now(UTC).isoformat(),
            "received_by": "dock-2",
        }
        self.deliver("threepl.receipts.v1", "TransferArrival.v1", message, key=transfer_id)

    def report(self, kind: str, report_id: str, sku: str, **fields: Any) -> None:
        message = {
            "type": kind,
            "report_id": report_id,
            "location": "WH-A",
            "sku": sku,
            "at": datetime.now(UTC).isoformat(),
            **fields,
        }
        stem = "CycleCount.v1" if kind == "cycle_counted" else "ShelfDamage.v1"
        self.deliver("threepl.stock.v1", stem, message, key=f"WH-A:{sku}")


def new_units(inventory: ServiceProcess, sku: str) -> dict[str, tuple[int, int]]:
    """Location → (on hand, in transit) of new units."""
    return {
        row["location"]: (row["on_hand"], row["in_transit"])
        for row in inventory.get(f"/stock/{sku}")["stock"]
        if row["condition"] == "new"
    }


def dead_letter_reasons(dead_letters: TopicReader) -> list[str]:
    return [record.headers["error"] for record in dead_letters.poll()]


def test_a_transfer_goes_to_both_3pls_and_what_arrives_is_booked_in(
    services: Services, channel: Channel, topic: Topics
) -> None:
    inventory, _ = services("inventory", "warehouse_adapter")
    threepl = ReportingThreePL(channel, topic)
    inventory_events = topic("inventory.events.v1")
    dead_letters = topic("warehouse_adapter.deadletter.v1")
    receive_serials(inventory, "CAMERA-X", "WH-A", "C-1", "C-2", "C-3")

    transfer = inventory.post(
        "/stock/transfers",
        {"sku": "CAMERA-X", "from": "WH-A", "to": "WH-B", "quantity": 2, "serials": ["C-1", "C-2"]},
    )
    (requested,) = eventually(lambda: threepl.payloads("TransferRequested"), what="the request")
    assert requested["transfer_id"] == transfer["transfer_id"]
    assert (requested["from_location"], requested["to_location"]) == ("WH-A", "WH-B")
    assert (requested["quantity"], requested["serials"]) == (2, ["C-1", "C-2"])

    # One unit arrives: sent twice, booked once; the other is written off as lost in transit.
    threepl.transfer_received(transfer["transfer_id"], "CAMERA-X", "C-1")
    threepl.transfer_received(transfer["transfer_id"], "CAMERA-X", "C-1")
    (received,) = eventually(
        lambda: list(inventory_events.distinct_events("TransferReceived").values()),
        what="the transfer booked in",
    )
    assert (received["payload"]["quantity_received"], received["payload"]["shortfall"]) == (1, 1)
    assert received["payload"]["serials_missing"] == ["C-2"]
    assert received["payload"]["actor"] == "dock-2"
    assert new_units(inventory, "CAMERA-X") == {"WH-A": (1, 0), "WH-B": (1, 0)}
    (arrived,) = threepl.payloads("TransferArrived")
    assert (arrived["location"], arrived["serials_received"]) == ("WH-B", ["C-1"])

    # An arrival under a transfer nobody requested, or a second, different one: refused, named.
    threepl.transfer_received(str(uuid.uuid4()), "CAMERA-X", "C-3")
    threepl.transfer_received(transfer["transfer_id"], "CAMERA-X", "C-1", "C-2")
    reasons: list[str] = []

    def both_refused() -> bool:
        reasons.extend(dead_letter_reasons(dead_letters))
        return len(reasons) >= 2

    eventually(both_refused, what="both refusals")
    # Keyed by two transfers: two partitions, so no order between the refusals.
    assert any("was requested of any warehouse" in reason for reason in reasons)
    assert any("a second, different arrival is refused" in reason for reason in reasons)
    assert new_units(inventory, "CAMERA-X") == {"WH-A": (1, 0), "WH-B": (1, 0)}


def test_the_3pls_cycle_counts_and_damages_are_booked_with_reasons(
    services: Services, channel: Channel, topic: Topics
) -> None:
    inventory, _ = services("inventory", "warehouse_adapter")
    threepl = ReportingThreePL(channel, topic)
    inventory_events = topic("inventory.events.v1")
    dead_letters = topic("warehouse_adapter.deadletter.v1")
    receive_serials(inventory, "CAMERA-X", "WH-A", "C-1", "C-2", "C-3", "C-4")

    # The 3PL counts 3 of the 4 on the books; the count is sent twice and booked once.
    counted = {"counted": 3, "serials": ["C-1", "C-3", "C-4"], "counted_by": "night shift"}
    threepl.report("cycle_counted", "CC-1", "CAMERA-X", **counted)
    threepl.report("cycle_counted", "CC-1", "CAMERA-X", **counted)
    (count,) = eventually(
        lambda: list(inventory_events.distinct_events("StockCounted").values()), what="the count"
    )
    assert (count["payload"]["expected"], count["payload"]["variance"]) == (4, -1)
    assert (count["payload"]["serials_missing"], count["payload"]["actor"]) == (
        ["C-2"],
        "night shift",
    )
    assert new_units(inventory, "CAMERA-X") == {"WH-A": (3, 0)}

    # A unit found damaged on the shelf leaves sellable stock, with the reason and the serial.
    threepl.report(
        "damage_found", "DMG-1", "CAMERA-X", quantity=1, serials=["C-4"], note="cracked lens"
    )
    eventually(lambda: new_units(inventory, "CAMERA-X") == {"WH-A": (2, 0)}, what="the damage")
    adjustments = [e["payload"] for e in inventory_events.events("StockAdjusted")]
    assert [(a["reason_code"], a["quantity_delta"], a["serials"]) for a in adjustments] == [
        ("cycle-count", -1, ["C-2"]),
        ("damage", -1, ["C-4"]),
    ]
    assert (adjustments[1]["note"], adjustments[1]["actor"]) == ("cracked lens", "3pl")

    # Another report under a known id is refused, naming it; nothing changes.
    threepl.report("cycle_counted", "CC-1", "CAMERA-X", counted=9)
    (reason,) = eventually(lambda: dead_letter_reasons(dead_letters), what="the refusal")
    assert "report CC-1 was already recorded" in reason
    assert new_units(inventory, "CAMERA-X") == {"WH-A": (2, 0)}

    # A damage and, right behind it, a count of what it left: booked in that order (two reports,
    # one shelf), so the count finds nothing missing and the damage keeps its reason.
    threepl.report("damage_found", "DMG-2", "CAMERA-X", quantity=1, serials=["C-3"], note="dent")
    threepl.report("cycle_counted", "CC-2", "CAMERA-X", counted=1, serials=["C-1"])
    counts = eventually(
        lambda: [c for c in inventory_events.distinct_events("StockCounted").values()][1:],
        what="the second count",
    )
    assert [(c["payload"]["expected"], c["payload"]["variance"]) for c in counts] == [(1, 0)]
    adjustments = [e["payload"] for e in inventory_events.events("StockAdjusted")]
    assert [(a["reason_code"], a["serials"]) for a in adjustments[2:]] == [("damage", ["C-3"])]
    assert new_units(inventory, "CAMERA-X") == {"WH-A": (1, 0)}


def test_the_simulated_3pl_counts_its_shelves_and_inventory_books_its_counts(
    services: Services, simulators: Simulators, topic: Topics
) -> None:
    inventory, _ = services("inventory", "warehouse_adapter")
    inventory_events = topic("inventory.events.v1")
    simulators(UNITRAIL_SIMULATED_3PL_CYCLE_COUNT_INTERVAL="1")  # it counts every second
    receive_serials(inventory, "CAMERA-X", "WH-A", "C-1", "C-2")

    (count, *_) = eventually(
        lambda: list(inventory_events.distinct_events("StockCounted").values()),
        what="the simulated 3PL's cycle count booked",
    )
    assert count["payload"]["actor"] == "simulated 3PL"
    assert (count["payload"]["expected"], count["payload"]["variance"]) == (2, 0)
    assert new_units(inventory, "CAMERA-X") == {"WH-A": (2, 0)}
