"""Inventory's inbox fed records directly, its read models in memory: a paid order is reserved
once, at the location shipping's rate card says ships it cheapest; a cancelled one gives its
units back once; a 3PL's count is booked once; what does not fit is set aside with its reason."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from contracts.base import IntegrationEvent
from contracts.order import OrderCancelled, OrderLine, OrderPaid
from contracts.shipping import LocationOrigin, RateCardPublished, ServiceRate
from contracts.warehouse import CycleCountReported
from services.inventory.application import InventoryApplication
from services.inventory.domain import Receipt, Reservation, reservation_id_for
from services.inventory.handlers import register_handlers
from services.runtime.consumer import Outcome
from tests.component.inbox import Inbox, inbox_of, product_registered
from tests.integration.harness import published

SKU = "LAPTOP-14"


@pytest.fixture
def inbox() -> Iterator[Inbox[InventoryApplication]]:
    application = InventoryApplication(None)
    # More at the US warehouse: without the rate card, an order is reserved there.
    application.receive_stock(SKU, Receipt("WH-A", 5, "purchase-receipt", "dock"))
    application.receive_stock(SKU, Receipt("WH-UK", 2, "purchase-receipt", "dock"))
    with inbox_of("inventory", application, register_handlers) as box:
        yield box


def event(payload: IntegrationEvent, producer: str, aggregate_id: uuid.UUID, version: int) -> bytes:
    return published(payload, producer=producer, aggregate_id=aggregate_id, version=version)


def rate_card() -> bytes:
    """One ground service, dear abroad; WH-UK ships from Great Britain."""
    payload = RateCardPublished(
        services=[
            ServiceRate(
                carrier="ups",
                service="ground",
                mode="ground",
                transit_days_domestic=2,
                transit_days_international=5,
                base_cost=Decimal("8.00"),
                cost_per_kg=Decimal("1.00"),
                international_surcharge=Decimal("40.00"),
            )
        ],
        origin_country="US",
        location_origins=[LocationOrigin(location="WH-UK", country="GB")],
        delivery_promise_days=5,
    )
    return event(payload, "shipping", uuid.uuid4(), 1)


def paid(order_id: uuid.UUID, country: str, quantity: int = 1) -> bytes:
    payload = OrderPaid(
        order_id=order_id,
        lines=[OrderLine(line_number=1, sku=SKU, quantity=quantity, unit_price=Decimal("1199"))],
        shipping_country=country,
        currency="USD",
        order_total=Decimal("1199") * quantity,
    )
    return event(payload, "order", order_id, 1)


def allocations(inventory: InventoryApplication, order_id: uuid.UUID) -> list[tuple[str, int]]:
    reservation: Reservation = inventory.get(reservation_id_for(order_id), Reservation)
    return [(a.location, a.quantity) for line in reservation.lines for a in line.allocations]


def levels(inventory: InventoryApplication) -> dict[str, tuple[int, int]]:
    return {
        level.location: (level.on_hand, level.reserved) for level in inventory.get_stock_levels(SKU)
    }


async def test_a_paid_order_is_reserved_once_where_the_rate_card_ships_it_cheapest(
    inbox: Inbox[InventoryApplication],
) -> None:
    await inbox.send("shipping.events.v1", rate_card())
    await inbox.send("pim.events.v1", product_registered(SKU))
    to_britain, to_america = uuid.uuid4(), uuid.uuid4()
    assert await inbox.send("order.events.v1", paid(to_britain, "GB")) is Outcome.APPLIED
    assert await inbox.send("order.events.v1", paid(to_britain, "GB")) is Outcome.DUPLICATE
    await inbox.send("order.events.v1", paid(to_america, "US"))

    assert allocations(inbox.application, to_britain) == [("WH-UK", 1)]
    assert allocations(inbox.application, to_america) == [("WH-A", 1)]
    assert levels(inbox.application) == {"WH-A": (5, 1), "WH-UK": (2, 1)}
    assert inbox.dead_letters == []


async def test_a_cancelled_order_gives_its_units_back_once(
    inbox: Inbox[InventoryApplication],
) -> None:
    order_id = uuid.uuid4()
    await inbox.send("order.events.v1", paid(order_id, "US", quantity=3))
    assert levels(inbox.application)["WH-A"] == (5, 3)

    cancelled = OrderCancelled(order_id=order_id, reason="changed my mind", actor="customer")
    for _ in range(2):
        await inbox.send("order.events.v1", event(cancelled, "order", order_id, 2))

    assert levels(inbox.application) == {"WH-A": (5, 0), "WH-UK": (2, 0)}
    assert inbox.dead_letters == []


async def test_a_3pls_cycle_count_is_booked_once(inbox: Inbox[InventoryApplication]) -> None:
    count = CycleCountReported(
        report_id="CC-1",
        location="WH-UK",
        sku=SKU,
        reported_at=datetime.now(UTC),
        reported_by="threepl",
        counted=4,
        serials=None,
    )
    message = event(count, "warehouse_adapter", uuid.uuid4(), 1)
    for _ in range(2):
        await inbox.send("warehouse_adapter.events.v1", message)

    assert levels(inbox.application)["WH-UK"] == (4, 0)


async def test_what_does_not_fit_is_set_aside_with_its_reason_and_the_rest_goes_on(
    inbox: Inbox[InventoryApplication],
) -> None:
    order_id, broken_id = uuid.uuid4(), uuid.uuid4()
    broken = json.loads(paid(broken_id, "US"))
    broken["payload"]["lines"][0]["quantity"] = 0
    outcomes = await inbox.send_batch(
        ("order.events.v1", b"{not json"),
        ("order.events.v1", json.dumps(broken).encode()),
        ("order.events.v1", paid(order_id, "US", quantity=2)),
    )

    assert outcomes == [Outcome.DEAD_LETTERED, Outcome.DEAD_LETTERED, Outcome.APPLIED]
    (not_json, no_units) = inbox.reasons
    assert not_json.startswith("invalid envelope: (message): Invalid JSON")
    assert no_units == (
        "invalid OrderPaid payload: lines.0.quantity: Input should be greater than or equal to 1"
    )
    assert allocations(inbox.application, order_id) == [("WH-A", 2)]
