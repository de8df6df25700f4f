"""Stock and reservation rules, without any infrastructure."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from services.inventory.domain import (
    InsufficientStock,
    LocationQuantity,
    Receipt,
    RequestedLine,
    Reservation,
    ReservedLine,
    SalesChannels,
    SkuStock,
    plan_reservation,
    reservation_id_for,
)
from services.runtime.aggregate import DomainError


def stock(sku: str = "LAPTOP-14", **by_location: int) -> SkuStock:
    receipts = [
        Receipt(location, quantity, "initial-count", "ops")
        for location, quantity in by_location.items()
    ]
    item = SkuStock.receive_first(sku=sku, receipt=receipts[0])
    for receipt in receipts[1:]:
        item.receive(receipt)
    return item


def test_receipts_add_to_on_hand_per_location() -> None:
    item = stock(WH_A=3, WH_B=2)
    item.receive(Receipt("WH_A", 1, "purchase-receipt", "dock", reference="PO-1"))
    assert (item.on_hand_at("WH_A"), item.on_hand_at("WH_B"), item.on_hand_at("nowhere")) == (
        4,
        2,
        0,
    )


@pytest.mark.parametrize(
    ("quantity", "reason", "actor", "problem"),
    [
        (0, "count", "ops", "at least one unit"),
        (1, " ", "ops", "reason"),
        (1, "count", "", "actor"),
    ],
)
def test_a_receipt_needs_units_a_reason_and_an_actor(
    quantity: int, reason: str, actor: str, problem: str
) -> None:
    with pytest.raises(DomainError, match=problem):
        SkuStock.receive_first(sku="X", receipt=Receipt("A", quantity, reason, actor))


def test_serials_are_captured_per_location_and_never_twice_for_one_sku() -> None:
    item = SkuStock.receive_first(
        sku="CAM",
        receipt=Receipt("A", 2, "purchase-receipt", "dock", serials=("S1", "S2"), batch="B7"),
    )
    item.receive(Receipt("B", 1, "purchase-receipt", "dock", serials=("S3",)))
    assert (item.serials_at("A"), item.serials_at("B")) == (["S1", "S2"], ["S3"])
    with pytest.raises(DomainError, match=r"CAM serials already in stock: S2 \(at A\)"):
        item.receive(Receipt("B", 2, "purchase-receipt", "dock", serials=("S2", "S4")))
    with pytest.raises(DomainError, match="3 units need 3 serials, 2 given"):
        item.receive(Receipt("B", 3, "purchase-receipt", "dock", serials=("S5", "S6")))
    with pytest.raises(DomainError, match="given twice in one receipt: S7"):
        item.receive(Receipt("B", 2, "purchase-receipt", "dock", serials=("S7", "S7")))


def test_reserving_lowers_available_not_on_hand() -> None:
    item = stock(WH_A=3)
    item.reserve(order_id=uuid.uuid4(), line_number=1, location="WH_A", quantity=2)
    assert (item.on_hand_at("WH_A"), item.reserved_at("WH_A"), item.available_at("WH_A")) == (
        3,
        2,
        1,
    )


def test_more_than_available_cannot_be_reserved() -> None:
    item = stock(WH_A=1)
    item.reserve(order_id=uuid.uuid4(), line_number=1, location="WH_A", quantity=1)
    with pytest.raises(InsufficientStock):
        item.reserve(order_id=uuid.uuid4(), line_number=1, location="WH_A", quantity=1)


def test_one_location_that_has_everything_ships_the_whole_order() -> None:
    lines = [RequestedLine(1, "CAM", 1), RequestedLine(2, "LENS", 1)]
    plan = plan_reservation(lines, {"CAM": {"A": 5, "B": 1}, "LENS": {"A": 0, "B": 1}})
    assert [line.allocations for line in plan] == [
        (LocationQuantity("B", 1),),
        (LocationQuantity("B", 1),),
    ]


def test_a_line_is_split_across_locations_when_no_single_one_has_it() -> None:
    plan = plan_reservation([RequestedLine(1, "CAM", 4)], {"CAM": {"A": 3, "B": 2}})
    assert plan[0].allocations == (LocationQuantity("A", 3), LocationQuantity("B", 1))
    assert plan[0].quantity_short == 0


def test_what_no_location_has_is_short() -> None:
    plan = plan_reservation(
        [RequestedLine(1, "CAM", 4), RequestedLine(2, "UNKNOWN", 1)], {"CAM": {"A": 3}}
    )
    assert [(line.quantity_reserved, line.quantity_short) for line in plan] == [(3, 1), (0, 1)]


def test_two_lines_of_one_sku_do_not_share_the_same_units() -> None:
    plan = plan_reservation(
        [RequestedLine(1, "CAM", 2), RequestedLine(2, "CAM", 2)], {"CAM": {"A": 3}}
    )
    assert [line.quantity_reserved for line in plan] == [2, 1]


def test_a_reservation_is_complete_or_short() -> None:
    order_id = uuid.uuid4()
    full = ReservedLine(1, "CAM", 1, 1, (LocationQuantity("A", 1),))
    short = ReservedLine(1, "CAM", 2, 1, (LocationQuantity("A", 1),))
    assert isinstance(
        Reservation.decide(order_id, (full,)).collect_events()[0], Reservation.Reserved
    )
    decided = Reservation.decide(order_id, (short,))
    assert isinstance(decided.collect_events()[0], Reservation.ShortOfStock)
    assert decided.id == reservation_id_for(order_id)


def test_released_units_are_available_again_and_no_more_than_reserved_can_be_released() -> None:
    item = stock(WH_A=3)
    order_id = uuid.uuid4()
    item.reserve(order_id=order_id, line_number=1, location="WH_A", quantity=2)
    item.release(order_id=order_id, line_number=1, location="WH_A", quantity=2)
    assert (item.reserved_at("WH_A"), item.available_at("WH_A")) == (0, 3)
    with pytest.raises(DomainError, match="cannot release 1, 0 reserved"):
        item.release(order_id=order_id, line_number=1, location="WH_A", quantity=1)


def test_a_reservation_is_released_once() -> None:
    reservation = Reservation.decide(
        uuid.uuid4(), (ReservedLine(1, "CAM", 1, 1, (LocationQuantity("A", 1),)),)
    )
    assert reservation.release("order cancelled") is True
    assert reservation.release("order cancelled") is False


def test_a_serial_may_ship_only_from_its_location_once_and_in_one_parcel() -> None:
    item = SkuStock.receive_first(
        sku="CAM", receipt=Receipt("A", 2, "purchase-receipt", "dock", serials=("S1", "S2"))
    )
    order_id, parcel, other_parcel = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    item.reserve(order_id=order_id, line_number=1, location="A", quantity=1)
    assert item.problem_with_serial("S1", "B", parcel) == "serial S1 of CAM is at A, not at B"
    assert item.problem_with_serial("S9", "A", parcel) == "serial S9 is not a CAM in stock"
    assert (
        item.problem_with_serial(None, "A", parcel)
        == "CAM units carry serials; one was not scanned"
    )
    item.pack_serial("S1", "A", parcel, order_id)
    assert item.problem_with_serial("S1", "A", other_parcel) == (
        f"serial S1 of CAM is already packed in shipment {parcel}"
    )
    item.ship(
        order_id=order_id,
        shipment_id=parcel,
        line_number=1,
        location="A",
        quantity=1,
        serials=("S1",),
    )
    assert (item.on_hand_at("A"), item.reserved_at("A"), item.serials_at("A")) == (1, 0, ["S2"])
    assert (
        item.problem_with_serial("S1", "A", other_parcel) == "serial S1 of CAM has already shipped"
    )


def test_backorders_are_filled_oldest_first_and_partly_when_stock_is_short() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    item = SkuStock.backorder_first(sku="LENS-50", order_id=first, line_number=2, quantity=2)
    item.backorder(order_id=second, line_number=1, quantity=2)
    assert item.backordered == 4
    item.receive(Receipt("WH_A", 3, "purchase-receipt", "dock"))
    fills = item.fill_backorders()
    assert [(f.order_id, f.line_number, f.allocations) for f in fills] == [
        (first, 2, (LocationQuantity("WH_A", 2),)),
        (second, 1, (LocationQuantity("WH_A", 1),)),
    ]
    assert (item.available_at("WH_A"), item.reserved_at("WH_A"), item.backordered) == (0, 3, 1)
    assert item.fill_backorders() == [], "nothing is available to fill the rest"


def test_a_withdrawn_backorder_is_no_longer_served() -> None:
    order = uuid.uuid4()
    item = stock(WH_A=1)
    item.reserve(order_id=order, line_number=1, location="WH_A", quantity=1)
    item.backorder(order_id=order, line_number=1, quantity=2)
    item.withdraw_backorder(order_id=order, line_number=1)
    item.withdraw_backorder(order_id=order, line_number=1)
    item.receive(Receipt("WH_A", 5, "purchase-receipt", "dock"))
    assert item.fill_backorders() == []
    assert item.backordered == 0
    with pytest.raises(DomainError, match="at least one unit"):
        item.backorder(order_id=order, line_number=1, quantity=0)


def test_a_fill_tops_up_the_reservation_lines_it_names() -> None:
    order = uuid.uuid4()
    reservation = Reservation.decide(
        order,
        (
            ReservedLine(1, "CAMERA-X", 1, 1, (LocationQuantity("WH_A", 1),)),
            ReservedLine(2, "LENS-50", 2, 0, ()),
        ),
    )
    reservation.fill({2: (LocationQuantity("WH_B", 1),)})
    reservation.fill({2: (LocationQuantity("WH_A", 1),)})
    camera, lens = reservation.lines
    assert camera.allocations == (LocationQuantity("WH_A", 1),)
    assert (lens.quantity_reserved, lens.quantity_short, reservation.fills) == (2, 0, 2)
    assert lens.allocations == (LocationQuantity("WH_A", 1), LocationQuantity("WH_B", 1))
    with pytest.raises(DomainError, match="no backorder on lines"):
        reservation.fill({2: (LocationQuantity("WH_A", 1),)})
    reservation.release("order cancelled")
    with pytest.raises(DomainError, match="was released"):
        reservation.fill({1: (LocationQuantity("WH_A", 1),)})


def test_of_the_locations_that_have_everything_the_cheapest_to_ship_from_wins() -> None:
    lines = [RequestedLine(1, "LAPTOP-14", 1), RequestedLine(2, "DOCK-1", 1)]
    available = {"LAPTOP-14": {"WH_A": 5, "WH_UK": 5}, "DOCK-1": {"WH_A": 5, "WH_UK": 5}}
    abroad = {"WH_A": Decimal("40"), "WH_UK": Decimal("9")}
    planned = plan_reservation(lines, available, lambda location, _: abroad[location])
    assert {item.location for line in planned for item in line.allocations} == {"WH_UK"}
    assert plan_reservation(lines, available)[0].allocations[0].location == "WH_A", (
        "without costs, the first location"
    )


def test_a_split_line_takes_from_its_cheapest_locations_first() -> None:
    available = {"LAPTOP-14": {"WH_A": 5, "WH_B": 1, "WH_UK": 2}}
    cost = {"WH_A": Decimal("40"), "WH_B": Decimal("9"), "WH_UK": Decimal("9")}
    (line,) = plan_reservation(
        [RequestedLine(1, "LAPTOP-14", 6)], available, lambda location, _: cost[location]
    )
    assert line.allocations == (
        LocationQuantity("WH_UK", 2),
        LocationQuantity("WH_B", 1),
        LocationQuantity("WH_A", 3),
    )


def shipped_unit(serial: str = "SN-1") -> SkuStock:
    item = SkuStock.receive_first(
        sku="LAPTOP-14", receipt=Receipt("WH_A", 1, "purchase-receipt", "dock", serials=(serial,))
    )
    order = uuid.uuid4()
    item.reserve(order_id=order, line_number=1, location="WH_A", quantity=1)
    item.ship(
        order_id=order,
        shipment_id=uuid.uuid4(),
        line_number=1,
        location="WH_A",
        quantity=1,
        serials=(serial,),
    )
    return item


def test_a_returned_unit_is_held_in_its_condition_and_never_available_as_new() -> None:
    item = shipped_unit()
    rma = uuid.uuid4()
    item.take_back(rma_id=rma, serial="SN-1", location="WH_A", condition="open-box")
    item.take_back(rma_id=rma, serial="SN-1", location="WH_A", condition="open-box")
    assert item.held_in("WH_A") == {"quarantined": 0, "open-box": 1, "damaged": 0}
    assert (item.on_hand_at("WH_A"), item.available_at("WH_A")) == (0, 0)
    with pytest.raises(DomainError, match="not new"):
        item.take_back(rma_id=uuid.uuid4(), serial=None, location="WH_A", condition="new")


def test_a_signed_off_unit_is_new_stock_again_and_its_serial_can_ship_again() -> None:
    item = shipped_unit()
    rma = uuid.uuid4()
    item.take_back(rma_id=rma, serial="SN-1", location="WH_A", condition="quarantined")
    item.change_condition(rma_id=rma, to_condition="new", reason="grade A signed off", actor="tech")
    item.change_condition(rma_id=rma, to_condition="new", reason="grade A signed off", actor="tech")
    assert item.held_in("WH_A")["quarantined"] == 0
    assert (item.on_hand_at("WH_A"), item.available_at("WH_A")) == (1, 1)
    assert item.problem_with_serial("SN-1", "WH_A", uuid.uuid4()) is None
    with pytest.raises(DomainError, match="no returned"):
        item.change_condition(rma_id=uuid.uuid4(), to_condition="open-box", reason="r", actor="a")


def availability_events(item: SkuStock) -> list[tuple[str, int, int]]:
    return [
        (e.availability.channel, e.availability.new, e.availability.open_box)
        for e in item.collect_events()
        if isinstance(e, SkuStock.AvailableToSellChanged)
    ]


def test_each_channel_is_told_what_it_may_sell_less_its_buffer_and_only_when_it_changes() -> None:
    channels = SalesChannels.of({"webshop": 0, "amazon-us": 2})
    item = stock(WH_A=3, WH_B=1)
    item.collect_events()
    item.publish_availability(channels)
    assert availability_events(item) == [("amazon-us", 2, 0), ("webshop", 4, 0)]
    item.publish_availability(channels)
    assert availability_events(item) == []
    item.reserve(order_id=uuid.uuid4(), line_number=1, location="WH_A", quantity=3)
    item.publish_availability(channels)
    assert availability_events(item) == [("amazon-us", 0, 0), ("webshop", 1, 0)]


def test_open_box_units_are_sold_as_their_own_condition_never_as_new() -> None:
    channels = SalesChannels.of({"webshop": 0})
    item = shipped_unit()
    item.take_back(rma_id=uuid.uuid4(), serial="SN-1", location="WH_A", condition="open-box")
    item.publish_availability(channels)
    assert availability_events(item)[-1] == ("webshop", 0, 1)
    with pytest.raises(ValueError, match="negative"):
        SalesChannels.of({"webshop": -1})
