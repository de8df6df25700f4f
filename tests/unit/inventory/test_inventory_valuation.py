"""Valuation and the finance movement feed, without infrastructure: the moving average, what each
movement is booked at, how each stock event becomes a `StockMovement` (or none), and the feed's
relay."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from decimal import Decimal
from typing import Any, cast

import pytest
from aiokafka.structs import RecordMetadata

from contracts import inventory as contracts
from contracts.envelope import Envelope, event_id_for
from contracts.topics import INVENTORY_MOVEMENTS, all_topics
from services.inventory import translators
from services.inventory.application import InventoryApplication
from services.inventory.domain import (
    AverageCost,
    Receipt,
    RequestedLine,
    ScannedUnit,
    SkuStock,
    stock_id_for,
)
from services.inventory.domain.transfer import arrival_of
from services.inventory.domain.valuation import averaged
from services.runtime.aggregate import DomainError
from services.runtime.relay import Relay

SKU = "LAPTOP-14"


def costed(quantity: int, cost: str, currency: str = "USD", po: str = "PO-1") -> Receipt:
    return Receipt(
        "WH-A",
        quantity,
        "purchase-receipt",
        "dock",
        reference=po,
        unit_cost=Decimal(cost),
        currency=currency,
    )


def uncosted(quantity: int, location: str = "WH-A") -> Receipt:
    return Receipt(location, quantity, "initial-count", "ops")


def stock_of(*receipts: Receipt) -> SkuStock:
    stock = SkuStock.receive_first(sku=SKU, receipt=receipts[0])
    for receipt in receipts[1:]:
        stock.receive(receipt)
    return stock


def feed(stock: SkuStock) -> list[contracts.StockMovement]:
    return [m for e in stock.collect_events() if (m := translators.to_movement(e)) is not None]


def booked(movement: contracts.StockMovement) -> tuple[Any, ...]:
    return (
        movement.movement_type,
        movement.quantity,
        movement.condition,
        movement.unit_cost,
        movement.currency,
        movement.extended_value,
    )


def ship_one(stock: SkuStock, location: str = "WH-A") -> None:
    order = uuid.uuid4()
    stock.reserve(order_id=order, line_number=1, location=location, quantity=1)
    stock.ship(
        order_id=order,
        shipment_id=uuid.uuid4(),
        line_number=1,
        location=location,
        quantity=1,
        serials=(),
    )


def test_two_receipts_at_different_costs_make_a_weighted_average() -> None:
    stock = stock_of(costed(2, "10.00"), costed(3, "12.50", po="PO-2"))
    assert stock.average_cost == AverageCost(Decimal("11.5"), "USD")
    stock.receive(costed(1, "20", po="PO-3"))
    # (5 x 11.50 + 1 x 20) / 6, kept to four decimals
    assert stock.average_cost == AverageCost(Decimal("12.9167"), "USD")
    assert [booked(m) for m in feed(stock)] == [
        ("receipt", 2, "new", Decimal("10.00"), "USD", Decimal("20.00")),
        ("receipt", 3, "new", Decimal("12.50"), "USD", Decimal("37.50")),
        ("receipt", 1, "new", Decimal("20"), "USD", Decimal("20")),
    ]


def test_a_shipment_is_booked_at_the_average_and_leaves_it_as_it_is() -> None:
    stock = stock_of(costed(2, "10.00"), costed(2, "14.00", po="PO-2"))
    stock.collect_events()
    ship_one(stock)
    (movement,) = feed(stock)
    assert booked(movement) == ("shipment", -1, "new", Decimal("12"), "USD", Decimal("-12"))
    assert (movement.reason, movement.reference_type, movement.order_id is not None) == (
        "customer-order",
        "shipment",
        True,
    )
    assert stock.average_cost == AverageCost(Decimal("12"), "USD")
    stock.receive(costed(2, "6.00", po="PO-3"))
    # one unit left at 12, two arrive at 6: (3 x 12 + 2 x 6) / 5
    assert stock.average_cost == AverageCost(Decimal("9.6"), "USD")


def test_adjustments_out_and_a_scrapped_return_are_write_offs_or_adjustments_at_the_average() -> (
    None
):
    stock = stock_of(costed(10, "8.00"))
    stock.collect_events()
    stock.adjust(location="WH-A", quantity_delta=-2, reason_code="damage", actor="ops")
    stock.adjust(location="WH-A", quantity_delta=-1, reason_code="write-off", actor="ops")
    stock.adjust(location="WH-A", quantity_delta=-1, reason_code="loss", actor="ops")
    stock.adjust(location="WH-A", quantity_delta=1, reason_code="found", actor="ops")
    rma = uuid.uuid4()
    stock.take_back(rma_id=rma, serial=None, location="WH-A", condition="open-box")
    stock.change_condition(rma_id=rma, to_condition="damaged", reason="scrapped", actor="tech")
    movements = feed(stock)
    assert [booked(m) for m in movements] == [
        ("write-off", -2, "new", Decimal("8.00"), "USD", Decimal("-16.00")),
        ("write-off", -1, "new", Decimal("8.00"), "USD", Decimal("-8.00")),
        ("adjustment-out", -1, "new", Decimal("8.00"), "USD", Decimal("-8.00")),
        ("adjustment-in", 1, "new", Decimal("8.00"), "USD", Decimal("8.00")),
        ("return", 1, "open-box", Decimal("8.00"), "USD", Decimal("8.00")),
        ("write-off", -1, "open-box", Decimal("8.00"), "USD", Decimal("-8.00")),
    ]
    scrapped = movements[-1]
    assert (scrapped.from_condition, scrapped.to_condition, scrapped.reference_type) == (
        "open-box",
        "damaged",
        "rma",
    )
    assert [m.reason for m in movements[:4]] == ["damage", "write-off", "loss", "found"]
    assert stock.valued_units == 7, "the scrapped unit has no value any more"


def test_a_unit_returned_damaged_enters_at_no_value_and_regains_it_when_repaired() -> None:
    stock = stock_of(costed(4, "8.00"))
    stock.collect_events()
    broken, tested = uuid.uuid4(), uuid.uuid4()
    stock.take_back(rma_id=broken, serial=None, location="WH-A", condition="damaged")
    stock.take_back(rma_id=tested, serial=None, location="WH-A", condition="quarantined")
    stock.change_condition(rma_id=broken, to_condition="refurbished", reason="fixed", actor="t")
    stock.change_condition(rma_id=tested, to_condition="new", reason="grade A", actor="t")
    movements = feed(stock)
    assert [booked(m) for m in movements] == [
        ("return", 1, "damaged", Decimal(0), "USD", Decimal(0)),
        ("return", 1, "quarantined", Decimal("8.00"), "USD", Decimal("8.00")),
        ("adjustment-in", 1, "refurbished", Decimal("8.00"), "USD", Decimal("8.00")),
        ("condition-change", 1, "new", Decimal("8.00"), "USD", Decimal("8.00")),
    ]
    assert (movements[-1].from_condition, movements[-1].to_condition) == ("quarantined", "new")


def test_without_a_costed_receipt_the_cost_is_unknown_until_the_first_one_sets_it() -> None:
    stock = stock_of(uncosted(3))
    ship_one(stock)
    assert stock.average_cost is None
    movements = feed(stock)
    assert [booked(m) for m in movements] == [
        ("receipt", 3, "new", None, None, None),
        ("shipment", -1, "new", None, None, None),
    ]
    assert (movements[0].reference_type, movements[0].reason) == (None, "initial-count")
    stock.receive(costed(2, "30.00"))
    # the units on the books without a cost are taken to cost what the first costed ones did
    assert stock.average_cost == AverageCost(Decimal("30"), "USD")
    stock.receive(uncosted(1))
    (_, later) = feed(stock)
    assert booked(later) == ("receipt", 1, "new", Decimal("30"), "USD", Decimal("30"))
    assert stock.average_cost == AverageCost(Decimal("30"), "USD")


def test_a_receipt_in_another_currency_is_booked_at_its_own_cost_but_not_averaged() -> None:
    stock = stock_of(costed(2, "10.00"))
    stock.receive(costed(2, "9.00", currency="EUR", po="PO-2"))
    assert stock.average_cost == AverageCost(Decimal("10"), "USD")
    ship_one(stock)
    _, euro, shipped = feed(stock)
    assert booked(euro) == ("receipt", 2, "new", Decimal("9.00"), "EUR", Decimal("18.00"))
    assert booked(shipped) == ("shipment", -1, "new", Decimal("10"), "USD", Decimal("-10"))


def test_a_unit_cost_needs_a_currency() -> None:
    with pytest.raises(DomainError, match="currency"):
        SkuStock.receive_first(
            sku=SKU, receipt=Receipt("WH-A", 1, "purchase-receipt", "d", unit_cost=Decimal(1))
        )


def test_a_transfer_is_booked_in_at_the_cost_it_was_booked_out_at() -> None:
    stock = stock_of(costed(4, "10.00"))
    transfer = uuid.uuid4()
    stock.dispatch_transfer(
        transfer_id=transfer, from_location="WH-A", to_location="WH-B", quantity=2, actor="ops"
    )
    assert stock.valued_units == 4, "units in transit stay on the books"
    stock.receive(costed(4, "20.00", po="PO-2"))
    assert stock.average_cost == AverageCost(Decimal("15"), "USD")
    moving = stock.in_transit[str(transfer)]
    stock.receive_transfer(transfer_id=transfer, arrival=arrival_of(moving, 1, None), actor="o")
    _, out, _, arrived, short = feed(stock)
    assert booked(out) == ("transfer-out", -2, "new", Decimal("10"), "USD", Decimal("-20"))
    assert booked(arrived) == ("transfer-in", 2, "new", Decimal("10"), "USD", Decimal("20"))
    assert (out.location, arrived.location, arrived.reference) == ("WH-A", "WH-B", str(transfer))
    assert booked(short) == ("adjustment-out", -1, "new", Decimal("15"), "USD", Decimal("-15"))
    assert (short.reason, short.reference_type) == ("loss", "transfer")


def test_a_count_variance_is_an_adjustment_referring_to_the_count() -> None:
    stock = stock_of(costed(5, "4.00"))
    stock.collect_events()
    count = uuid.uuid4()
    stock.count(count_id=count, location="WH-A", counted=3, actor="counter")
    (movement,) = feed(stock)
    assert booked(movement) == ("adjustment-out", -2, "new", Decimal("4"), "USD", Decimal("-8"))
    assert (movement.reason, movement.reference_type, movement.reference) == (
        "cycle-count",
        "count",
        str(count),
    )


def test_events_that_move_no_units_are_not_movements() -> None:
    inventory = InventoryApplication(None, today=lambda: date(2026, 3, 2))
    inventory.receive_stock(SKU, costed(2, "5.00"))
    order = uuid.uuid4()
    inventory.reserve_for_order(order, [RequestedLine(1, SKU, 1)])
    inventory.release_for_order(order, "order cancelled")
    inventory.reserve_for_order(uuid.uuid4(), [RequestedLine(1, SKU, 5)])  # short: backordered
    inventory.count_stock(SKU, location="WH-A", counted=2, actor="counter")  # no variance
    events = list(inventory.repository.event_store.get(stock_id_for(SKU)))
    kinds = {type(event).__name__: translators.to_movement(event) for event in events}
    assert [name for name, movement in kinds.items() if movement is not None] == ["FirstReceived"]
    assert {"Reserved", "ReservationReleased", "Backordered", "Counted"} <= set(kinds)


def test_an_event_recorded_before_stock_was_valued_is_a_movement_of_unknown_cost() -> None:
    stock = stock_of(costed(2, "10.00"))
    ship_one(stock)
    shipped = stock.collect_events()[-1]
    assert isinstance(shipped, SkuStock.Shipped)
    # As the store gives it back: the attributes it was stored with, no cost among them.
    old = object.__new__(SkuStock.Shipped)
    state = {k: v for k, v in shipped.__dict__.items() if k not in ("unit_cost", "currency")}
    object.__setattr__(old, "__dict__", state)
    movement = translators.to_movement(old)
    assert movement is not None
    assert booked(movement) == ("shipment", -1, "new", None, None, None)


def test_the_average_survives_a_snapshot_and_an_older_snapshot_is_upcast() -> None:
    inventory = InventoryApplication(None, today=lambda: date(2026, 3, 2))
    inventory.receive_stock(SKU, costed(2, "10.00"))
    inventory.receive_stock(SKU, costed(1, "13.00", po="PO-2"))
    order = uuid.uuid4()
    inventory.reserve_for_order(order, [RequestedLine(1, SKU, 1)])
    inventory.ship(
        order_id=order,
        shipment_id=uuid.uuid4(),
        location="WH-A",
        units=[ScannedUnit(1, SKU, None)],
    )
    replayed: SkuStock = inventory.repository.get(stock_id_for(SKU))
    inventory.take_snapshot(stock_id_for(SKU))
    restored: SkuStock = inventory.repository.get(stock_id_for(SKU))
    assert restored.__dict__ == replayed.__dict__
    assert restored.average_cost == AverageCost(Decimal("11"), "USD")
    state: dict[str, object] = {"on_hand": {"A": 1}}
    SkuStock.upcast_v3_v4(state)
    assert state == {"on_hand": {"A": 1}, "average_cost": None}


def test_the_average_of_nothing_on_the_books_is_the_new_cost() -> None:
    usd = AverageCost(Decimal("7"), "USD")
    assert averaged(usd, 0, 2, Decimal("9.123456"), "USD") == AverageCost(Decimal("9.1235"), "USD")
    assert averaged(usd, 0, 2, Decimal("9"), "EUR") == usd
    assert averaged(usd, 3, 2, None, None) == usd


def test_the_movements_topic_is_registered_and_its_event_ids_differ_from_the_events_topic() -> None:
    assert INVENTORY_MOVEMENTS in all_topics()
    aggregate = stock_id_for(SKU)
    on_events = event_id_for(aggregate, 3)
    on_feed = event_id_for(aggregate, 3, INVENTORY_MOVEMENTS.name)
    assert on_feed != on_events
    assert on_feed == event_id_for(aggregate, 3, INVENTORY_MOVEMENTS.name), "stable on repeat"


class FakeBatch:
    def __init__(self) -> None:
        self.messages: list[tuple[bytes, bytes]] = []

    def append(self, *, timestamp: Any, key: bytes, value: bytes, headers: Any) -> bool:
        self.messages.append((key, value))
        return True

    def close(self) -> None:
        pass


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}

    def create_batch(self) -> FakeBatch:
        return FakeBatch()

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> Any:
        offset = len(self.sent)
        self.sent.extend((topic, key, value) for key, value in batch.messages)
        done: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        done.set_result(RecordMetadata(topic, partition, cast(Any, None), offset, 0, 0, 0))
        return done


def test_a_feed_relay_skips_what_its_translator_leaves_out_and_names_itself_in_event_ids() -> None:
    inventory = InventoryApplication(None, today=lambda: date(2026, 3, 2))
    inventory.receive_stock(SKU, costed(2, "5.00"))
    inventory.reserve_for_order(uuid.uuid4(), [RequestedLine(1, SKU, 1)])
    notifications = inventory.recorder.select_notifications(start=1, limit=10)
    producer = FakeProducer()
    relay = Relay(
        producer_name="inventory",
        application=inventory,
        translate=translators.to_movement,
        producer=cast(Any, producer),
        pool=cast(Any, None),
        leadership=cast(Any, None),
        incarnation=cast(Any, None),
        topic=INVENTORY_MOVEMENTS.name,
        batch_size=10,
        feed=True,
    )
    asyncio.run(relay._publish(notifications))
    (sent,) = producer.sent
    topic, key, value = sent
    published = Envelope.model_validate_json(value)
    assert (topic, key) == (INVENTORY_MOVEMENTS.name, str(stock_id_for(SKU)).encode())
    assert (published.event_type, published.aggregate_version) == ("StockMovement", 1)
    assert published.event_id == event_id_for(stock_id_for(SKU), 1, INVENTORY_MOVEMENTS.name)
    assert contracts.StockMovement.model_validate(published.payload).unit_cost == Decimal("5")
