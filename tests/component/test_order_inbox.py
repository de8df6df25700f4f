"""The order service's inbox fed records directly, on the store's in-memory recorders.

Fast checks of routing, deduplication, gap detection, batching and dead-lettering; the same
behaviour is proven against a real broker and Postgres in `tests/integration`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from contracts.channel import order_id_for
from contracts.inventory import ReservationLine, StockReserved
from contracts.order import LocationQuantity
from services.order.application import OrderApplication
from services.order.domain import OrderStatus
from services.order.handlers import register_handlers
from services.runtime.consumer import Outcome
from services.runtime.privacy import is_sealed
from tests.component.inbox import Inbox, inbox_of
from tests.integration.harness import channel_order, published
from tests.unit.runtime.test_metrics import observed


@pytest.fixture
def inbox() -> Iterator[Inbox[OrderApplication]]:
    with inbox_of("order", OrderApplication(None), register_handlers) as box:
        yield box


def stock_reserved(order_id: uuid.UUID, version: int, quantity: int = 1) -> bytes:
    reservation_id = uuid.uuid5(order_id, "reservation")
    payload = StockReserved(
        reservation_id=reservation_id,
        order_id=order_id,
        lines=[
            ReservationLine(
                line_number=1,
                sku="LAPTOP-14",
                quantity_requested=quantity,
                quantity_reserved=quantity,
                quantity_short=0,
                allocations=[LocationQuantity(location="WH-A", quantity=quantity)],
            )
        ],
    )
    return published(payload, producer="inventory", aggregate_id=reservation_id, version=version)


def as_json(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode()


async def test_a_channel_order_is_placed_and_paid_once_however_often_it_arrives(
    inbox: Inbox[OrderApplication],
) -> None:
    message = as_json(channel_order("5001"))
    await inbox.send("channel.orders.v1", message)
    await inbox.send("channel.orders.v1", message)
    order = inbox.application.get_order(order_id_for("webshop", "5001"))
    assert (order.status, order.version) == (OrderStatus.PAID, 2)
    assert inbox.dead_letters == []


async def test_every_batch_is_timed_and_sized_and_every_handler_timed(
    inbox: Inbox[OrderApplication],
) -> None:
    handlers = "unitrail_consumer_handler_seconds"
    before = observed("unitrail_consumer_batch_seconds", "order")
    placed = observed(handlers, "order", message="ChannelOrderMessage")
    reserved = observed(handlers, "order", message="StockReserved")
    await inbox.send("channel.orders.v1", as_json(channel_order("5002")))
    assert observed("unitrail_consumer_batch_seconds", "order") == before + 1
    assert observed("unitrail_consumer_batch_messages", "order") >= 1
    assert observed(handlers, "order", message="ChannelOrderMessage") == placed + 1
    order_id = order_id_for("webshop", "5002")
    await inbox.send("inventory.events.v1", stock_reserved(order_id, version=1))
    await inbox.send("inventory.events.v1", stock_reserved(order_id, version=1))
    assert observed(handlers, "order", message="StockReserved") == reserved + 1, (
        "a duplicate reaches no handler"
    )


async def test_an_allocation_is_applied_once_and_a_gap_is_parked(
    inbox: Inbox[OrderApplication],
) -> None:
    await inbox.send("channel.orders.v1", as_json(channel_order("5001")))
    order_id = order_id_for("webshop", "5001")

    await inbox.send("inventory.events.v1", stock_reserved(order_id, version=1))
    await inbox.send("inventory.events.v1", stock_reserved(order_id, version=1))
    order = inbox.application.get_order(order_id)
    assert (order.status, order.version) == (OrderStatus.RELEASED, 4)

    await inbox.send("inventory.events.v1", stock_reserved(uuid.uuid4(), version=3))
    (_, headers) = inbox.dead_letters[0]
    assert headers["error-type"] == "VersionGap"


async def test_poison_is_parked_with_its_reason_and_the_next_message_is_handled(
    inbox: Inbox[OrderApplication],
) -> None:
    await inbox.send("channel.orders.v1", b"{not json")
    await inbox.send("channel.orders.v1", as_json(channel_order("5002") | {"fraud_score": 101}))
    await inbox.send("inventory.events.v1", b'{"event_type": "StockReserved"}')
    await inbox.send("channel.orders.v1", as_json(channel_order("5003")))

    reasons = [headers["error"] for _, headers in inbox.dead_letters]
    assert reasons[0].startswith("not valid JSON")
    assert reasons[1].startswith("schema violation: fraud_score")
    assert reasons[2].startswith("invalid envelope")
    # Bytes that are not JSON (they may hold a customer's data) are not copied, only described.
    assert inbox.dead_letters[0][0].startswith(b"(not kept: 9 bytes, not JSON, sha256 ")
    assert inbox.application.get_order(order_id_for("webshop", "5003")).status is OrderStatus.PAID


async def test_an_event_for_an_order_that_does_not_exist_is_retried_then_parked(
    inbox: Inbox[OrderApplication],
) -> None:
    await inbox.send("inventory.events.v1", stock_reserved(uuid.uuid4(), version=1))
    (_, headers) = inbox.dead_letters[0]
    assert headers["error"].startswith("failed after 2 attempts")


async def test_a_re_send_that_changes_a_paid_line_is_parked_with_the_difference(
    inbox: Inbox[OrderApplication],
) -> None:
    message = channel_order("5004")
    await inbox.send("channel.orders.v1", as_json(message))
    changed = message | {"lines": [{"sku": "LAPTOP-14", "quantity": 3, "unit_price": "1199.00"}]}
    await inbox.send("channel.orders.v1", as_json(changed))
    await inbox.send("channel.orders.v1", as_json(message))

    ((parked, headers),) = inbox.dead_letters
    # As kept for ever: the customer sealed under their key, the rest as sent.
    kept = json.loads(parked)
    assert kept["lines"] == changed["lines"]
    assert kept["customer"]["customer_id"] == changed["customer"]["customer_id"]
    assert is_sealed(kept["customer"]["name"])
    assert headers["error-type"] == "ResendRefused"
    assert headers["error"] == (
        "rule violated: re-send of webshop:5004 refused: lines[1].quantity '1' → '3' may change "
        "only before payment (the order is paid)"
    )
    order = inbox.application.get_order(order_id_for("webshop", "5004"))
    assert (order.lines[0].quantity, order.version) == (1, 3)


async def test_a_batch_with_poison_in_the_middle_applies_everything_else_once(
    inbox: Inbox[OrderApplication],
) -> None:
    first = as_json(channel_order("6001"))
    outcomes = await inbox.send_batch(
        ("channel.orders.v1", first),
        ("channel.orders.v1", b"{not json"),
        ("channel.orders.v1", as_json(channel_order("6002"))),
        ("channel.orders.v1", first),
    )
    assert outcomes == [
        Outcome.APPLIED,
        Outcome.DEAD_LETTERED,
        Outcome.APPLIED,
        Outcome.APPLIED,
    ]
    assert [
        inbox.application.get_order(order_id_for("webshop", n)).version for n in ("6001", "6002")
    ] == [
        2,
        2,
    ]
    assert len(inbox.dead_letters) == 1


async def test_a_failing_handler_in_a_batch_does_not_stop_the_others(
    inbox: Inbox[OrderApplication],
) -> None:
    await inbox.send("channel.orders.v1", as_json(channel_order("6101")))
    order_id = order_id_for("webshop", "6101")
    outcomes = await inbox.send_batch(
        ("inventory.events.v1", stock_reserved(uuid.uuid4(), version=1)),
        ("inventory.events.v1", stock_reserved(order_id, version=1)),
    )
    assert outcomes == [Outcome.DEAD_LETTERED, Outcome.APPLIED]
    assert inbox.application.get_order(order_id).status is OrderStatus.RELEASED
