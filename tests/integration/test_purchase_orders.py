"""A purchase order end to end: raised and confirmed over HTTP, announced by an ASN, received at
the warehouse by a 3PL adapter written with confluent-kafka, refused when a receipt breaks a rule,
and its serials shipped to a customer; finance reads the receipt and the shipment, valued, on the
movements feed."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from contracts.shipping import LabelPurchased
from tests.integration.harness import (
    Channel,
    ServiceProcess,
    Services,
    ThreePL,
    Topics,
    channel_order,
    eventually,
    published,
    register_in_pim,
)

pytestmark = pytest.mark.integration

PO = "PO-7001"


def goods_received(receipt_id: str, *lines: dict[str, Any], asn_id: str | None = None) -> bytes:
    """A `goods_received` message exactly as a 3PL adapter would write it (plain JSON)."""
    message = {
        "type": "goods_received",
        "receipt_id": receipt_id,
        "purchase_order_id": PO,
        "asn_id": asn_id,
        "location": "WH-A",
        "at": datetime.now(UTC).isoformat(),
        "received_by": "dock-4",
        "lines": list(lines),
    }
    return json.dumps(message).encode()


def raise_and_confirm(inventory: ServiceProcess, *, quantity: int) -> None:
    """A buyer raises a purchase order for laptops at WH-A, and the supplier confirms it."""
    inventory.post(
        "/purchase-orders",
        {
            "purchase_order_id": PO,
            "supplier": "Acme Laptops",
            "location": "WH-A",
            "expected_on": "2026-12-01",
            "lines": [
                {"sku": "LAPTOP-14", "quantity": quantity, "unit_cost": "612.50", "currency": "USD"}
            ],
        },
    )
    inventory.post(f"/purchase-orders/{PO}/confirmation", {})


def test_a_purchase_order_is_received_through_the_3pl_and_its_serials_ship(
    services: Services, channel: Channel, topic: Topics
) -> None:
    pim, order, inventory, _ = services("pim", "order", "inventory", "warehouse_adapter")
    register_in_pim(pim, order, "LAPTOP-14")
    inventory_events = topic("inventory.events.v1")
    movements = topic("inventory.movements.v1")  # as an ERP reads it: a plain Kafka consumer
    threepl = ThreePL(channel, topic)

    raise_and_confirm(inventory, quantity=3)
    inventory.post(
        f"/purchase-orders/{PO}/asns",
        {
            "asn_id": "ASN-1",
            "expected_on": "2026-11-30",
            "lines": [
                {"sku": "LAPTOP-14", "quantity": 2, "serials": ["SN-1", "SN-2"], "batch": "B-7"}
            ],
        },
    )
    (new_at_a,) = [p for p in inventory.get("/stock/LAPTOP-14")["stock"] if p["condition"] == "new"]
    assert (new_at_a["location"], new_at_a["on_hand"], new_at_a["inbound"]) == ("WH-A", 0, 3)

    # the 3PL learns what to expect: the order, then what the ASN carries
    def expected() -> list[dict[str, Any]] | None:
        found = [e["payload"] for e in threepl.events.events("InboundExpected")]
        return found if len(found) == 2 else None

    order_expected, asn_expected = eventually(expected, what="the inbound announcements")
    assert (order_expected["asn_id"], order_expected["lines"][0]["quantity"]) == (None, 3)
    assert (asn_expected["asn_id"], asn_expected["lines"][0]["serials"]) == (
        "ASN-1",
        ["SN-1", "SN-2"],
    )

    arrived = goods_received(
        "R-1",
        {"sku": "LAPTOP-14", "quantity": 2, "serials": ["SN-1", "SN-2"], "batch": "B-7"},
        asn_id="ASN-1",
    )
    channel.publish("threepl.receipts.v1", arrived, key=PO)
    channel.publish("threepl.receipts.v1", arrived, key=PO)  # sent twice: received once

    (received,) = eventually(
        lambda: list(inventory_events.distinct_events("StockReceived").values()), what="receipt"
    )
    payload = received["payload"]
    assert (payload["reason"], payload["reference"], payload["actor"]) == (
        "purchase-receipt",
        PO,
        "dock-4",
    )
    assert (payload["serials"], payload["batch"], payload["location"]) == (
        ["SN-1", "SN-2"],
        "B-7",
        "WH-A",
    )
    assert (Decimal(payload["unit_cost"]), payload["currency"]) == (Decimal("612.50"), "USD")

    def booked(movement_type: str) -> list[dict[str, Any]] | None:
        found = movements.distinct_events("StockMovement").values()
        return [e for e in found if e["payload"]["movement_type"] == movement_type] or None

    (receipt_movement,) = eventually(lambda: booked("receipt"), what="the receipt movement")
    moved = receipt_movement["payload"]
    assert (moved["sku"], moved["location"], moved["quantity"], moved["serials"]) == (
        "LAPTOP-14",
        "WH-A",
        2,
        ["SN-1", "SN-2"],
    )
    assert (Decimal(moved["unit_cost"]), moved["currency"], Decimal(moved["extended_value"])) == (
        Decimal("612.50"),
        "USD",
        Decimal("1225.00"),
    )
    assert (moved["reference_type"], moved["reference"], moved["batch"]) == (
        "purchase-order",
        PO,
        "B-7",
    )
    # the same stored event as StockReceived, but a message of its own
    assert (receipt_movement["aggregate_id"], receipt_movement["aggregate_version"]) == (
        received["aggregate_id"],
        received["aggregate_version"],
    )
    assert receipt_movement["event_id"] != received["event_id"]

    def sellable() -> int | None:
        figures = [
            e["payload"]["new"]
            for e in inventory_events.events("AvailableToSellChanged")
            if e["payload"]["channel"] == "webshop"
        ]
        return figures[-1] if figures else None

    eventually(lambda: sellable() == 2, what="2 laptops available to sell")
    (new_at_a,) = [p for p in inventory.get("/stock/LAPTOP-14")["stock"] if p["condition"] == "new"]
    assert (new_at_a["on_hand"], new_at_a["inbound"]) == (2, 1)

    # a serial received before, more than is outstanding, a SKU not ordered: each refused whole
    for receipt_id, line in (
        ("R-2", {"sku": "LAPTOP-14", "quantity": 1, "serials": ["SN-2"], "batch": "B-7"}),
        ("R-3", {"sku": "LAPTOP-14", "quantity": 2, "serials": ["SN-3", "SN-4"]}),
        ("R-4", {"sku": "PHONE-9", "quantity": 1, "serials": ["PH-1"]}),
    ):
        channel.publish("threepl.receipts.v1", goods_received(receipt_id, line), key=PO)

    def rejections() -> dict[str, list[str]] | None:
        found = {
            e["payload"]["receipt_id"]: e["payload"]["problems"]
            for e in threepl.events.events("GoodsReceiptRejected")
        }
        return found if len(found) == 3 else None

    assert eventually(rejections, what="three rejections") == {
        "R-2": ["line 1: serial SN-2 of LAPTOP-14 was already received (at WH-A)"],
        "R-3": ["line 1: 2 x LAPTOP-14 is more than the 1 outstanding (3 ordered, 2 received)"],
        "R-4": ["line 1: PHONE-9 is not on purchase order PO-7001"],
    }
    assert len(inventory_events.events("PurchaseOrderReceiptRejected")) == 3
    view = inventory.get(f"/purchase-orders/{PO}")
    assert view["status"] == "partially-received"
    assert [(line["ordered"], line["received"], line["outstanding"]) for line in view["lines"]] == [
        (3, 2, 1)
    ]
    # Each receipt is its own aggregate at the warehouse adapter, so on its own partition: the
    # rejections reach inventory in any order.
    assert sorted(r["receipt_id"] for r in view["rejected_receipts"]) == ["R-2", "R-3", "R-4"]

    # a customer's laptop ships with one of exactly those serials
    channel.send(channel_order("7701", lines=[("LAPTOP-14", 1)]))
    (request,) = threepl.requests(1)
    shipment = request["shipment_id"]
    threepl.pack(shipment, (1, "LAPTOP-14", "SN-1"))
    (verdict,) = threepl.answer(shipment)
    assert verdict["event_type"] == "FulfilmentPacked"
    label = LabelPurchased(
        shipment_id=uuid.UUID(shipment),
        order_id=uuid.UUID(request["order_id"]),
        carrier="ups",
        service="ground",
        mode="ground",
        tracking_number="1Z-PO-7001",
        cost=Decimal("9.80"),
        transit_days=3,
        promise_met=True,
        insured_value=Decimal("0"),
        insurance_cost=Decimal("0"),
        signature_required=False,
    )
    channel.publish(  # as shipping would: this test runs no shipping service
        "shipping.events.v1",
        published(label, producer="shipping", aggregate_id=uuid.uuid4(), version=1),
        key=shipment,
    )
    threepl.ship(shipment)
    (shipped,) = eventually(lambda: inventory_events.events("StockShipped"), what="shipped")
    assert shipped["payload"]["serials"] == ["SN-1"]

    # cost of goods sold: the moving average, here the one receipt's cost
    (shipment,) = eventually(lambda: booked("shipment"), what="the shipment movement")
    moved = shipment["payload"]
    assert (moved["quantity"], moved["serials"], moved["reference_type"]) == (
        -1,
        ["SN-1"],
        "shipment",
    )
    assert (Decimal(moved["unit_cost"]), Decimal(moved["extended_value"])) == (
        Decimal("612.50"),
        Decimal("-612.50"),
    )
    assert moved["order_id"] == request["order_id"]
    assert [e["payload"]["movement_type"] for e in movements.events()] == ["receipt", "shipment"]


def test_a_cancelled_purchase_order_is_no_longer_inbound_and_the_3pl_is_told(
    services: Services, channel: Channel, topic: Topics
) -> None:
    pim, order, inventory, _ = services("pim", "order", "inventory", "warehouse_adapter")
    register_in_pim(pim, order, "LAPTOP-14")
    inventory_events = topic("inventory.events.v1")
    threepl = ThreePL(channel, topic)
    raise_and_confirm(inventory, quantity=4)
    eventually(lambda: threepl.events.events("InboundExpected"), what="the inbound announcement")

    cancelled = inventory.post(
        f"/purchase-orders/{PO}/cancellation", {"reason": "supplier out of stock"}
    )
    assert cancelled["status"] == "cancelled"
    assert all(position["inbound"] == 0 for position in inventory.get("/stock/LAPTOP-14")["stock"])

    (told,) = eventually(
        lambda: [e["payload"] for e in threepl.events.events("InboundCancelled")],
        what="the 3PL told of the cancellation",
    )
    assert (told["purchase_order_id"], told["location"], told["reason"]) == (
        PO,
        "WH-A",
        "supplier out of stock",
    )
    (event,) = eventually(
        lambda: list(inventory_events.distinct_events("PurchaseOrderCancelled").values()),
        what="PurchaseOrderCancelled",
    )
    assert event["payload"]["cancelled"] == [{"sku": "LAPTOP-14", "quantity": 4}]
