"""A paid order with a line for a SKU the PIM never registered is held until the PIM does."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from contracts.order import OrderHeld, OrderHoldReleased
from services.order.domain import (
    Address,
    Customer,
    FulfilmentPolicy,
    LineReservation,
    LocationQuantity,
    Order,
    OrderLine,
    OrderStatus,
)
from services.order.projections import read_models
from services.order.translators import to_contract
from services.runtime.aggregate import DomainError

POLICY = FulfilmentPolicy()
LAPTOP = OrderLine(1, "LAPTOP-14", 1, Decimal("1199.00"))
GIFT_CARD = OrderLine(2, "GIFT-50", 1, Decimal("50.00"))


def paid(*, unknown: set[str], fraud_score: float = 3.0) -> Order:
    order = Order.place(
        order_id=uuid.uuid4(),
        channel="webshop",
        channel_order_id="3001",
        placed_at=datetime(2026, 11, 1, tzinfo=UTC),
        customer=Customer("C-1", "Ada Lovelace", "ada@example.com"),
        shipping_address=Address("Ada", "1 Way", None, "London", None, "N1", "GB"),
        lines=(LAPTOP, GIFT_CARD),
        currency="GBP",
        fraud_score=fraud_score,
    )
    order.mark_paid(POLICY, (), unknown)
    return order


def allocate(order: Order) -> None:
    order.record_reservation(
        (
            LineReservation(1, "LAPTOP-14", 1, 0, (LocationQuantity("WH-A", 1),)),
            LineReservation(2, "GIFT-50", 1, 0, (LocationQuantity("WH-A", 1),)),
        ),
        POLICY,
    )


def test_a_line_for_an_unknown_sku_holds_the_paid_order_naming_the_line() -> None:
    order = paid(unknown={"GIFT-50", "NOT-ON-THE-ORDER"})
    assert order.on_hold
    assert order.unknown_skus == ("GIFT-50",)
    assert order.holding_reasons == "unknown-sku: line 2 (GIFT-50) is not registered in the PIM"
    held = order.collect_events()[-1]
    assert isinstance(held, Order.HeldForUnknownSkus)
    assert to_contract(held) == OrderHeld(
        order_id=order.id, reason=order.holding_reasons, actor="catalogue-rules"
    )


def test_stock_is_allocated_while_held_and_released_when_the_pim_registers_the_sku() -> None:
    order = paid(unknown={"GIFT-50"})
    allocate(order)
    assert (order.status, order.shipments) == (OrderStatus.ALLOCATED, ())
    order.collect_events()

    order.recognise_skus({"SOMETHING-ELSE"}, POLICY)
    assert order.collect_events() == []
    order.recognise_skus({"GIFT-50"}, POLICY)

    registered, released = order.collect_events()
    assert isinstance(registered, Order.SkusRegistered)
    assert to_contract(registered) == OrderHoldReleased(
        order_id=order.id, actor="catalogue-rules", note="registered in the PIM: GIFT-50"
    )
    assert isinstance(released, Order.ReleasedToWarehouse)
    assert not order.on_hold
    assert order.status is OrderStatus.RELEASED
    order.recognise_skus({"GIFT-50"}, POLICY)
    assert order.collect_events() == [], "a repeat changes nothing"


def test_an_order_also_held_for_another_reason_stays_held_when_the_sku_appears() -> None:
    order = paid(unknown={"GIFT-50"}, fraud_score=95)
    assert order.holding_reasons == (
        "fraud score 95 is at or above 80; "
        "unknown-sku: line 2 (GIFT-50) is not registered in the PIM"
    )
    allocate(order)
    order.collect_events()
    order.recognise_skus({"GIFT-50"}, POLICY)
    (registered,) = order.collect_events()
    assert to_contract(registered) == OrderHeld(
        order_id=order.id, reason="fraud score 95 is at or above 80", actor="catalogue-rules"
    )
    assert order.on_hold
    assert order.shipments == ()


def test_a_person_may_release_an_order_waiting_for_an_unknown_sku_and_may_add_a_hold() -> None:
    order = paid(unknown={"GIFT-50"})
    allocate(order)
    order.hold(reason="customer called", actor="desk-3")
    with pytest.raises(DomainError, match="already on hold"):
        order.hold(reason="again", actor="desk-3")
    order.release_hold(actor="desk-3", note="gift cards are not in the PIM", policy=POLICY)
    assert not order.on_hold
    assert order.unknown_skus == ()
    assert order.status is OrderStatus.RELEASED


def test_the_orders_waiting_for_a_sku_are_a_read_model_of_the_order_events() -> None:
    tables = read_models.in_memory()
    order = paid(unknown={"GIFT-50"})
    for event in order.collect_events():
        tables.apply(read_models.project_own_event(event))
    waiting = [(row["sku"], row["order_id"]) for row in tables.rows("orders_awaiting_skus")]
    assert waiting == [("GIFT-50", order.id)]
    order.recognise_skus({"LAPTOP-14", "GIFT-50"}, POLICY)
    for event in order.collect_events():
        tables.apply(read_models.project_own_event(event))
    assert tables.rows("orders_awaiting_skus") == []
    order.cancel(reason="changed mind", actor="channel:webshop")
    for event in order.collect_events():
        tables.apply(read_models.project_own_event(event))
    assert tables.rows("orders_awaiting_skus") == []


def test_an_order_whose_skus_are_all_known_is_not_held() -> None:
    order = paid(unknown=set())
    assert not order.on_hold
    assert order.holding_reasons is None
