"""Shipping's inbox fed records directly, its read models in memory: a released order's parcels
are planned once, labelled when packed (or when the PIM's facts or the lifted hold let them), and
followed by the carriers' scans; what does not fit is set aside with its reason."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from contracts.base import IntegrationEvent
from contracts.order import (
    OrderHeld,
    OrderHoldReleased,
    OrderReleasedToWarehouse,
    Shipment,
    ShipmentLine,
)
from contracts.personal import AddressOnRecord
from contracts.warehouse import FulfilmentPacked, PackedUnit
from services.runtime.consumer import Outcome
from services.shipping.application import ShippingApplication
from services.shipping.domain import ConsignmentStatus
from services.shipping.handlers import register_handlers
from tests.component.inbox import Inbox, inbox_of, product_registered
from tests.integration.harness import channel_order, published
from tests.shipping_rates import packaged_table

SKU = "LAPTOP-14"
TRACKING = "carrier.tracking.v1"


@pytest.fixture
def inbox() -> Iterator[Inbox[ShippingApplication]]:
    application = ShippingApplication(None, rate_tables=(packaged_table(),))
    with inbox_of("shipping", application, register_handlers) as box:
        yield box


def event(payload: IntegrationEvent, producer: str, aggregate_id: uuid.UUID, version: int) -> bytes:
    return published(payload, producer=producer, aggregate_id=aggregate_id, version=version)


def released(order_id: uuid.UUID, *shipment_ids: uuid.UUID) -> bytes:
    payload = OrderReleasedToWarehouse(
        order_id=order_id,
        shipments=[
            Shipment(
                shipment_id=shipment_id,
                location="WH-A",
                lines=[ShipmentLine(line_number=1, sku=SKU, quantity=1)],
                declared_value=Decimal("1199.00"),
            )
            for shipment_id in shipment_ids
        ],
        ship_to=AddressOnRecord.model_validate(channel_order("1")["shipping_address"]),
        signature_required=False,
        declared_value=Decimal("1199.00") * len(shipment_ids),
        currency="USD",
    )
    return event(payload, "order", order_id, 1)


def packed(order_id: uuid.UUID, shipment_id: uuid.UUID) -> bytes:
    payload = FulfilmentPacked(
        shipment_id=shipment_id,
        order_id=order_id,
        units=[PackedUnit(line_number=1, sku=SKU, serial="LT-1")],
    )
    return event(payload, "warehouse_adapter", shipment_id, 1)


def scan(carrier: str, tracking_number: str, code: str) -> bytes:
    message = {
        "carrier": carrier,
        "tracking_number": tracking_number,
        "code": code,
        "at": datetime.now(UTC).isoformat(),
    }
    return json.dumps(message).encode()


async def test_a_parcel_is_planned_labelled_and_delivered_each_step_applied_once(
    inbox: Inbox[ShippingApplication],
) -> None:
    order_id, shipment_id = uuid.uuid4(), uuid.uuid4()
    assert await inbox.send("pim.events.v1", product_registered(SKU)) is Outcome.APPLIED
    assert await inbox.send("pim.events.v1", product_registered(SKU)) is Outcome.DUPLICATE
    for _ in range(2):
        await inbox.send("order.events.v1", released(order_id, shipment_id))
        await inbox.send("warehouse_adapter.events.v1", packed(order_id, shipment_id))

    consignment = inbox.application.get_consignment(shipment_id)
    assert consignment.status is ConsignmentStatus.LABELLED
    assert consignment.label is not None
    carrier, number = consignment.label.request.carrier, consignment.label.tracking_number
    for _ in range(2):
        await inbox.send(TRACKING, scan(carrier, number, "delivered"), key=number)

    consignment = inbox.application.get_consignment(shipment_id)
    # planned, labelled, delivered: nothing twice
    assert (consignment.status, consignment.version) == (ConsignmentStatus.DELIVERED, 3)
    assert inbox.dead_letters == []


async def test_a_parcel_packed_before_its_products_facts_is_labelled_when_they_arrive(
    inbox: Inbox[ShippingApplication],
) -> None:
    order_id, shipment_id = uuid.uuid4(), uuid.uuid4()
    await inbox.send("order.events.v1", released(order_id, shipment_id))
    await inbox.send("warehouse_adapter.events.v1", packed(order_id, shipment_id))
    read_models = inbox.read_models
    assert read_models.rows("consignments_awaiting_facts") == [
        {"sku": SKU, "shipment_id": shipment_id}
    ]
    waiting = inbox.application.get_consignment(shipment_id)
    assert waiting.status is ConsignmentStatus.LABEL_WITHHELD

    await inbox.send("pim.events.v1", product_registered(SKU))

    assert inbox.application.get_consignment(shipment_id).status is ConsignmentStatus.LABELLED
    assert read_models.rows("consignments_awaiting_facts") == []
    assert [row["sku"] for row in read_models.rows("product_facts")] == [SKU]


async def test_a_held_order_gets_no_label_until_the_hold_is_lifted(
    inbox: Inbox[ShippingApplication],
) -> None:
    order_id, east, west = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await inbox.send("pim.events.v1", product_registered(SKU))
    await inbox.send("order.events.v1", released(order_id, east, west))
    await inbox.send(
        "order.events.v1",
        event(OrderHeld(order_id=order_id, reason="fraud", actor="rule"), "order", order_id, 2),
    )
    for shipment_id in (east, west):
        await inbox.send("warehouse_adapter.events.v1", packed(order_id, shipment_id))
    statuses = [inbox.application.get_consignment(s).status for s in (east, west)]
    assert statuses == [ConsignmentStatus.LABEL_WITHHELD] * 2

    lifted = OrderHoldReleased(order_id=order_id, actor="reviewer", note="looks fine")
    await inbox.send("order.events.v1", event(lifted, "order", order_id, 3))

    statuses = [inbox.application.get_consignment(s).status for s in (east, west)]
    assert statuses == [ConsignmentStatus.LABELLED] * 2
    assert inbox.dead_letters == []


async def test_what_does_not_fit_is_set_aside_with_its_reason_and_the_rest_goes_on(
    inbox: Inbox[ShippingApplication],
) -> None:
    order_id, shipment_id, unplanned = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    outcomes = await inbox.send_batch(
        (TRACKING, b"{not json"),
        (TRACKING, scan("ups", "1Z-NOBODY", "delivered")),
        ("warehouse_adapter.events.v1", packed(order_id, unplanned)),
        ("order.events.v1", released(order_id, shipment_id)),
    )

    assert outcomes == [Outcome.DEAD_LETTERED] * 2 + [Outcome.PARKED, Outcome.APPLIED]
    (not_json, unknown, waiting) = inbox.reasons
    assert not_json.startswith("not valid JSON")
    assert unknown == "rule violated: no parcel has ups tracking number 1Z-NOBODY"
    assert waiting == f"waiting: no consignment planned yet for shipment no consignment {unplanned}"
    assert inbox.application.get_consignment(shipment_id).status is ConsignmentStatus.PLANNED
