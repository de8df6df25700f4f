"""The order aggregate's rules, without any infrastructure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.order.domain import (
    Address,
    Customer,
    LineReservation,
    LocationQuantity,
    Order,
    OrderLine,
    OrderStatus,
)
from services.runtime.aggregate import DomainError


def place(*lines: OrderLine) -> Order:
    return Order.place(
        order_id=uuid.uuid4(),
        channel="webshop",
        channel_order_id="1001",
        placed_at=datetime(2026, 11, 1, tzinfo=UTC),
        customer=Customer("C-1", "Ada Lovelace", "ada@example.com"),
        shipping_address=Address("Ada", "1 Way", None, "London", None, "N1", "GB"),
        lines=lines or (OrderLine(1, "LAPTOP-14", 2, Decimal("1199.00")),),
        currency="GBP",
        fraud_score=3.0,
    )


def reserved(
    line: int, sku: str, reserved: int, short: int, *where: tuple[str, int]
) -> LineReservation:
    return LineReservation(line, sku, reserved, short, tuple(LocationQuantity(*w) for w in where))


def test_a_placed_order_totals_its_lines() -> None:
    order = place(
        OrderLine(1, "LAPTOP-14", 2, Decimal("1199.00")),
        OrderLine(2, "USB-C-CABLE", 3, Decimal("9.99")),
    )
    assert order.status is OrderStatus.PLACED
    assert order.total == Decimal("2427.97")


def test_an_order_needs_lines_with_quantities_and_unique_numbers() -> None:
    with pytest.raises(DomainError, match="at least one line"):
        Order.place(
            order_id=uuid.uuid4(),
            channel="webshop",
            channel_order_id="x",
            placed_at=datetime.now(UTC),
            customer=Customer("C", "N", "e@example.com"),
            shipping_address=Address("N", "L", None, "C", None, "P", "DE"),
            lines=(),
            currency="EUR",
            fraud_score=0,
        )
    with pytest.raises(DomainError, match="quantity"):
        place(OrderLine(1, "A", 0, Decimal(1)))
    with pytest.raises(DomainError, match="unique"):
        place(OrderLine(1, "A", 1, Decimal(1)), OrderLine(1, "B", 1, Decimal(1)))


def test_paying_twice_records_one_payment() -> None:
    order = place()
    order.mark_paid()
    order.mark_paid()
    assert [type(event).__name__ for event in order.collect_events()] == ["Placed", "Paid"]
    assert order.status is OrderStatus.PAID


def test_the_payment_event_carries_what_fulfilment_needs() -> None:
    order = place()
    order.mark_paid()
    paid = order.collect_events()[-1]
    assert isinstance(paid, Order.Paid)
    assert paid.lines == order.lines
    assert paid.shipping_country == "GB"


def test_a_fully_reserved_order_is_allocated() -> None:
    order = place()
    order.mark_paid()
    order.record_reservation((reserved(1, "LAPTOP-14", 2, 0, ("WH-A", 2)),))
    assert order.status is OrderStatus.ALLOCATED
    assert order.allocation[0].allocations == (LocationQuantity("WH-A", 2),)


def test_a_partly_reserved_order_is_allocated_with_the_rest_backordered() -> None:
    order = place(OrderLine(1, "LAPTOP-14", 5, Decimal("1199.00")))
    order.mark_paid()
    order.record_reservation((reserved(1, "LAPTOP-14", 3, 2, ("WH-A", 2), ("WH-B", 1)),))
    assert order.status is OrderStatus.PARTLY_BACKORDERED
    line = order.allocation[0]
    assert (line.quantity_allocated, line.quantity_backordered) == (3, 2)


def test_an_order_with_nothing_in_stock_is_backordered() -> None:
    order = place()
    order.mark_paid()
    order.record_reservation((reserved(1, "LAPTOP-14", 0, 2),))
    assert order.status is OrderStatus.BACKORDERED
    assert isinstance(order.collect_events()[-1], Order.Backordered)


def test_a_reservation_is_recorded_once() -> None:
    order = place()
    order.mark_paid()
    order.record_reservation((reserved(1, "LAPTOP-14", 2, 0, ("WH-A", 2)),))
    order.record_reservation((reserved(1, "LAPTOP-14", 2, 0, ("WH-A", 2)),))
    assert len(order.collect_events()) == 3


def test_stock_is_not_reserved_for_an_unpaid_order() -> None:
    order = place()
    with pytest.raises(DomainError, match="once paid"):
        order.record_reservation((reserved(1, "LAPTOP-14", 2, 0, ("WH-A", 2)),))


def test_a_reservation_must_match_the_order_lines() -> None:
    order = place()
    order.mark_paid()
    with pytest.raises(DomainError, match="does not match"):
        order.record_reservation((reserved(9, "LAPTOP-14", 2, 0, ("WH-A", 2)),))
    with pytest.raises(DomainError, match="not OTHER"):
        order.record_reservation((reserved(1, "OTHER", 2, 0, ("WH-A", 2)),))
    with pytest.raises(DomainError, match="ordered"):
        order.record_reservation((reserved(1, "LAPTOP-14", 1, 0, ("WH-A", 1)),))


def test_events_carry_the_correlation_of_the_flow() -> None:
    from services.runtime.context import MessageContext, handling

    with handling(MessageContext(correlation_id="webshop:1001", causation_id="message-1")):
        order = place()
    created = order.collect_events()[0]
    assert isinstance(created, Order.Placed)
    assert created.correlation_id == "webshop:1001"
    assert created.causation_id == "message-1"
