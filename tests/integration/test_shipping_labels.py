"""Labels: the cheapest service within the rules, insured and signed as the parcel needs, and
never for an order on hold, through all the services involved."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from contracts.channel import order_id_for
from contracts.order import OrderReleasedToWarehouse, Shipment, ShipmentLine
from contracts.personal import AddressOnRecord
from contracts.warehouse import FulfilmentPacked, PackedUnit
from tests.integration.harness import (
    CERTIFIED_EVERYWHERE,
    Channel,
    Services,
    Stack,
    ThreePL,
    Topics,
    channel_order,
    eventually,
    labels_by_order,
    published,
    receive_serials,
    register_product,
)

pytestmark = pytest.mark.integration


def order(number: str, sku: str, price: str, country: str = "US") -> dict[str, Any]:
    message = channel_order(number, lines=[(sku, 1)])
    message["lines"][0]["unit_price"] = price
    message["shipping_address"]["country"] = country
    return message


def test_labels_follow_the_rules_and_a_held_order_gets_none_until_released(
    services: Services, channel: Channel, topic: Topics
) -> None:
    pim, orders, inventory, _, shipping = services(
        "pim", "order", "inventory", "warehouse_adapter", "shipping"
    )
    register_product(pim, shipping, "LAPTOP-14", 2_100, lithium=True)
    register_product(pim, shipping, "DOCK-1", 900, lithium=False)
    receive_serials(inventory, "LAPTOP-14", "WH-A", "L-1", "L-2")
    receive_serials(inventory, "DOCK-1", "WH-A", "D-1")
    threepl = ThreePL(channel, topic)
    labels_topic = topic("shipping.events.v1")

    def labels(count: int) -> dict[str, dict[str, Any]]:
        return labels_by_order(labels_topic, count)

    channel.send(order("9001", "LAPTOP-14", "650.00", country="GB"))
    channel.send(order("9002", "DOCK-1", "250.00"))
    requests = {r["order_id"]: r for r in threepl.requests(2)}
    lithium_abroad = requests[str(order_id_for("webshop", "9001"))]
    cheap_dock = requests[str(order_id_for("webshop", "9002"))]
    threepl.pick_and_pack(lithium_abroad, "L-1")
    threepl.pick_and_pack(cheap_dock, "D-1")

    bought = labels(2)
    lithium_label = bought[str(order_id_for("webshop", "9001"))]
    assert (lithium_label["mode"], lithium_label["carrier"], lithium_label["service"]) == (
        "ground",
        "ups",
        "ground",
    )
    assert lithium_label["promise_met"] is False
    assert (lithium_label["signature_required"], lithium_label["insured_value"]) == (True, "650.00")
    dock_label = bought[str(order_id_for("webshop", "9002"))]
    assert (dock_label["carrier"], dock_label["signature_required"]) == ("usps", False)
    assert (dock_label["insured_value"], dock_label["insurance_cost"]) == ("250.00", "2.50")

    channel.send(order("9003", "LAPTOP-14", "1199.00"))
    held = next(
        r for r in threepl.requests(3) if r["order_id"] == str(order_id_for("webshop", "9003"))
    )
    threepl.send("picked", held["shipment_id"])
    orders.post(f"/orders/{held['order_id']}/hold", {"reason": "chargeback alert"})
    eventually(lambda: labels_topic.events("ConsignmentHeld"), what="the parcel held")
    threepl.pack(held["shipment_id"], (1, "LAPTOP-14", "L-2"))
    threepl.answer(held["shipment_id"])

    (withheld,) = eventually(lambda: labels_topic.events("LabelWithheld"), what="no label")
    assert withheld["payload"]["reason"] == "the order is on hold: chargeback alert"
    assert len(labels(2)) == 2

    orders.post(f"/orders/{held['order_id']}/release-hold", {"note": "ok"})
    released_label = labels(3)[held["order_id"]]
    assert released_label["mode"] == "ground"
    consignment = shipping.get(f"/consignments/{held['shipment_id']}")
    assert consignment["label"]["tracking_number"] == released_label["tracking_number"]

    # a bulky, light monitor (4.8 kg, 700 x 450 x 150 mm = 9.45 kg volumetric) is charged as
    # 10 kg, as carriers charge: UPS ground, 8.00 + 10 x 0.90
    pim.put(
        "/products/MONITOR-27",
        {
            "name": "Monitor 27",
            "weight_grams": 4_800,
            "lithium_ion": False,
            "dimensions": "70 x 45 x 15 cm",
            "certifications": CERTIFIED_EVERYWHERE,
        },
    )
    eventually(
        lambda: (
            shipping.exists("/consignments/product-facts/MONITOR-27")
            and shipping.get("/consignments/product-facts/MONITOR-27")["volume_cm3"]
        ),
        what="the monitor's dimensions at shipping",
    )
    receive_serials(inventory, "MONITOR-27", "WH-A", "M-1")
    channel.send(order("9004", "MONITOR-27", "180.00"))
    bulky = next(
        r for r in threepl.requests(4) if r["order_id"] == str(order_id_for("webshop", "9004"))
    )
    threepl.pick_and_pack(bulky, "M-1")
    monitor_label = labels(4)[bulky["order_id"]]
    assert (monitor_label["carrier"], monitor_label["cost"]) == ("ups", "17.00")
    (planned,) = [
        e["payload"]
        for e in labels_topic.events("ConsignmentPlanned")
        if e["payload"]["order_id"] == bulky["order_id"]
    ]
    assert (planned["weight_grams"], planned["volume_cm3"]) == (4_800, 47_250)


def test_carrier_tracking_takes_a_parcel_to_delivered_and_closes_the_order(
    services: Services, channel: Channel, topic: Topics, stack: Stack
) -> None:
    pim, orders, inventory, _, shipping = services(
        "pim", "order", "inventory", "warehouse_adapter", "shipping"
    )
    register_product(pim, shipping, "DOCK-1", 900, lithium=False)
    receive_serials(inventory, "DOCK-1", "WH-A", "D-1", "D-2")
    threepl = ThreePL(channel, topic)
    shipping_topic = topic("shipping.events.v1")
    dead_letters = topic("shipping.deadletter.v1")
    carrier = Channel(stack.bootstrap_servers)

    def scan(label: dict[str, Any], code: str, description: str) -> None:
        event = {
            "carrier": label["carrier"],
            "tracking_number": label["tracking_number"],
            "code": code,
            "description": description,
            "at": datetime.now(UTC).isoformat(),
        }
        carrier.publish(
            "carrier.tracking.v1", json.dumps(event).encode(), key=label["tracking_number"]
        )

    channel.send(order("9101", "DOCK-1", "120.00"))
    channel.send(order("9102", "DOCK-1", "120.00"))
    for request, serial in zip(threepl.requests(2), ["D-1", "D-2"], strict=True):
        threepl.pick_and_pack(request, serial)

    def two_labels() -> list[dict[str, Any]] | None:
        bought = shipping_topic.events("LabelPurchased")
        return bought if len(bought) == 2 else None

    labels = {e["payload"]["order_id"]: e["payload"] for e in eventually(two_labels, what="labels")}
    delivered_label = labels[str(order_id_for("webshop", "9101"))]
    troubled_label = labels[str(order_id_for("webshop", "9102"))]
    for label in (delivered_label, troubled_label):
        threepl.ship(label["shipment_id"])

    scan(delivered_label, "03", "accepted at facility")  # USPS codes
    scan(delivered_label, "01", "delivered, in mailbox")
    scan(troubled_label, "03", "accepted at facility")
    troubled_path = f"/orders/{order_id_for('webshop', '9102')}"

    def tracking_of(path: str) -> dict[str, Any] | None:
        tracking: dict[str, Any] | None = orders.get(path)["shipments"][0]["tracking"]
        return tracking

    moving = eventually(lambda: tracking_of(troubled_path), what="in transit on the order")
    assert (moving["status"], moving["description"]) == ("in-transit", "accepted at facility")
    scan(troubled_label, "04", "addressee unknown")
    scan(troubled_label, "ZZ", "?")

    delivered_path = f"/orders/{order_id_for('webshop', '9101')}"
    eventually(lambda: orders.get(delivered_path)["status"] == "delivered", what="delivered")
    exceptions = eventually(
        lambda: orders.get(troubled_path)["delivery_exceptions"], what="the exception on the order"
    )
    assert exceptions[0].endswith("addressee unknown")
    trouble = tracking_of(troubled_path)
    assert trouble is not None
    assert (trouble["status"], trouble["description"]) == ("exception", "addressee unknown")
    parked = eventually(dead_letters.poll, what="the unknown code to be parked")
    assert "unknown tracking code 'ZZ' for carrier 'usps'" in parked[0].headers["error"]
    carrier.close()


def test_a_parcel_packed_before_its_product_facts_arrive_is_labelled_when_they_do(
    services: Services, channel: Channel, topic: Topics
) -> None:
    pim, orders, inventory, _, shipping = services(
        "pim", "order", "inventory", "warehouse_adapter", "shipping"
    )
    receive_serials(inventory, "SPEAKER-2", "WH-A", "SP-1")
    threepl = ThreePL(channel, topic)
    shipping_events = topic("shipping.events.v1")
    channel.send(order("9301", "SPEAKER-2", "180.00"))
    # The order service holds an order for a SKU the PIM never registered; a person lets it go.
    held = f"/orders/{order_id_for('webshop', '9301')}"
    eventually(
        lambda: orders.exists(held) and orders.get(held)["unknown_skus"] == ["SPEAKER-2"],
        what="the order held for SPEAKER-2",
    )
    orders.post(f"{held}/release-hold", {"note": "the PIM entry follows"})
    (request,) = threepl.requests(1)
    threepl.pick_and_pack(request, "SP-1")
    (withheld,) = eventually(lambda: shipping_events.events("LabelWithheld"), what="no label")
    assert withheld["payload"]["reason"] == "no product facts from PIM for SPEAKER-2"

    register_product(pim, shipping, "SPEAKER-2", 3_200, lithium=True)
    (label,) = eventually(lambda: shipping_events.events("LabelPurchased"), what="the label")
    assert (label["payload"]["shipment_id"], label["payload"]["mode"]) == (
        request["shipment_id"],
        "ground",
    )
    (completed,) = shipping_events.events("ConsignmentFactsCompleted")
    assert completed["payload"]["weight_grams"] == 3_200


def test_a_parcel_packed_before_shipping_saw_its_release_waits_and_is_labelled_once_it_does(
    services: Services, channel: Channel, topic: Topics
) -> None:
    """The warehouse's topic can run ahead of the order's (a service that restarts reads them
    from where each stood): the pack waits, parked, instead of becoming a dead letter."""
    pim, shipping = services("pim", "shipping")
    register_product(pim, shipping, "DOCK-1", 900, lithium=False)
    shipping_events = topic("shipping.events.v1")
    order_id, shipment_id, fulfilment_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    address = AddressOnRecord.model_validate(channel_order("9401")["shipping_address"])
    packed = FulfilmentPacked(
        shipment_id=shipment_id,
        order_id=order_id,
        units=[PackedUnit(line_number=1, sku="DOCK-1", serial=None)],
    )
    released = OrderReleasedToWarehouse(
        order_id=order_id,
        shipments=[
            Shipment(
                shipment_id=shipment_id,
                location="WH-A",
                lines=[ShipmentLine(line_number=1, sku="DOCK-1", quantity=1)],
                declared_value=Decimal("90.00"),
            )
        ],
        ship_to=address,
        signature_required=False,
        declared_value=Decimal("90.00"),
        currency="USD",
    )

    channel.publish(
        "warehouse_adapter.events.v1",
        published(packed, producer="warehouse_adapter", aggregate_id=fulfilment_id, version=1),
        key=str(fulfilment_id),
    )
    eventually(
        lambda: shipping.get("/dead-letters")["counts"] == {"dead": 0, "parked": 1},
        what="the pack to wait for its release",
    )
    (waiting,) = shipping.get("/dead-letters")["dead_letters"]
    assert waiting["error_type"] == "NotYet"

    channel.publish(
        "order.events.v1",
        published(released, producer="order", aggregate_id=order_id, version=1),
        key=str(order_id),
    )
    (label,) = eventually(
        lambda: shipping_events.events("LabelPurchased"), timeout=60, what="the label"
    )
    assert label["payload"]["shipment_id"] == str(shipment_id)
    assert shipping.get("/dead-letters")["counts"] == {"dead": 0, "parked": 0}
