"""Stock operations without any infrastructure: adjustments, counts, transfers, reorder points,
refurbished units, movements."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, cast, get_args

import pytest

from contracts import inventory as contracts
from services.inventory import translators
from services.inventory.domain import (
    REASON_CODES,
    PurchaseSuggestion,
    ReasonCode,
    Receipt,
    ReorderPolicy,
    SalesChannels,
    SkuStock,
    StockTransfer,
    movements,
)
from services.inventory.domain.transfer import arrival_of
from services.runtime.aggregate import DomainError

TODAY = date(2026, 3, 2)


def stock(sku: str = "LAPTOP-14", **by_location: int) -> SkuStock:
    receipts = [
        Receipt(location, quantity, "initial-count", "ops")
        for location, quantity in by_location.items()
    ]
    item = SkuStock.receive_first(sku=sku, receipt=receipts[0])
    for receipt in receipts[1:]:
        item.receive(receipt)
    return item


def serialized(location: str = "A", *serials: str) -> SkuStock:
    serials = serials or ("S1", "S2", "S3")
    return SkuStock.receive_first(
        sku="CAM",
        receipt=Receipt(location, len(serials), "purchase-receipt", "dock", serials=serials),
    )


def events_of(item: SkuStock, kind: type[Any]) -> list[Any]:
    return [event for event in item.collect_events() if isinstance(event, kind)]


def test_an_adjustment_records_who_why_and_on_hand_before_and_after() -> None:
    item = stock(A=5)
    item.collect_events()
    item.adjust(
        location="A", quantity_delta=-2, reason_code="damage", actor="ines", note="forklift"
    )
    (adjusted,) = events_of(item, SkuStock.Adjusted)
    assert (adjusted.on_hand_before, adjusted.on_hand_after) == (5, 3)
    assert (adjusted.reason_code, adjusted.actor, adjusted.note) == ("damage", "ines", "forklift")
    assert (item.on_hand_at("A"), item.available_at("A")) == (3, 3)


@pytest.mark.parametrize(
    ("delta", "reason", "actor", "problem"),
    [
        (-1, "", "ops", "needs a reason code"),
        (-1, "because", "ops", "'because' is not a reason code; one of: cycle-count, damage"),
        (-1, "damage", " ", "needs an actor"),
        (0, "correction", "ops", "at least one unit"),
        (1, "damage", "ops", "damage only decreases stock"),
        (1, "write-off", "ops", "write-off only decreases stock"),
        (-1, "found", "ops", "found only increases stock"),
        (-1, "cycle-count", "ops", "come from a count"),
    ],
)
def test_an_adjustment_needs_a_reason_of_the_closed_set_an_actor_and_a_direction_that_fits(
    delta: int, reason: str, actor: str, problem: str
) -> None:
    with pytest.raises(DomainError, match=problem):
        stock(A=5).adjust(location="A", quantity_delta=delta, reason_code=reason, actor=actor)


def test_the_reason_codes_are_one_closed_set_in_the_domain_the_api_and_the_contract() -> None:
    assert (
        set(REASON_CODES) == set(get_args(ReasonCode)) == set(get_args(contracts.AdjustmentReason))
    )


def test_an_adjustment_never_makes_on_hand_negative_or_lower_than_reserved() -> None:
    item = stock(A=3)
    item.reserve(order_id=uuid.uuid4(), line_number=1, location="A", quantity=2)
    with pytest.raises(DomainError, match="would make on hand negative"):
        item.adjust(location="A", quantity_delta=-4, reason_code="loss", actor="ops")
    with pytest.raises(DomainError, match="would leave 1 on hand for 2 reserved"):
        item.adjust(location="A", quantity_delta=-2, reason_code="loss", actor="ops")
    item.adjust(location="A", quantity_delta=-1, reason_code="loss", actor="ops")
    assert (item.on_hand_at("A"), item.available_at("A")) == (2, 0)
    item.adjust(location="B", quantity_delta=2, reason_code="found", actor="ops")
    assert item.on_hand_at("B") == 2


def test_a_serialized_adjustment_names_the_units_that_leave_or_come_in() -> None:
    item = serialized("A", "S1", "S2")
    item.receive(Receipt("B", 1, "purchase-receipt", "dock", serials=("S3",)))
    with pytest.raises(DomainError, match="an adjustment of 1 units names 1 serials, 0 given"):
        item.adjust(location="A", quantity_delta=-1, reason_code="damage", actor="ops")
    with pytest.raises(DomainError, match=r"not in stock at A: S3 \(at B\), S9 \(unknown\)"):
        item.adjust(
            location="A", quantity_delta=-2, reason_code="loss", actor="ops", serials=["S3", "S9"]
        )
    with pytest.raises(DomainError, match=r"already known: S2 \(at A\)"):
        item.adjust(
            location="B", quantity_delta=1, reason_code="found", actor="ops", serials=["S2"]
        )
    item.adjust(location="A", quantity_delta=-1, reason_code="damage", actor="ops", serials=["S1"])
    item.adjust(location="B", quantity_delta=1, reason_code="found", actor="ops", serials=["S7"])
    assert (item.serials_at("A"), item.serials_at("B")) == (["S2"], ["S3", "S7"])
    with pytest.raises(DomainError, match="carry no serials"):
        stock(A=1).adjust(
            location="A", quantity_delta=1, reason_code="found", actor="ops", serials=["X1"]
        )


def test_a_packed_or_shipped_unit_cannot_be_adjusted_away_or_found_again() -> None:
    item = serialized("A", "S1", "S2")
    order, parcel = uuid.uuid4(), uuid.uuid4()
    item.reserve(order_id=order, line_number=1, location="A", quantity=1)
    item.pack_serial("S1", "A", parcel, order)
    with pytest.raises(DomainError, match="packed into a parcel"):
        item.adjust(location="A", quantity_delta=-1, reason_code="loss", actor="o", serials=["S1"])
    item.ship(
        order_id=order, shipment_id=parcel, line_number=1, location="A", quantity=1, serials=("S1",)
    )
    with pytest.raises(DomainError, match=f"S1 \\(shipped to order {order}\\)"):
        item.adjust(location="A", quantity_delta=1, reason_code="found", actor="o", serials=["S1"])


def test_a_count_is_recorded_with_its_variance_and_only_a_variance_changes_stock() -> None:
    item = stock(A=5)
    item.collect_events()
    count_id = uuid.uuid4()
    assert item.count(count_id=count_id, location="A", counted=5, actor="carl") == 0
    (counted,) = item.collect_events()
    assert isinstance(counted, SkuStock.Counted)
    assert (counted.expected, counted.counted, counted.variance) == (5, 5, 0)

    assert item.count(count_id=count_id, location="A", counted=3, actor="carl") == -2
    counted, adjusted = item.collect_events()
    assert isinstance(counted, SkuStock.Counted)
    assert isinstance(adjusted, SkuStock.Adjusted)
    assert (adjusted.quantity_delta, adjusted.reason_code, adjusted.reference) == (
        -2,
        "cycle-count",
        str(count_id),
    )
    assert item.on_hand_at("A") == 3


def test_a_count_below_what_is_reserved_is_refused() -> None:
    item = stock(A=3)
    item.reserve(order_id=uuid.uuid4(), line_number=1, location="A", quantity=2)
    with pytest.raises(DomainError, match="1 counted but 2 reserved"):
        item.count(count_id=uuid.uuid4(), location="A", counted=1, actor="carl")


def test_a_serialized_count_books_missing_units_out_and_unexpected_ones_in() -> None:
    item = serialized("A", "S1", "S2", "S3")
    item.receive(Receipt("B", 1, "purchase-receipt", "dock", serials=("S5",)))
    item.collect_events()
    with pytest.raises(DomainError, match="names 3 serials, 1 given"):
        item.count(
            count_id=uuid.uuid4(), location="A", counted=3, actor="c", serials_counted=["S1"]
        )
    with pytest.raises(DomainError, match=r"on the books elsewhere: S5 \(at B\)"):
        item.count(
            count_id=uuid.uuid4(), location="A", counted=2, actor="c", serials_counted=["S1", "S5"]
        )
    variance = item.count(
        count_id=uuid.uuid4(),
        location="A",
        counted=3,
        actor="c",
        serials_counted=["S1", "S2", "S4"],
    )
    assert variance == 0
    counted, found, missing = cast(list[Any], item.collect_events())
    assert (counted.serials_missing, counted.serials_unexpected) == (("S3",), ("S4",))
    assert (found.quantity_delta, found.serials) == (1, ("S4",)), "increases first"
    assert (missing.quantity_delta, missing.serials) == (-1, ("S3",))
    assert item.serials_at("A") == ["S1", "S2", "S4"]


def test_a_transfer_leaves_the_origin_at_once_is_in_transit_and_arrives_at_the_destination() -> (
    None
):
    item = stock(A=5)
    item.reserve(order_id=uuid.uuid4(), line_number=1, location="A", quantity=2)
    transfer = uuid.uuid4()
    with pytest.raises(DomainError, match="4 to transfer, 3 available"):
        item.dispatch_transfer(
            transfer_id=transfer, from_location="A", to_location="B", quantity=4, actor="o"
        )
    with pytest.raises(DomainError, match="another location"):
        item.dispatch_transfer(
            transfer_id=transfer, from_location="A", to_location="A", quantity=1, actor="o"
        )
    item.dispatch_transfer(
        transfer_id=transfer, from_location="A", to_location="B", quantity=3, actor="o"
    )
    assert (item.on_hand_at("A"), item.available_at("A"), item.on_hand_at("B")) == (2, 0, 0)
    assert item.in_transit_to("B") == 3
    new_at_b = [p for p in item.positions() if (p.location, p.condition) == ("B", "new")]
    assert [(p.on_hand, p.in_transit, p.inbound) for p in new_at_b] == [(0, 3, 0)]

    moving = item.in_transit[str(transfer)]
    item.receive_transfer(
        transfer_id=transfer, arrival=arrival_of(moving, None, None), actor="b-dock"
    )
    assert (item.on_hand_at("B"), item.available_at("B"), item.in_transit_to("B")) == (3, 3, 0)
    with pytest.raises(DomainError, match="not in transit"):
        item.receive_transfer(
            transfer_id=transfer, arrival=arrival_of(moving, None, None), actor="b-dock"
        )


def test_serials_travel_with_a_transfer_and_are_nowhere_in_stock_meanwhile() -> None:
    item = serialized("A", "S1", "S2", "S3")
    transfer = uuid.uuid4()
    with pytest.raises(DomainError, match="names 2 serials, 1 given"):
        item.dispatch_transfer(
            transfer_id=transfer, from_location="A", to_location="B", quantity=2, actor="o",
            serials=["S1"],
        )  # fmt: skip
    item.dispatch_transfer(
        transfer_id=transfer, from_location="A", to_location="B", quantity=2, actor="o",
        serials=["S1", "S2"],
    )  # fmt: skip
    assert item.serials_at("A") == ["S3"]
    assert item.problem_with_serial("S1", "A", uuid.uuid4()) == "serial S1 is not a CAM in stock"
    with pytest.raises(DomainError, match=r"already in stock: S1 \(in transit from A to B\)"):
        item.receive(Receipt("C", 1, "purchase-receipt", "dock", serials=("S1",)))
    moving = item.in_transit[str(transfer)]
    item.receive_transfer(
        transfer_id=transfer, arrival=arrival_of(moving, None, None), actor="b-dock"
    )
    assert item.serials_at("B") == ["S1", "S2"]


def test_a_short_transfer_receipt_writes_the_shortfall_off_as_lost() -> None:
    item = serialized("A", "S1", "S2", "S3")
    transfer = uuid.uuid4()
    item.dispatch_transfer(
        transfer_id=transfer, from_location="A", to_location="B", quantity=3, actor="o",
        serials=["S1", "S2", "S3"],
    )  # fmt: skip
    item.collect_events()
    moving = item.in_transit[str(transfer)]
    with pytest.raises(DomainError, match="not on transfer"):
        arrival_of(moving, None, ["S1", "S9"])
    arrival = arrival_of(moving, None, ["S1", "S3"])
    assert (arrival.quantity_received, arrival.serials_missing, arrival.shortfall) == (
        2,
        ("S2",),
        1,
    )
    item.receive_transfer(transfer_id=transfer, arrival=arrival, actor="b-dock")
    transferred_in, lost = item.collect_events()
    assert isinstance(transferred_in, SkuStock.TransferredIn)
    assert isinstance(lost, SkuStock.Adjusted)
    assert (lost.location, lost.quantity_delta, lost.reason_code, lost.serials) == (
        "B",
        -1,
        "loss",
        ("S2",),
    )
    assert (lost.reference, item.on_hand_at("B"), item.serials_at("B")) == (
        str(transfer),
        2,
        ["S1", "S3"],
    )
    with pytest.raises(DomainError, match="3 units; 4 cannot have arrived"):
        arrival_of(moving.__class__(transfer, "A", "B", 3), 4, None)


def test_a_transfer_is_received_once() -> None:
    transfer = StockTransfer.dispatch(
        transfer_id=uuid.uuid4(), sku="LAPTOP-14", from_location="A", to_location="B",
        quantity=2, serials=(), actor="o", reason="rebalance",
    )  # fmt: skip
    assert transfer.status == "in-transit"
    arrival = transfer.receive(actor="b-dock", quantity_received=1)
    assert arrival is not None
    assert arrival.shortfall == 1
    assert transfer.receive(actor="b-dock") is None
    assert (transfer.status, transfer.received_by) == ("received", "b-dock")


def low_stock_events(item: SkuStock) -> list[tuple[str, str, int]]:
    return [
        (type(event).__name__, event.location, event.available)
        for event in item.collect_events()
        if isinstance(event, SkuStock.LowStockDetected | SkuStock.LowStockResolved)
    ]


def test_low_stock_is_detected_once_per_fall_below_the_reorder_point() -> None:
    item = stock(A=6)
    item.set_reorder_policy(location="A", policy=ReorderPolicy(3, 10, 14), actor="buyer")
    item.detect_low_stock(TODAY)
    assert low_stock_events(item) == []

    item.reserve(order_id=uuid.uuid4(), line_number=1, location="A", quantity=3)
    item.detect_low_stock(TODAY)
    assert low_stock_events(item) == [("LowStockDetected", "A", 3)]
    assert item.low_stock["A"] == PurchaseSuggestion(10, date(2026, 3, 16))

    for _ in range(2):
        item.adjust(location="A", quantity_delta=-1, reason_code="damage", actor="o")
        item.detect_low_stock(TODAY)
    assert low_stock_events(item) == [], "not again while it stays low"

    item.receive(Receipt("A", 5, "purchase-receipt", "dock"))
    item.detect_low_stock(TODAY)
    assert low_stock_events(item) == [("LowStockResolved", "A", 6)]
    item.reserve(order_id=uuid.uuid4(), line_number=1, location="A", quantity=4)
    item.detect_low_stock(TODAY)
    assert low_stock_events(item) == [("LowStockDetected", "A", 2)], "a new fall alerts again"


def test_a_suggestion_orders_enough_to_get_above_the_point_and_arrives_after_the_lead_time() -> (
    None
):
    item = SkuStock.reorder_first(sku="LENS-50", location="B", policy=ReorderPolicy(20, 5, 3))
    item.detect_low_stock(TODAY)
    (detected,) = events_of(item, SkuStock.LowStockDetected)
    assert detected.suggestion == PurchaseSuggestion(21, date(2026, 3, 5))
    with pytest.raises(DomainError, match="at least one unit"):
        item.set_reorder_policy(location="B", policy=ReorderPolicy(1, 0, 3))
    item.set_reorder_policy(location="B", policy=ReorderPolicy(20, 5, 3))
    assert events_of(item, SkuStock.ReorderPolicySet) == [], "the same policy changes nothing"


def shipped_and_returned(condition: str) -> tuple[SkuStock, uuid.UUID]:
    item = serialized("A", "SN-1")
    order = uuid.uuid4()
    item.reserve(order_id=order, line_number=1, location="A", quantity=1)
    item.ship(
        order_id=order,
        shipment_id=uuid.uuid4(),
        line_number=1,
        location="A",
        quantity=1,
        serials=("SN-1",),
    )
    rma = uuid.uuid4()
    item.take_back(rma_id=rma, serial="SN-1", location="A", condition=condition)
    return item, rma


def test_a_refurbished_unit_is_sold_as_refurbished_never_as_new() -> None:
    item, rma = shipped_and_returned("quarantined")
    item.change_condition(rma_id=rma, to_condition="refurbished", reason="refurbished", actor="t")
    item.publish_availability(SalesChannels.of({"webshop": 0}))
    (published,) = events_of(item, SkuStock.AvailableToSellChanged)[-1:]
    availability = published.availability
    assert (availability.new, availability.open_box, availability.refurbished) == (0, 0, 1)
    assert item.held_at("A")["refurbished"] == 1
    assert item.held_in("A") == {"quarantined": 0, "open-box": 0, "damaged": 0}
    rows = {p.condition: (p.on_hand, p.available) for p in item.positions() if p.location == "A"}
    assert rows == {
        "new": (0, 0),
        "open-box": (0, 0),
        "refurbished": (1, 1),
        "quarantined": (0, 0),
        "damaged": (0, 0),
    }
    with pytest.raises(DomainError, match="never as new"):
        item.change_condition(rma_id=rma, to_condition="new", reason="signed off", actor="t")


def test_movements_explain_every_figure_with_running_totals() -> None:
    item = stock(A=5)
    order = uuid.uuid4()
    item.reserve(order_id=order, line_number=1, location="A", quantity=2)
    item.adjust(location="A", quantity_delta=-1, reason_code="damage", actor="ines")
    item.count(count_id=uuid.uuid4(), location="A", counted=4, actor="carl")
    item.dispatch_transfer(
        transfer_id=uuid.uuid4(), from_location="A", to_location="B", quantity=2, actor="o"
    )
    rows = movements(item.collect_events(), "A")
    assert [(m.kind, m.on_hand_delta, m.reserved_delta, m.on_hand, m.reserved) for m in rows] == [
        ("received", 5, 0, 5, 0),
        ("reserved", 0, 2, 5, 2),
        ("adjusted", -1, 0, 4, 2),
        ("counted", 0, 0, 4, 2),
        ("transferred-out", -2, 0, 2, 2),
    ]
    assert (rows[2].actor, rows[2].reason, rows[-1].available) == ("ines", "damage", 0)
    assert (rows[-1].on_hand, rows[-1].reserved) == (item.on_hand_at("A"), item.reserved_at("A"))


def test_every_stock_and_transfer_event_has_a_public_contract() -> None:
    item = serialized("A", "S1", "S2", "S3")
    item.set_reorder_policy(location="A", policy=ReorderPolicy(2, 5, 1))
    item.adjust(location="A", quantity_delta=-1, reason_code="damage", actor="o", serials=["S1"])
    item.count(
        count_id=uuid.uuid4(), location="A", counted=2, actor="c", serials_counted=["S2", "S3"]
    )
    transfer_id = uuid.uuid4()
    item.dispatch_transfer(
        transfer_id=transfer_id, from_location="A", to_location="B", quantity=1, actor="o",
        serials=["S2"],
    )  # fmt: skip
    item.detect_low_stock(TODAY)
    item.receive_transfer(
        transfer_id=transfer_id, arrival=arrival_of(item.in_transit[str(transfer_id)], 0, None),
        actor="b",
    )  # fmt: skip
    item.receive(Receipt("A", 4, "purchase-receipt", "dock", serials=("S4", "S5", "S6", "S7")))
    item.detect_low_stock(TODAY)
    transfer = StockTransfer.dispatch(
        transfer_id=transfer_id, sku="CAM", from_location="A", to_location="B", quantity=1,
        serials=("S2",), actor="o", reason=None,
    )  # fmt: skip
    transfer.receive(actor="b", quantity_received=0, serials_received=[])
    published = [
        translators.to_contract(event).event_type
        for event in [*item.collect_events(), *transfer.collect_events()]
    ]
    assert published == [
        "StockReceived",
        "ReorderPolicySet",
        "StockAdjusted",
        "StockCounted",
        "StockTransferredOut",
        "LowStockDetected",
        "StockTransferredIn",
        "StockAdjusted",
        "StockReceived",
        "LowStockResolved",
        "TransferDispatched",
        "TransferReceived",
    ]
