"""Kits ordered: reserved whole by their components at one location, owed whole when short."""

from __future__ import annotations

import uuid

from services.inventory.domain import (
    KitBackorders,
    KitComponent,
    LocationQuantity,
    RequestedLine,
    plan_reservation,
)

KIT = {"CAMERA-X": 1, "LENS-50": 2}


def test_a_kit_line_is_reserved_in_whole_kits_at_the_locations_that_have_every_component() -> None:
    # WH_A makes 1 kit (lenses short), WH_B 2 (cameras short): 3 kits, none split across locations
    available = {"CAMERA-X": {"WH_A": 3, "WH_B": 2}, "LENS-50": {"WH_A": 3, "WH_B": 6}}
    (line,) = plan_reservation([RequestedLine(1, "KIT", 4)], available, kits={"KIT": KIT})
    assert (line.quantity_reserved, line.quantity_short) == (3, 1)
    assert line.allocations == (LocationQuantity("WH_B", 2), LocationQuantity("WH_A", 1))
    assert line.components == (KitComponent("CAMERA-X", 1), KitComponent("LENS-50", 2))


def test_one_location_with_every_component_of_the_order_ships_it_all() -> None:
    available = {"CAMERA-X": {"WH_A": 2, "WH_B": 9}, "LENS-50": {"WH_A": 9, "WH_B": 4}}
    kit, camera = plan_reservation(
        [RequestedLine(1, "KIT", 2), RequestedLine(2, "CAMERA-X", 1)],
        available,
        kits={"KIT": KIT},
    )
    # WH_A has 2 cameras: enough for the kits but not the third camera; WH_B has all of it
    assert kit.allocations == (LocationQuantity("WH_B", 2),)
    assert camera.allocations == (LocationQuantity("WH_B", 1),)


def test_a_component_the_order_also_takes_alone_is_not_counted_twice() -> None:
    available = {"CAMERA-X": {"WH_A": 2}, "LENS-50": {"WH_A": 4}}
    camera, kit = plan_reservation(
        [RequestedLine(1, "CAMERA-X", 1), RequestedLine(2, "KIT", 2)],
        available,
        kits={"KIT": KIT},
    )
    assert camera.quantity_reserved == 1
    assert (kit.quantity_reserved, kit.quantity_short) == (1, 1)


def test_a_kit_without_any_component_in_stock_is_short_whole() -> None:
    (line,) = plan_reservation(
        [RequestedLine(1, "KIT", 2)], {"CAMERA-X": {"WH_A": 5}}, kits={"KIT": KIT}
    )
    assert (line.quantity_reserved, line.quantity_short, line.allocations) == (0, 2, ())


def test_owed_kits_are_filled_only_where_one_location_has_every_component_oldest_first() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    owed = KitBackorders.owe_first(sku="KIT", order_id=first, line_number=1, quantity=2)
    owed.owe(order_id=second, line_number=3, quantity=1)
    owed.collect_events()
    # cameras at WH_A, lenses at WH_B: not one kit can be made
    assert owed.fill(KIT, {"CAMERA-X": {"WH_A": 5}, "LENS-50": {"WH_B": 6}}) == {}
    assert owed.collect_events() == []
    available = {"CAMERA-X": {"WH_A": 5}, "LENS-50": {"WH_A": 5, "WH_B": 6}}
    filled = owed.fill(KIT, available)
    # WH_A makes 2 kits (5 lenses): the oldest line takes both, the next waits whole
    assert filled == {(first, 1): (LocationQuantity("WH_A", 2),)}
    assert available == {"CAMERA-X": {"WH_A": 3}, "LENS-50": {"WH_A": 1, "WH_B": 6}}
    assert [(o.order_id, o.quantity) for o in owed.owed] == [(second, 1)]
    owed.withdraw(order_id=second, line_number=3)
    assert owed.owed == []
