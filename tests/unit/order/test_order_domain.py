"""The order aggregate's rules, without any infrastructure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.order.domain import (
    DEFAULT_MARKET_COUNTRIES,
    Address,
    CatalogueKnowledge,
    Customer,
    Dispatch,
    FulfilmentPolicy,
    LineReservation,
    LocationQuantity,
    MarketMap,
    Order,
    OrderLine,
    OrderStatus,
    ShipmentLine,
    ShipmentRequest,
    ineligible_lines,
)
from services.runtime.aggregate import DomainError

POLICY = FulfilmentPolicy()


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
    order.mark_paid(POLICY)
    order.mark_paid(POLICY)
    assert [type(event).__name__ for event in order.collect_events()] == ["Placed", "Paid"]
    assert order.status is OrderStatus.PAID


def test_the_payment_event_carries_what_fulfilment_needs() -> None:
    order = place()
    order.mark_paid(POLICY)
    paid = order.collect_events()[-1]
    assert isinstance(paid, Order.Paid)
    assert paid.lines == order.lines
    assert paid.shipping_country == "GB"


def test_a_fully_reserved_order_is_allocated_and_released_to_its_warehouse() -> None:
    order = place()
    order.mark_paid(POLICY)
    order.record_reservation((reserved(1, "LAPTOP-14", 2, 0, ("WH-A", 2)),), POLICY)
    assert order.status is OrderStatus.RELEASED
    assert order.allocation[0].allocations == (LocationQuantity("WH-A", 2),)
    (shipment,) = order.shipments
    assert (shipment.location, shipment.lines) == ("WH-A", (ShipmentLine(1, "LAPTOP-14", 2),))
    assert [type(e).__name__ for e in order.collect_events()][-2:] == [
        "Allocated",
        "ReleasedToWarehouse",
    ]


def test_a_partly_reserved_order_releases_what_is_allocated_and_keeps_the_rest_backordered() -> (
    None
):
    order = place(OrderLine(1, "LAPTOP-14", 5, Decimal("1199.00")))
    order.mark_paid(POLICY)
    order.record_reservation((reserved(1, "LAPTOP-14", 3, 2, ("WH-A", 2), ("WH-B", 1)),), POLICY)
    line = order.allocation[0]
    assert (line.quantity_allocated, line.quantity_backordered) == (3, 2)
    assert [(s.location, s.lines[0].quantity) for s in order.shipments] == [
        ("WH-A", 2),
        ("WH-B", 1),
    ]
    released = order.collect_events()[-1]
    assert isinstance(released, Order.ReleasedToWarehouse)
    assert released.declared_value == Decimal("3597.00")


def test_an_order_with_nothing_in_stock_is_backordered() -> None:
    order = place()
    order.mark_paid(POLICY)
    order.record_reservation((reserved(1, "LAPTOP-14", 0, 2),), POLICY)
    assert order.status is OrderStatus.BACKORDERED
    assert isinstance(order.collect_events()[-1], Order.Backordered)


def test_a_reservation_is_recorded_once() -> None:
    order = place()
    order.mark_paid(POLICY)
    order.record_reservation((reserved(1, "LAPTOP-14", 2, 0, ("WH-A", 2)),), POLICY)
    order.record_reservation((reserved(1, "LAPTOP-14", 2, 0, ("WH-A", 2)),), POLICY)
    assert len(order.collect_events()) == 4


def test_stock_is_not_reserved_for_an_unpaid_order() -> None:
    order = place()
    with pytest.raises(DomainError, match="once paid"):
        order.record_reservation((reserved(1, "LAPTOP-14", 2, 0, ("WH-A", 2)),), POLICY)


def test_a_reservation_must_match_the_order_lines() -> None:
    order = place()
    order.mark_paid(POLICY)
    with pytest.raises(DomainError, match="does not match"):
        order.record_reservation((reserved(9, "LAPTOP-14", 2, 0, ("WH-A", 2)),), POLICY)
    with pytest.raises(DomainError, match="not OTHER"):
        order.record_reservation((reserved(1, "OTHER", 2, 0, ("WH-A", 2)),), POLICY)
    with pytest.raises(DomainError, match="ordered"):
        order.record_reservation((reserved(1, "LAPTOP-14", 1, 0, ("WH-A", 1)),), POLICY)


def test_events_carry_the_correlation_of_the_flow() -> None:
    from services.runtime.context import MessageContext, handling

    with handling(MessageContext(correlation_id="webshop:1001", causation_id="message-1")):
        order = place()
    created = order.collect_events()[0]
    assert isinstance(created, Order.Placed)
    assert created.correlation_id == "webshop:1001"
    assert created.causation_id == "message-1"


def allocated_order(fraud_score: float = 3.0, price: str = "1199.00", quantity: int = 1) -> Order:
    order = Order.place(
        order_id=uuid.uuid4(),
        channel="webshop",
        channel_order_id="2001",
        placed_at=datetime(2026, 11, 1, tzinfo=UTC),
        customer=Customer("C-1", "Ada Lovelace", "ada@example.com"),
        shipping_address=Address("Ada", "1 Way", None, "London", None, "N1", "GB"),
        lines=(OrderLine(1, "LAPTOP-14", quantity, Decimal(price)),),
        currency="USD",
        fraud_score=fraud_score,
    )
    order.mark_paid(POLICY)
    order.record_reservation((reserved(1, "LAPTOP-14", quantity, 0, ("WH-A", quantity)),), POLICY)
    return order


def test_a_high_fraud_score_holds_the_order_at_payment_and_nothing_goes_to_a_warehouse() -> None:
    order = allocated_order(fraud_score=80)
    assert order.on_hold
    assert order.hold_reason == "fraud score 80 is at or above 80"
    assert order.status is OrderStatus.ALLOCATED
    assert order.shipments == ()


MARKETS = MarketMap.of(DEFAULT_MARKET_COUNTRIES)
CATALOGUE = CatalogueKnowledge(
    {
        "PHONE-X": {"US": None, "UK": None, "EU": "no valid CE certification"},
        "CHARGER": {"US": None, "EU": None},
    }
)
LINES = (
    OrderLine(1, "PHONE-X", 1, Decimal("799.00")),
    OrderLine(2, "CHARGER", 1, Decimal("29.00")),
    OrderLine(3, "GIFT-CARD", 1, Decimal("50.00")),
)


def test_a_line_not_listed_in_the_destination_market_is_named_with_the_reason() -> None:
    assert ineligible_lines(LINES, "DE", MARKETS, CATALOGUE) == (
        "line 1 (PHONE-X) is not sellable in EU: no valid CE certification",
    )
    assert ineligible_lines(LINES, "GB", MARKETS, CATALOGUE) == (
        "line 2 (CHARGER) is not sellable in UK: no catalogue entry",
    )
    assert ineligible_lines(LINES, "US", MARKETS, CATALOGUE) == ()
    # a SKU the PIM never registered (line 3) is not checked; a country in no market is named
    assert ineligible_lines(LINES, "JP", MARKETS, CATALOGUE) == (
        "line 1 (PHONE-X): JP is in no market",
        "line 2 (CHARGER): JP is in no market",
    )


def test_a_country_belongs_to_one_market() -> None:
    assert MARKETS.market_of("FR") == "EU"
    assert MARKETS.market_of("GB") == "UK"
    with pytest.raises(ValueError, match="IE is in both EU and UK"):
        MarketMap.of({"EU": ["IE"], "UK": ["GB", "IE"]})


def test_a_paid_order_with_an_ineligible_line_is_held_by_the_market_rules() -> None:
    order = place(*LINES)
    order.mark_paid(POLICY, ineligible_lines(LINES, "DE", MARKETS, CATALOGUE))
    assert order.hold_reason == "line 1 (PHONE-X) is not sellable in EU: no valid CE certification"
    held = order.collect_events()[-1]
    assert isinstance(held, Order.Held)
    assert held.actor == "market-rules"

    risky = allocated_order(fraud_score=90)
    risky_and_ineligible = place(*LINES)
    risky_and_ineligible.fraud_score = 90
    risky_and_ineligible.mark_paid(POLICY, ("line 1 (PHONE-X) is not sellable in EU: …",))
    assert risky_and_ineligible.hold_reason == (
        "fraud score 90 is at or above 80; line 1 (PHONE-X) is not sellable in EU: …"
    )
    assert risky.hold_reason == "fraud score 90 is at or above 80"


def test_releasing_the_hold_of_an_allocated_order_releases_it_to_the_warehouse() -> None:
    order = allocated_order(fraud_score=95)
    order.release_hold(actor="reviewer", note="customer verified", policy=POLICY)
    assert not order.on_hold
    assert order.status is OrderStatus.RELEASED


def test_an_order_held_before_its_reservation_waits_for_the_release() -> None:
    order = place()
    order.mark_paid(POLICY)
    order.hold(reason="address check", actor="ops")
    order.record_reservation((reserved(1, "LAPTOP-14", 2, 0, ("WH-A", 2)),), POLICY)
    assert (order.status, order.shipments) == (OrderStatus.ALLOCATED, ())
    order.release_hold(actor="ops", note="", policy=POLICY)
    assert order.status is OrderStatus.RELEASED


@pytest.mark.parametrize(
    ("price", "signature"), [("650.00", True), ("500.00", False), ("250.00", False)]
)
def test_orders_over_the_threshold_need_a_signature(price: str, signature: bool) -> None:
    assert allocated_order(price=price).signature_required is signature


def test_invalid_transitions_are_rejected_with_the_reason() -> None:
    order = allocated_order()
    with pytest.raises(DomainError, match="is not on hold"):
        order.release_hold(actor="ops", note="", policy=POLICY)
    order.hold(reason="chargeback risk", actor="ops")
    with pytest.raises(DomainError, match="already on hold: chargeback risk"):
        order.hold(reason="again", actor="ops")
    with pytest.raises(DomainError, match="reason and an actor"):
        place().hold(reason=" ", actor="ops")
    order.cancel(reason="customer asked", actor="support")
    with pytest.raises(DomainError, match="cancelled and cannot be released from hold"):
        order.release_hold(actor="ops", note="", policy=POLICY)
    with pytest.raises(DomainError, match="cancelled and cannot be put on hold"):
        order.hold(reason="x", actor="ops")


def test_cancelling_twice_is_one_cancellation_and_a_late_reservation_changes_nothing() -> None:
    order = place()
    order.mark_paid(POLICY)
    order.cancel(reason="customer asked", actor="channel:webshop")
    order.cancel(reason="customer asked", actor="channel:webshop")
    order.record_reservation((reserved(1, "LAPTOP-14", 2, 0, ("WH-A", 2)),), POLICY)
    assert order.status is OrderStatus.CANCELLED
    assert [type(e).__name__ for e in order.collect_events()] == ["Placed", "Paid", "Cancelled"]


def test_the_last_parcel_delivered_closes_the_order_and_exceptions_show_on_it() -> None:
    order = allocated_order()
    (shipment,) = order.shipments
    at = datetime(2026, 11, 25, tzinfo=UTC)
    order.record_delivery_exception(shipment.shipment_id, "address not found", at)
    order.record_delivery(shipment.shipment_id, at)  # the carrier's news before the dispatch
    order.record_delivery(shipment.shipment_id, at)
    assert order.status is OrderStatus.DELIVERED
    assert order.delivery_exceptions == (f"{at.isoformat()} address not found",)
    with pytest.raises(DomainError, match="has no shipment"):
        order.record_delivery(uuid.uuid4(), at)
    with pytest.raises(DomainError, match="has shipped and can no longer be cancelled"):
        order.cancel(reason="too late", actor="support")


def status_of(order: Order) -> OrderStatus:
    """The status now (a plain read, so the type checker does not carry a narrowed one along)."""
    return order.status


def dispatch_of(shipment: ShipmentRequest, *serials: str) -> Dispatch:
    return Dispatch(shipment.shipment_id, shipment.location, "ups", "ground", "1Z", serials)


def test_a_backorder_filled_later_ships_as_a_later_parcel_and_the_balance_is_kept() -> None:
    """Camera now, lens later: the order closes only when the lens is delivered too."""
    order = place(
        OrderLine(1, "CAMERA-X", 1, Decimal("899.00")),
        OrderLine(2, "LENS-50", 1, Decimal("349.00")),
    )
    order.mark_paid(POLICY)
    order.record_reservation(
        (reserved(1, "CAMERA-X", 1, 0, ("WH-A", 1)), reserved(2, "LENS-50", 0, 1)), POLICY
    )
    assert status_of(order) is OrderStatus.RELEASED
    (camera,) = order.shipments
    at = datetime(2026, 11, 25, tzinfo=UTC)
    order.record_dispatch(dispatch_of(camera, "CAM-1"))
    order.record_delivery(camera.shipment_id, at)
    assert status_of(order) is OrderStatus.PARTLY_SHIPPED, "the lens is still owed"

    fill = (reserved(1, "CAMERA-X", 1, 0, ("WH-A", 1)), reserved(2, "LENS-50", 1, 0, ("WH-A", 1)))
    order.record_backorder_fill(1, fill, POLICY)
    order.record_backorder_fill(1, fill, POLICY)  # the same fill again changes nothing
    camera_again, lens = order.shipments
    assert camera_again == camera
    assert lens.location == "WH-A"
    assert lens.shipment_id != camera.shipment_id
    assert lens.lines == (ShipmentLine(2, "LENS-50", 1),)
    assert lens.declared_value == Decimal("349.00")
    assert status_of(order) is OrderStatus.PARTLY_SHIPPED
    assert [type(e).__name__ for e in order.collect_events()][-2:] == [
        "BackorderAllocated",
        "ReleasedToWarehouse",
    ]
    order.record_dispatch(dispatch_of(lens, "LENS-1"))
    assert status_of(order) is OrderStatus.SHIPPED
    order.record_delivery(lens.shipment_id, at)
    assert status_of(order) is OrderStatus.DELIVERED


def test_a_fully_backordered_order_is_allocated_and_released_when_stock_arrives() -> None:
    order = place()
    order.mark_paid(POLICY)
    order.record_reservation((reserved(1, "LAPTOP-14", 0, 2),), POLICY)
    order.record_backorder_fill(1, (reserved(1, "LAPTOP-14", 1, 1, ("WH-B", 1)),), POLICY)
    assert status_of(order) is OrderStatus.RELEASED
    assert order.allocation[0].quantity_backordered == 1
    order.record_backorder_fill(2, (reserved(1, "LAPTOP-14", 2, 0, ("WH-B", 2)),), POLICY)
    first, second = order.shipments
    assert (first.location, first.lines[0].quantity) == ("WH-B", 1)
    assert (second.location, second.lines[0].quantity) == ("WH-B", 1)
    assert second.shipment_id != first.shipment_id
    assert not order.allocation[0].quantity_backordered


def test_a_backorder_filled_while_on_hold_waits_for_the_release() -> None:
    order = place()
    order.mark_paid(POLICY)
    order.record_reservation((reserved(1, "LAPTOP-14", 0, 2),), POLICY)
    order.hold(reason="address check", actor="support")
    order.record_backorder_fill(1, (reserved(1, "LAPTOP-14", 2, 0, ("WH-A", 2)),), POLICY)
    assert status_of(order) is OrderStatus.ALLOCATED
    assert not order.shipments
    order.release_hold(actor="support", note="address fine", policy=POLICY)
    assert status_of(order) is OrderStatus.RELEASED
    assert [s.lines[0].quantity for s in order.shipments] == [2]


def test_a_fill_for_a_cancelled_order_changes_nothing_and_a_fill_cannot_take_units_away() -> None:
    order = place()
    order.mark_paid(POLICY)
    order.record_reservation((reserved(1, "LAPTOP-14", 1, 1, ("WH-A", 1)),), POLICY)
    with pytest.raises(DomainError, match="cannot take units away"):
        order.record_backorder_fill(1, (reserved(1, "LAPTOP-14", 0, 2),), POLICY)
    order.cancel(reason="changed mind", actor="customer")
    order.record_backorder_fill(1, (reserved(1, "LAPTOP-14", 2, 0, ("WH-A", 2)),), POLICY)
    assert status_of(order) is OrderStatus.CANCELLED
    assert isinstance(order.collect_events()[-1], Order.Cancelled)


def test_an_unpaid_order_has_no_backorder_to_fill() -> None:
    order = place()
    with pytest.raises(DomainError, match="has no backorder to fill"):
        order.record_backorder_fill(1, (reserved(1, "LAPTOP-14", 2, 0, ("WH-A", 2)),), POLICY)


def test_each_parcel_shows_the_carriers_latest_news() -> None:
    order = allocated_order()
    (parcel,) = order.shipments
    scanned = datetime(2026, 11, 24, 9, tzinfo=UTC)
    order.record_in_transit(parcel.shipment_id, "departed facility", scanned)
    order.record_in_transit(
        parcel.shipment_id, "origin scan", datetime(2026, 11, 24, 8, tzinfo=UTC)
    )
    latest = order.latest_tracking(parcel.shipment_id)
    assert latest is not None
    assert (latest.status, latest.description) == ("in-transit", "departed facility")
    order.record_delivery(parcel.shipment_id, datetime(2026, 11, 25, tzinfo=UTC))
    order.record_in_transit(parcel.shipment_id, "late scan", datetime(2026, 11, 26, tzinfo=UTC))
    latest = order.latest_tracking(parcel.shipment_id)
    assert latest is not None
    assert latest.status == "delivered", "a delivered parcel stays delivered"
    with pytest.raises(DomainError, match="has no shipment"):
        order.record_in_transit(uuid.uuid4(), "?", scanned)


def test_a_parcel_at_its_warehouse_shows_how_long_it_has_waited_until_it_ships() -> None:
    order = place()
    order.mark_paid(POLICY)
    order.record_reservation((reserved(1, "LAPTOP-14", 2, 0, ("WH-A", 2)),), POLICY)
    (shipment,) = order.shipments
    released = order.released_at_of(shipment.shipment_id)
    assert released is not None
    later = released + timedelta(minutes=42)

    assert order.waiting_at_warehouse(shipment.shipment_id, later) == timedelta(minutes=42)
    assert order.released_at_of(uuid.uuid4()) is None

    order.record_dispatch(dispatch_of(shipment))
    assert order.waiting_at_warehouse(shipment.shipment_id, later) is None


def test_an_order_knows_since_when_it_is_in_its_status_and_news_within_it_does_not_move_that() -> (
    None
):
    order = allocated_order()  # placed, paid, allocated and released in a moment
    (shipment,) = order.shipments
    released_since = order.status_since
    assert order.status is OrderStatus.RELEASED
    assert released_since == order.released_at_of(shipment.shipment_id)

    order.hold(reason="customer asked to wait", actor="support")
    order.record_in_transit(shipment.shipment_id, "left the depot", datetime.now(UTC))
    assert order.status_since == released_since, "a hold or carrier news is no new status"

    order.record_dispatch(dispatch_of(shipment, "SN-1"))
    assert status_of(order) is OrderStatus.SHIPPED
    assert released_since is not None
    assert order.status_since is not None
    assert order.status_since > released_since
    assert order.status_since == order.modified_on
