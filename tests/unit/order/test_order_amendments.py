"""A channel's re-sent order: an exact repeat, an amendment, or a refusal naming the difference."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from contracts.order import OrderReleasedToWarehouse
from services.order.domain import (
    Address,
    Change,
    Customer,
    FulfilmentPolicy,
    LineReservation,
    LocationQuantity,
    Order,
    OrderLine,
    OrderStatus,
    changes_between,
)
from services.order.translators import feedback_key, to_contract, to_feedback

POLICY = FulfilmentPolicy()
PLACED_AT = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
ADDRESS = Address("Ada", "1 Way", None, "London", None, "N1", "GB")
LAPTOP = OrderLine(1, "LAPTOP-14", 1, Decimal("1199.00"))


def place() -> Order:
    return Order.place(
        order_id=uuid.uuid4(),
        channel="webshop",
        channel_order_id="1001",
        placed_at=PLACED_AT,
        customer=Customer("C-1", "Ada Lovelace", "ada@example.com"),
        shipping_address=ADDRESS,
        lines=(LAPTOP,),
        currency="GBP",
        fraud_score=3.0,
    )


def paid() -> Order:
    order = place()
    order.mark_paid(POLICY)
    return order


def released() -> Order:
    order = paid()
    reservation = LineReservation(1, "LAPTOP-14", 1, 0, (LocationQuantity("WH-A", 1),))
    order.record_reservation((reservation,), POLICY)
    assert order.status is OrderStatus.RELEASED
    return order


def event_names(order: Order) -> list[str]:
    return [type(event).__name__ for event in order.collect_events()]


def test_an_exact_repeat_changes_nothing() -> None:
    order = released()
    order.collect_events()
    same_moment_elsewhere = PLACED_AT.astimezone(ZoneInfo("Asia/Tokyo"))
    repeat = replace(
        order.content,
        placed_at=same_moment_elsewhere,
        lines=(replace(LAPTOP, unit_price=Decimal("1199.0")),),
    )
    assert order.amend(repeat) is None
    assert order.collect_events() == []


def test_every_difference_is_named_with_both_values() -> None:
    recorded = place().content
    received = replace(
        recorded,
        shipping_address=replace(ADDRESS, city="Leeds", line2="Flat 2"),
        lines=(replace(LAPTOP, quantity=3), OrderLine(2, "USB-C-CABLE", 2, Decimal("9.99"))),
        fraud_score=12.5,
    )
    assert changes_between(recorded, received) == (
        Change("shipping_address.line2", "(none)", "Flat 2"),
        Change("shipping_address.city", "London", "Leeds"),
        Change("fraud_score", "3", "12.5"),
        Change("lines[1].quantity", "1", "3"),
        Change("lines[2]", "(none)", "2 x USB-C-CABLE at 9.99"),
    )
    assert changes_between(received, recorded)[-1] == Change(
        "lines[2]", "2 x USB-C-CABLE at 9.99", "(none)"
    )


def test_before_payment_lines_and_address_are_amended_and_a_repeat_is_a_duplicate() -> None:
    order = place()
    amended_lines = (replace(LAPTOP, quantity=2), OrderLine(2, "USB-C-CABLE", 1, Decimal("9.99")))
    resent = replace(
        order.content,
        lines=amended_lines,
        shipping_address=replace(ADDRESS, line1="9 Other Street", country="IE"),
    )
    assert order.amend(resent) is None
    assert order.amend(resent) is None
    assert event_names(order) == ["Placed", "Amended"]
    assert order.lines == amended_lines
    assert order.shipping_address.country == "IE"
    assert order.total == Decimal("2407.99")


def test_the_payment_event_carries_the_amended_lines() -> None:
    order = place()
    amended_lines = (replace(LAPTOP, quantity=2),)
    assert order.amend(replace(order.content, lines=amended_lines)) is None
    order.mark_paid(POLICY)
    amended, payment = order.collect_events()[1:]
    assert isinstance(amended, Order.Amended)
    assert amended.changes == (Change("lines[1].quantity", "1", "2"),)
    assert isinstance(payment, Order.Paid)
    assert payment.lines == amended_lines


def test_after_payment_the_address_still_changes_until_release() -> None:
    order = paid()
    order.collect_events()
    resent = replace(order.content, shipping_address=replace(ADDRESS, line1="2 Way"))
    assert order.amend(resent) is None
    reservation = LineReservation(1, "LAPTOP-14", 1, 0, (LocationQuantity("WH-A", 1),))
    order.record_reservation((reservation,), POLICY)
    release = order.collect_events()[-1]
    assert isinstance(release, Order.ReleasedToWarehouse)
    assert release.ship_to.line1 == "2 Way"


def test_after_payment_a_line_change_is_refused_naming_it_and_nothing_is_applied() -> None:
    order = paid()
    order.collect_events()
    resent = replace(
        order.content,
        lines=(replace(LAPTOP, quantity=3),),
        shipping_address=replace(ADDRESS, line1="2 Way"),
    )
    reason = order.amend(resent)
    assert reason == (
        "re-send of webshop:1001 refused: lines[1].quantity '1' → '3' may change only before "
        "payment (the order is paid)"
    )
    (refusal,) = order.collect_events()
    assert isinstance(refusal, Order.AmendmentRefused)
    assert refusal.changes == (
        Change("shipping_address.line1", "1 Way", "2 Way"),
        Change("lines[1].quantity", "1", "3"),
    )
    assert order.lines == (LAPTOP,)
    assert order.shipping_address == ADDRESS
    assert order.amend(resent) == reason, "a repeat is refused again"
    assert order.collect_events() == [], "but recorded once"


def test_the_destination_country_changes_only_before_payment() -> None:
    order = paid()
    reason = order.amend(replace(order.content, shipping_address=replace(ADDRESS, country="IE")))
    assert reason is not None
    assert "shipping_address.country 'GB' → 'IE' may change only before payment" in reason


def test_after_release_nothing_changes() -> None:
    order = released()
    reason = order.amend(replace(order.content, customer=Customer("C-1", "Ada L.", "a@b.example")))
    assert reason is not None
    assert reason.endswith(
        "customer.email 'ada@example.com' → 'a@b.example' may change only before release to the "
        "warehouse (the order is released-to-warehouse)"
    )


def test_when_the_order_was_placed_changes_only_before_payment() -> None:
    unpaid, later = place(), PLACED_AT + timedelta(minutes=1)
    assert unpaid.amend(replace(unpaid.content, placed_at=later)) is None
    assert unpaid.placed_at == later
    order = paid()
    reason = order.amend(replace(order.content, placed_at=later))
    assert reason is not None
    assert (
        "placed_at '2026-11-01T09:30:00+00:00' → '2026-11-01T09:31:00+00:00' may change" in reason
    )


def test_a_cancelled_order_refuses_any_change() -> None:
    order = place()
    order.cancel(reason="customer changed mind", actor="channel:webshop")
    reason = order.amend(replace(order.content, currency="EUR"))
    assert (
        reason == "re-send of webshop:1001 refused: currency 'GBP' → 'EUR' (the order is cancelled)"
    )


def test_amendments_and_refusals_are_fed_back_to_the_channel_and_published() -> None:
    order = paid()
    order.amend(replace(order.content, shipping_address=replace(ADDRESS, line1="2 Way")))
    order.amend(replace(order.content, fraud_score=50.0))
    placed, _, amended, refused = order.collect_events()
    feedback = [to_feedback(event) for event in (placed, amended, refused)]
    assert [f.outcome for f in feedback if f] == ["accepted", "amended", "rejected"]
    rejected = feedback[2]
    assert rejected is not None
    assert feedback_key(rejected) == "webshop:1001"
    assert rejected.reason is not None
    assert "fraud_score '3' → '50' may change only before payment" in rejected.reason
    assert [c.field for c in rejected.changes] == ["fraud_score"]
    assert to_feedback(_) is None
    published_amendment = to_contract(amended)
    assert published_amendment.model_dump(mode="json")["shipping_address"]["line1"] == "2 Way"
    assert to_contract(refused).event_type == "OrderAmendmentRefused"


def test_the_delivery_promise_changes_until_release_and_the_release_carries_it() -> None:
    order = paid()
    order.collect_events()
    express = replace(order.content, service_level="express", deliver_by=date(2026, 11, 4))
    assert order.amend(express) is None
    (amended,) = order.collect_events()
    assert isinstance(amended, Order.Amended)
    assert [str(change) for change in amended.changes] == [
        "service_level 'standard' → 'express'",
        "deliver_by '(none)' → '2026-11-04'",
    ]
    reservation = LineReservation(1, "LAPTOP-14", 1, 0, (LocationQuantity("WH-A", 1),))
    order.record_reservation((reservation,), POLICY)
    release = order.collect_events()[-1]
    assert isinstance(release, Order.ReleasedToWarehouse)
    assert (release.service_level, release.deliver_by) == ("express", date(2026, 11, 4))
    published = to_contract(release)
    assert isinstance(published, OrderReleasedToWarehouse)
    assert (published.service_level, published.deliver_by) == ("express", date(2026, 11, 4))
    reason = order.amend(replace(order.content, service_level="next-day"))
    assert reason is not None
    assert "service_level 'express' → 'next-day' may change only before release" in reason
