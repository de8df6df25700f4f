"""Stock operations through the running inventory service: adjustments and counts are refused
without a reason and audited with the authenticated caller as the actor, transfers leave one location and arrive at
another, and low stock suggests a purchase order once per fall."""

from __future__ import annotations

import json
import urllib.error
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.runtime.auth import Role
from tests.integration.harness import (
    Channel,
    ServiceProcess,
    Services,
    TopicReader,
    Topics,
    channel_order,
    eventually,
    receive_serials,
)

pytestmark = pytest.mark.integration


def refusal(
    inventory: ServiceProcess, path: str, body: dict[str, Any], token: str | None = None
) -> Any:
    """What is wrong, as the 422 a request is refused with says it: the failing fields of a
    request that cannot be read, else the message."""
    with pytest.raises(urllib.error.HTTPError) as refused:
        inventory.post(path, body, token=token)
    assert refused.value.code == 422
    error = json.loads(refused.value.read())["error"]
    return error["details"] if error["type"] == "invalid-request" else error["message"]


def sellable_new(events: TopicReader) -> int | None:
    """What the webshop was last told it may sell as new; None before it was told anything."""
    published = events.events("AvailableToSellChanged")
    return int(published[-1]["payload"]["new"]) if published else None


def test_an_adjustment_needs_a_reason_and_is_audited_with_the_caller_as_actor(
    services: Services, topic: Topics
) -> None:
    (inventory,) = services("inventory")
    events = topic("inventory.events.v1")
    ines = inventory.stack.token(Role.INVENTORY, "ines")
    carl = inventory.stack.token(Role.WAREHOUSE, "carl")
    inventory.receive_stock("LAPTOP-14", "WH-A", 5)
    adjustment = {"sku": "LAPTOP-14", "location": "WH-A", "quantity_delta": -2}

    (missing,) = refusal(inventory, "/stock/adjustments", adjustment, ines)
    assert (missing["loc"], missing["msg"]) == (["body", "reason_code"], "Field required")
    claimed = adjustment | {"reason_code": "damage", "actor": "someone-else"}
    (not_from_body,) = refusal(inventory, "/stock/adjustments", claimed, ines)
    assert not_from_body["loc"] == ["body", "actor"], "the actor never comes from the body"
    too_many = adjustment | {"quantity_delta": -6, "reason_code": "loss"}
    assert "would make on hand negative" in refusal(inventory, "/stock/adjustments", too_many, ines)

    damage = adjustment | {"reason_code": "damage", "note": "dropped off a shelf"}
    keyed = damage | {"idempotency_key": "adj-1"}
    first = inventory.post("/stock/adjustments", keyed, token=ines)
    assert inventory.post("/stock/adjustments", keyed, token=ines) == first, "booked once"
    with pytest.raises(urllib.error.HTTPError) as reused:
        inventory.post("/stock/adjustments", keyed | {"quantity_delta": -1}, token=ines)
    assert reused.value.code == 409
    assert "adj-1" in json.loads(reused.value.read())["error"]["message"]
    counted = inventory.post(
        "/stock/counts",
        {"sku": "LAPTOP-14", "location": "WH-A", "counted": 2, "on_behalf_of": "night shift"},
        token=carl,
    )
    assert counted["variance"] == -1

    rows = inventory.get("/stock/LAPTOP-14/movements?location=WH-A")
    carl_for_the_shift = "carl (warehouse) on behalf of night shift"
    assert [
        (row["kind"], row["reason"], row["actor"], row["on_hand_delta"], row["on_hand"])
        for row in rows
    ] == [
        ("received", "initial-count", "test (admin)", 5, 5),
        ("adjusted", "damage", "ines (inventory)", -2, 3),
        ("counted", "cycle-count", carl_for_the_shift, 0, 3),
        ("adjusted", "cycle-count", carl_for_the_shift, -1, 2),
    ]
    assert rows[1]["note"] == "dropped off a shelf"
    assert rows[3]["reference"] == counted["count_id"]

    eventually(lambda: len(events.events("StockAdjusted")) == 2, what="both adjustments")
    adjusted = events.events("StockAdjusted")
    assert [
        (e["payload"]["reason_code"], e["payload"]["on_hand_before"], e["payload"]["on_hand_after"])
        for e in adjusted
    ] == [("damage", 5, 3), ("cycle-count", 3, 2)]
    (count,) = events.events("StockCounted")
    assert (count["payload"]["expected"], count["payload"]["variance"]) == (3, -1)
    eventually(lambda: sellable_new(events) == 2, what="available-to-sell after the count")


def test_a_transfer_leaves_one_location_is_in_transit_and_arrives_at_the_other(
    services: Services, topic: Topics
) -> None:
    (inventory,) = services("inventory")
    events = topic("inventory.events.v1")
    receive_serials(inventory, "CAMERA-X", "WH-A", "C-1", "C-2", "C-3")

    transfer = inventory.post(
        "/stock/transfers",
        {
            "sku": "CAMERA-X",
            "from": "WH-A",
            "to": "WH-B",
            "quantity": 2,
            "serials": ["C-1", "C-2"],
            "reason": "rebalance",
        },
    )
    assert (transfer["status"], transfer["from"], transfer["to"]) == ("in-transit", "WH-A", "WH-B")

    def new_units() -> dict[str, tuple[int, int, int]]:
        rows = inventory.get("/stock/CAMERA-X")["stock"]
        return {
            row["location"]: (row["on_hand"], row["available"], row["in_transit"])
            for row in rows
            if row["condition"] == "new"
        }

    assert new_units() == {"WH-A": (1, 1, 0), "WH-B": (0, 0, 2)}
    (moving,) = inventory.get("/stock/CAMERA-X")["in_transit"]
    assert (moving["transfer_id"], moving["serials"]) == (transfer["transfer_id"], ["C-1", "C-2"])
    eventually(
        lambda: sellable_new(events) == 1,
        what="units in transit available nowhere",
    )

    received = inventory.post(f"/stock/transfers/{transfer['transfer_id']}/receipt", {})
    assert received["status"] == "received"
    assert new_units() == {"WH-A": (1, 1, 0), "WH-B": (2, 2, 0)}
    at_b = inventory.get("/stock/CAMERA-X")["locations"][1]
    assert (at_b["location"], at_b["serials_in_stock"]) == ("WH-B", 2)

    eventually(
        lambda: sellable_new(events) == 3,
        what="the transfer received",
    )
    # Keyed by the stock and by the transfer: two partitions, so no order between them.
    published = [e["event_type"] for e in events.events() if "Transfer" in e["event_type"]]
    assert sorted(published) == [
        "StockTransferredIn",
        "StockTransferredOut",
        "TransferDispatched",
        "TransferReceived",
    ]


def test_low_stock_suggests_a_purchase_order_once_per_fall_below_the_reorder_point(
    services: Services, channel: Channel, topic: Topics
) -> None:
    _, inventory = services("order", "inventory")
    events = topic("inventory.events.v1")
    inventory.receive_stock("LENS-50", "WH-A", 5)
    today = datetime.now(UTC).date()
    policy = inventory.put(
        "/stock/LENS-50/reorder-policy",
        {"location": "WH-A", "reorder_point": 2, "reorder_quantity": 10, "lead_time_days": 7},
    )
    assert (policy["reorder_point"], policy["low_stock"]) == (2, None)

    channel.send(channel_order("7101", lines=[("LENS-50", 3)]))
    (detected,) = eventually(lambda: events.events("LowStockDetected"), what="low stock")
    suggestion = detected["payload"]["suggested_purchase_order"]
    assert (detected["payload"]["available"], suggestion["quantity"]) == (2, 10)
    assert suggestion["expected_by"] in {
        (day + timedelta(days=7)).isoformat() for day in (today, datetime.now(UTC).date())
    }

    adjust = {"sku": "LENS-50", "location": "WH-A", "quantity_delta": -1}
    inventory.post("/stock/adjustments", adjust | {"reason_code": "damage"})
    channel.send(channel_order("7102", lines=[("LENS-50", 1)]))
    eventually(
        lambda: sellable_new(events) == 0,
        what="the second order reserved",
    )

    inventory.receive_stock("LENS-50", "WH-A", 6)
    eventually(lambda: events.events("LowStockResolved"), what="available above the point")
    # Everything the stock published before the recovery has been read by now (one partition).
    assert len(events.events("LowStockDetected")) == 1, "not again while it stayed low"
    inventory.post("/stock/adjustments", adjust | {"quantity_delta": -4, "reason_code": "loss"})
    eventually(
        lambda: len(events.events("LowStockDetected")) == 2, what="a new fall alerting again"
    )
    assert inventory.get("/stock/LENS-50")["reorder_policies"]["WH-A"]["low_stock"] == {
        "quantity": 10,
        "expected_by": suggestion["expected_by"],
    }
