"""Inventory's use cases on an in-memory event store: what a receipt does for waiting orders."""

from __future__ import annotations

import uuid

from services.inventory.application import InventoryApplication
from services.inventory.domain import (
    LocationQuantity,
    Receipt,
    RequestedLine,
    Reservation,
    reservation_id_for,
)


def receipt(location: str, quantity: int) -> Receipt:
    return Receipt(location, quantity, "purchase-receipt", "dock")


def reservation_of(inventory: InventoryApplication, order_id: uuid.UUID) -> Reservation:
    reservation: Reservation = inventory.get(reservation_id_for(order_id), Reservation)
    return reservation


def test_a_receipt_reserves_for_waiting_orders_before_anyone_else_can_have_it() -> None:
    inventory = InventoryApplication(None)
    inventory.receive_stock("CAMERA-X", receipt("WH_A", 1))
    waiting = uuid.uuid4()
    inventory.reserve_for_order(
        waiting, [RequestedLine(1, "CAMERA-X", 1), RequestedLine(2, "LENS-50", 2)]
    )
    assert [(b.order_id, b.quantity) for b in inventory.get_backorders("LENS-50")] == [(waiting, 2)]

    inventory.receive_stock("LENS-50", receipt("WH_B", 3))
    camera, lens = reservation_of(inventory, waiting).lines
    assert camera.allocations == (LocationQuantity("WH_A", 1),)
    assert lens.allocations == (LocationQuantity("WH_B", 2),)
    assert reservation_of(inventory, waiting).fills == 1
    assert inventory.get_backorders("LENS-50") == []
    (level,) = inventory.get_stock_levels("LENS-50")
    assert (level.on_hand, level.reserved, level.available) == (3, 2, 1)


def test_cancelling_a_waiting_order_releases_its_units_and_withdraws_what_it_was_owed() -> None:
    inventory = InventoryApplication(None)
    inventory.receive_stock("LENS-50", receipt("WH_A", 1))
    order = uuid.uuid4()
    inventory.reserve_for_order(order, [RequestedLine(1, "LENS-50", 3)])
    inventory.release_for_order(order, "order cancelled")
    assert inventory.get_backorders("LENS-50") == []
    inventory.receive_stock("LENS-50", receipt("WH_A", 2))
    (level,) = inventory.get_stock_levels("LENS-50")
    assert (level.on_hand, level.reserved, level.available) == (3, 0, 3)
