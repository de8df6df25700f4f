"""The returns service's inbox fed records directly, its read models in memory: other services'
facts about an order are kept once however often they arrive (and a forgotten customer's address
is erased from them), a returned unit at the dock is checked against what was shipped, and what
does not fit is set aside with its reason."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from contracts.base import IntegrationEvent
from contracts.order import CustomerForgotten, OrderLine, OrderPlaced, OrderShipmentDelivered
from contracts.personal import AddressOnRecord, CustomerOnRecord
from contracts.warehouse import PackedUnit, ReturnReceived, ShipmentConfirmed, UnitSerialCaptured
from services.returns.application import ReturnsApplication
from services.returns.domain import (
    Address,
    DeliveredUnits,
    ReturnLine,
    ReturnPolicy,
    Rma,
    RmaStatus,
    rma_id_for,
)
from services.returns.handlers import register_handlers
from services.runtime.consumer import Outcome
from services.runtime.privacy import is_sealed, new_key, seal
from tests.component.inbox import Inbox, inbox_of, product_registered
from tests.integration.harness import channel_order, published

SKU = "LAPTOP-14"
SHIPPED = datetime(2026, 11, 20, 9, tzinfo=UTC)
KEY = new_key()
SEALED = ("name", "line1", "city", "postal_code")


@pytest.fixture
def inbox() -> Iterator[Inbox[ReturnsApplication]]:
    with inbox_of("returns", ReturnsApplication(None), register_handlers) as box:
        yield box


def event(payload: IntegrationEvent, producer: str, aggregate_id: uuid.UUID, version: int) -> bytes:
    return published(payload, producer=producer, aggregate_id=aggregate_id, version=version)


def sold_shipped_and_delivered(order_id: uuid.UUID, shipment_id: uuid.UUID) -> list[bytes]:
    """What the order, the PIM and the warehouse adapter publish of one laptop sold, shipped
    (serial SN-1) and delivered: in the order returns reads them from their topics."""
    message = channel_order("7001")
    placed = OrderPlaced(
        order_id=order_id,
        channel="webshop",
        channel_order_id="7001",
        placed_at=SHIPPED - timedelta(days=1),
        customer=CustomerOnRecord.model_validate(message["customer"]),
        # As the order publishes it: the customer's address sealed under their key.
        shipping_address=AddressOnRecord.model_validate(
            {
                field: seal(KEY, "C-7", value) if field in SEALED else value
                for field, value in message["shipping_address"].items()
            }
        ),
        lines=[OrderLine(line_number=1, sku=SKU, quantity=1, unit_price=Decimal("1199.00"))],
        currency="USD",
        order_total=Decimal("1199.00"),
        fraud_score=1,
    )
    captured = UnitSerialCaptured(
        shipment_id=shipment_id,
        order_id=order_id,
        line_number=1,
        sku=SKU,
        serial="SN-1",
        location="WH-A",
        captured_at=SHIPPED,
    )
    confirmed = ShipmentConfirmed(
        shipment_id=shipment_id,
        order_id=order_id,
        location="WH-A",
        units=[PackedUnit(line_number=1, sku=SKU, serial="SN-1")],
        carrier="ups",
        service="ground",
        tracking_number="1Z1",
        shipped_at=SHIPPED,
    )
    delivered = OrderShipmentDelivered(
        order_id=order_id, shipment_id=shipment_id, delivered_at=SHIPPED + timedelta(days=2)
    )
    return [
        event(placed, "order", order_id, 1),
        product_registered(SKU),
        event(captured, "warehouse_adapter", shipment_id, 1),
        event(confirmed, "warehouse_adapter", shipment_id, 2),
        event(delivered, "order", order_id, 2),
    ]


def topic_of(message: bytes) -> str:
    """The topic its producer publishes it on."""
    return f"{json.loads(message)['producer']}.events.v1"


def authorised(inbox: Inbox[ReturnsApplication], order_id: uuid.UUID) -> uuid.UUID:
    """An RMA for the delivered laptop, decided from what the read models hold (as a request
    over HTTP decides it)."""
    (line,) = inbox.read_models.rows("order_lines")
    (delivery,) = inbox.read_models.rows("shipment_deliveries")
    (unit,) = inbox.read_models.rows("line_units")
    (warranty,) = inbox.read_models.rows("product_warranties")
    rma = Rma.request(
        rma_id_for(order_id, 1, 1),
        line=ReturnLine(
            order_id=order_id,
            line_number=1,
            sku=line["sku"],
            channel=line["channel"],
            unit_price=line["unit_price"],
            currency=line["currency"],
            ship_to=Address(**line["ship_to"]),
        ),
        units=DeliveredUnits(
            serials=(unit["serial"],),
            delivered_at=delivery["delivered_at"],
            shipped_from=unit["location"],
            quantity=1,
        ),
        warranty_months=warranty["warranty_months"],
        reason="screen flickers",
        customer_note="",
        requested_at=delivery["delivered_at"] + timedelta(days=3),
        policy=ReturnPolicy(),
    )
    inbox.application.save_projected(rma)
    assert rma.status is RmaStatus.AUTHORISED
    return rma.id


def received(rma_id: uuid.UUID, serial: str) -> bytes:
    payload = ReturnReceived(
        rma_id=rma_id, location="WH-A", sku=SKU, serial=serial, received_at=datetime.now(UTC)
    )
    return event(payload, "warehouse_adapter", rma_id, 1)


def kept(inbox: Inbox[ReturnsApplication]) -> dict[str, list[dict[str, Any]]]:
    return {
        table: inbox.read_models.rows(table)
        for table in ("order_lines", "line_units", "line_shipments", "shipment_deliveries")
    }


async def test_an_orders_facts_are_kept_once_however_often_they_arrive(
    inbox: Inbox[ReturnsApplication],
) -> None:
    order_id, shipment_id = uuid.uuid4(), uuid.uuid4()
    facts = sold_shipped_and_delivered(order_id, shipment_id)
    outcomes = [await inbox.send(topic_of(message), message) for message in facts]
    assert outcomes == [Outcome.APPLIED] * len(facts)
    once = kept(inbox)
    repeats = [await inbox.send(topic_of(message), message) for message in facts]
    assert repeats == [Outcome.DUPLICATE] * len(facts)

    assert kept(inbox) == once
    ((line,), (unit,), (shipped,), (delivery,)) = once.values()
    assert (line["sku"], line["unit_price"], line["channel"]) == (
        SKU,
        Decimal("1199.00"),
        "webshop",
    )
    assert (unit["serial"], shipped["quantity"], delivery["shipment_id"]) == (
        "SN-1",
        1,
        shipment_id,
    )
    assert inbox.read_models.rows("product_warranties") == [{"sku": SKU, "warranty_months": 24}]


async def test_a_forgotten_customers_address_is_erased_from_the_order_lines(
    inbox: Inbox[ReturnsApplication],
) -> None:
    order_id = uuid.uuid4()
    placed = sold_shipped_and_delivered(order_id, uuid.uuid4())[0]
    await inbox.send("order.events.v1", placed)
    (line,) = inbox.read_models.rows("order_lines")
    assert is_sealed(line["ship_to"]["line1"])
    assert line["ship_to"]["country"] == "US"

    forgotten = CustomerForgotten(customer_id="C-7", actor="admin")
    await inbox.send("order.events.v1", event(forgotten, "order", uuid.uuid4(), 1))

    (line,) = inbox.read_models.rows("order_lines")
    assert (line["ship_to"]["line1"], line["ship_to"]["country"]) == ("erased", "US")


async def test_an_order_of_a_customer_forgotten_before_it_arrived_is_kept_erased(
    inbox: Inbox[ReturnsApplication],
) -> None:
    # The forgetting is keyed by customer, the order by order: another partition, another pace.
    forgotten = CustomerForgotten(customer_id="C-7", actor="admin")
    await inbox.send("order.events.v1", event(forgotten, "order", uuid.uuid4(), 1))
    placed = sold_shipped_and_delivered(uuid.uuid4(), uuid.uuid4())[0]
    assert await inbox.send("order.events.v1", placed) is Outcome.APPLIED

    (line,) = inbox.read_models.rows("order_lines")
    assert {line["ship_to"][part] for part in SEALED} == {"erased"}
    assert line["ship_to"]["country"] == "US"


async def test_a_returned_unit_is_received_once_and_a_wrong_serial_blocks_the_refund(
    inbox: Inbox[ReturnsApplication],
) -> None:
    order_id = uuid.uuid4()
    for message in sold_shipped_and_delivered(order_id, uuid.uuid4()):
        await inbox.send(topic_of(message), message)
    rma_id = authorised(inbox, order_id)

    assert await inbox.send("warehouse_adapter.events.v1", received(rma_id, "SN-1")) is (
        Outcome.APPLIED
    )
    assert await inbox.send("warehouse_adapter.events.v1", received(rma_id, "SN-1")) is (
        Outcome.DUPLICATE
    )
    rma = inbox.application.get_rma(rma_id)
    assert (rma.status, rma.version) == (RmaStatus.RECEIVED, 3)
    (row,) = inbox.read_models.rows("rmas_by_order")
    assert (row["status"], row["waiting_for"]) == (RmaStatus.RECEIVED, "inspection")
    assert row["requested_at"] == rma.requested_at  # the waiting queue's order
    assert inbox.dead_letters == []


async def test_what_does_not_fit_is_set_aside_with_its_reason_and_the_rest_goes_on(
    inbox: Inbox[ReturnsApplication],
) -> None:
    order_id, unknown = uuid.uuid4(), uuid.uuid4()
    for message in sold_shipped_and_delivered(order_id, uuid.uuid4()):
        await inbox.send(topic_of(message), message)
    rma_id = authorised(inbox, order_id)

    outcomes = await inbox.send_batch(
        ("warehouse_adapter.events.v1", b"{not json"),
        ("warehouse_adapter.events.v1", received(unknown, "SN-1")),
        ("warehouse_adapter.events.v1", received(rma_id, "SN-9")),
    )

    assert outcomes == [Outcome.DEAD_LETTERED, Outcome.DEAD_LETTERED, Outcome.APPLIED]
    (not_json, no_rma) = inbox.reasons
    assert not_json.startswith("invalid envelope: (message): Invalid JSON")
    assert no_rma == f"rule violated: no RMA {unknown}"
    rma = inbox.application.get_rma(rma_id)
    assert rma.status is RmaStatus.UNDER_REVIEW
