"""The warehouse adapter's inbox fed records directly: a released order becomes one fulfilment
per shipment, and a 3PL's confirmations, inventory's serial verdicts and shipping's label move it
to shipped; each applied once however often it arrives, and what does not fit is set aside with
its reason while the rest goes on."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from contracts.base import IntegrationEvent
from contracts.inventory import SerialCheckFailed, SerialCheckPassed
from contracts.order import OrderReleasedToWarehouse, Shipment, ShipmentLine
from contracts.personal import AddressOnRecord
from contracts.shipping import LabelPurchased
from services.runtime.consumer import Outcome
from services.warehouse_adapter.application import WarehouseAdapterApplication
from services.warehouse_adapter.domain import FulfilmentStatus
from services.warehouse_adapter.handlers import register_handlers
from tests.component.inbox import Inbox, inbox_of
from tests.integration.harness import channel_order, published

CONFIRMATIONS = "threepl.confirmations.v1"


@pytest.fixture
def inbox() -> Iterator[Inbox[WarehouseAdapterApplication]]:
    with inbox_of("warehouse_adapter", WarehouseAdapterApplication(None), register_handlers) as box:
        yield box


def released(order_id: uuid.UUID, *shipments: tuple[uuid.UUID, str]) -> bytes:
    payload = OrderReleasedToWarehouse(
        order_id=order_id,
        shipments=[
            Shipment(
                shipment_id=shipment_id,
                location=location,
                lines=[ShipmentLine(line_number=number, sku="LAPTOP-14", quantity=1)],
                declared_value=Decimal("1199.00"),
            )
            for number, (shipment_id, location) in enumerate(shipments, start=1)
        ],
        ship_to=AddressOnRecord.model_validate(channel_order("1")["shipping_address"]),
        signature_required=True,
        declared_value=Decimal("1199.00") * len(shipments),
        currency="USD",
    )
    return published(payload, producer="order", aggregate_id=order_id, version=1)


def from_3pl(kind: str, shipment_id: uuid.UUID, **fields: Any) -> bytes:
    message = {"type": kind, "shipment_id": str(shipment_id), "at": datetime.now(UTC).isoformat()}
    return json.dumps(message | fields).encode()


def event(payload: IntegrationEvent, producer: str) -> bytes:
    return published(payload, producer=producer, aggregate_id=uuid.uuid4(), version=1)


async def test_a_released_order_is_one_fulfilment_per_shipment_however_often_it_arrives(
    inbox: Inbox[WarehouseAdapterApplication],
) -> None:
    order_id, east, west = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    message = released(order_id, (east, "WH-A"), (west, "WH-B"))
    assert await inbox.send("order.events.v1", message) is Outcome.APPLIED
    assert await inbox.send("order.events.v1", message) is Outcome.DUPLICATE

    fulfilments = [inbox.application.get_fulfilment(shipment) for shipment in (east, west)]
    assert [(f.location, f.status, f.version) for f in fulfilments] == [
        ("WH-A", FulfilmentStatus.REQUESTED, 1),
        ("WH-B", FulfilmentStatus.REQUESTED, 1),
    ]
    assert inbox.dead_letters == []


async def test_a_shipment_goes_from_picked_to_shipped_each_step_applied_once(
    inbox: Inbox[WarehouseAdapterApplication],
) -> None:
    order_id, shipment_id = uuid.uuid4(), uuid.uuid4()
    await inbox.send("order.events.v1", released(order_id, (shipment_id, "WH-A")))
    packed = from_3pl(
        "packed", shipment_id, units=[{"line_number": 1, "sku": "LAPTOP-14", "serial": "LT-1"}]
    )
    verdict = SerialCheckPassed(shipment_id=shipment_id, order_id=order_id, scan=1)
    label = LabelPurchased(
        shipment_id=shipment_id,
        order_id=order_id,
        carrier="ups",
        service="ground",
        mode="ground",
        tracking_number="1Z999",
        cost=Decimal("12.40"),
        transit_days=3,
        promise_met=True,
        insured_value=Decimal("1199.00"),
        insurance_cost=Decimal("4.20"),
        signature_required=True,
    )
    shipped = from_3pl(
        "shipped", shipment_id, carrier="ups", service="ground", tracking_number="1Z999"
    )
    # 3PL integrations deliver at least once: every confirmation comes twice.
    for topic, message in [
        (CONFIRMATIONS, from_3pl("picked", shipment_id)),
        (CONFIRMATIONS, packed),
        (CONFIRMATIONS, packed),
        ("inventory.events.v1", event(verdict, "inventory")),
        ("shipping.events.v1", event(label, "shipping")),
        (CONFIRMATIONS, shipped),
        (CONFIRMATIONS, shipped),
    ]:
        assert await inbox.send(topic, message, key=str(shipment_id)) is not Outcome.DEAD_LETTERED

    fulfilment = inbox.application.get_fulfilment(shipment_id)
    assert (fulfilment.status, fulfilment.tracking_number) == (FulfilmentStatus.SHIPPED, "1Z999")
    # requested, picked, scanned, the serial captured, packed, labelled, shipped: nothing twice
    assert fulfilment.version == 7
    assert inbox.dead_letters == []


async def test_a_refused_scan_sends_the_packer_back_and_a_second_scan_is_checked_anew(
    inbox: Inbox[WarehouseAdapterApplication],
) -> None:
    order_id, shipment_id = uuid.uuid4(), uuid.uuid4()
    await inbox.send("order.events.v1", released(order_id, (shipment_id, "WH-A")))
    await inbox.send(CONFIRMATIONS, from_3pl("picked", shipment_id))
    for serial in ("LT-WRONG", "LT-2"):
        await inbox.send(
            CONFIRMATIONS,
            from_3pl(
                "packed",
                shipment_id,
                units=[{"line_number": 1, "sku": "LAPTOP-14", "serial": serial}],
            ),
        )
        if serial == "LT-WRONG":
            refused = SerialCheckFailed(
                shipment_id=shipment_id,
                order_id=order_id,
                scan=1,
                problems=["serial LT-WRONG is not in stock at WH-A"],
            )
            await inbox.send("inventory.events.v1", event(refused, "inventory"))
            assert inbox.application.get_fulfilment(shipment_id).status is FulfilmentStatus.PICKED

    fulfilment = inbox.application.get_fulfilment(shipment_id)
    assert (fulfilment.status, fulfilment.scans) == (FulfilmentStatus.SCANNED, 2)
    assert inbox.dead_letters == []


async def test_what_does_not_fit_is_set_aside_with_its_reason_and_the_rest_goes_on(
    inbox: Inbox[WarehouseAdapterApplication],
) -> None:
    order_id, shipment_id, unknown_shipment = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await inbox.send("order.events.v1", released(order_id, (shipment_id, "WH-A")))
    outcomes = await inbox.send_batch(
        (CONFIRMATIONS, b"{not json"),
        (CONFIRMATIONS, from_3pl("packed", shipment_id, units=[])),
        (CONFIRMATIONS, from_3pl("picked", unknown_shipment)),
        (
            CONFIRMATIONS,
            from_3pl("shipped", shipment_id, carrier="ups", service="x", tracking_number="1Z"),
        ),
        (CONFIRMATIONS, from_3pl("picked", shipment_id)),
    )

    assert outcomes == [Outcome.DEAD_LETTERED] * 4 + [Outcome.APPLIED]
    (not_json, no_units, unknown, too_early) = inbox.reasons
    assert not_json.startswith("not valid JSON")
    assert no_units.startswith("schema violation: packed.units")
    assert unknown == f"rule violated: no fulfilment {unknown_shipment}"
    assert too_early.startswith("rule violated: shipment")
    assert "only a packed shipment" in too_early
    assert inbox.application.get_fulfilment(shipment_id).status is FulfilmentStatus.PICKED
