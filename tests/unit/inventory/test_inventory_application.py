"""Inventory's use cases on an in-memory event store: what a receipt, an adjustment or a transfer
does for waiting orders, low-stock alerts across saves, movements and snapshots."""

from __future__ import annotations

import uuid
from datetime import date

from services.inventory.application import InventoryApplication
from services.inventory.domain import (
    LocationQuantity,
    PurchaseSuggestion,
    Receipt,
    ReorderPolicy,
    RequestedLine,
    Reservation,
    ScannedUnit,
    SkuStock,
    reservation_id_for,
    stock_id_for,
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


def test_units_found_or_transferred_in_serve_waiting_orders_first() -> None:
    inventory = InventoryApplication(None)
    inventory.receive_stock("LENS-50", receipt("WH_A", 2))
    waiting = uuid.uuid4()
    inventory.reserve_for_order(waiting, [RequestedLine(1, "LENS-50", 3)])
    inventory.adjust_stock(
        "LENS-50", location="WH_B", quantity_delta=1, reason_code="found", actor="ops"
    )
    assert reservation_of(inventory, waiting).lines[0].quantity_short == 0
    assert inventory.get_backorders("LENS-50") == []


def test_a_transfer_is_dispatched_received_once_and_every_change_is_in_the_movements() -> None:
    inventory = InventoryApplication(None)
    inventory.receive_stock("LENS-50", receipt("WH_A", 5))
    transfer_id = inventory.dispatch_transfer(
        "LENS-50", from_location="WH_A", to_location="WH_B", quantity=3, actor="ops"
    )
    view = inventory.get_stock_view("LENS-50")
    assert view is not None
    assert [(m.to_location, m.quantity) for m in view.in_transit] == [("WH_B", 3)]
    inventory.receive_transfer(transfer_id, actor="dock-b", quantity_received=2)
    inventory.receive_transfer(transfer_id, actor="dock-b")
    assert inventory.get_transfer(transfer_id).status == "received"
    levels = {level.location: level.on_hand for level in inventory.get_stock_levels("LENS-50")}
    assert levels == {"WH_A": 2, "WH_B": 2}
    at_b = inventory.get_movements("LENS-50", "WH_B")
    assert at_b is not None
    assert [(m.kind, m.reason, m.on_hand_delta, m.on_hand) for m in at_b] == [
        ("transferred-in", "transfer received", 3, 3),
        ("adjusted", "loss", -1, 2),
    ]
    assert inventory.get_movements("NEVER-SEEN") is None


def test_low_stock_is_raised_once_across_saves_and_again_after_a_recovery() -> None:
    inventory = InventoryApplication(None, today=lambda: date(2026, 3, 2))
    inventory.receive_stock("LENS-50", receipt("WH_A", 4))
    inventory.set_reorder_policy(
        "LENS-50", location="WH_A", policy=ReorderPolicy(2, 10, 5), actor="buyer"
    )
    for order in range(3):
        inventory.reserve_for_order(uuid.UUID(int=order + 1), [RequestedLine(1, "LENS-50", 1)])
    inventory.receive_stock("LENS-50", receipt("WH_A", 5))
    inventory.reserve_for_order(uuid.UUID(int=9), [RequestedLine(1, "LENS-50", 4)])
    alerts = [
        (type(e).__name__, e.available)
        for e in inventory.repository.event_store.get(stock_id_for("LENS-50"))
        if isinstance(e, SkuStock.LowStockDetected | SkuStock.LowStockResolved)
    ]
    assert alerts == [
        ("LowStockDetected", 2),
        ("LowStockResolved", 6),
        ("LowStockDetected", 2),
    ]
    view = inventory.get_stock_view("LENS-50")
    assert view is not None
    assert view.low_stock == {"WH_A": PurchaseSuggestion(10, date(2026, 3, 7))}


def test_a_snapshot_restores_the_stock_replaying_its_events_would() -> None:
    inventory = InventoryApplication(None, today=lambda: date(2026, 3, 2))
    inventory.receive_stock(
        "CAM", Receipt("WH_A", 3, "purchase-receipt", "dock", serials=("S1", "S2", "S3"))
    )
    order = uuid.uuid4()
    inventory.reserve_for_order(order, [RequestedLine(1, "CAM", 1)])
    inventory.ship(
        order_id=order,
        shipment_id=uuid.uuid4(),
        location="WH_A",
        units=[ScannedUnit(1, "CAM", "S1")],
    )
    inventory.take_back_return(
        sku="CAM", rma_id=uuid.uuid4(), serial="S1", location="WH_A", condition="open-box"
    )
    inventory.set_reorder_policy("CAM", location="WH_A", policy=ReorderPolicy(5, 5, 2))
    inventory.dispatch_transfer(
        "CAM", from_location="WH_A", to_location="WH_B", quantity=1, actor="o", serials=["S2"]
    )
    replayed: SkuStock = inventory.repository.get(stock_id_for("CAM"))
    inventory.take_snapshot(stock_id_for("CAM"))
    restored: SkuStock = inventory.repository.get(stock_id_for("CAM"))
    assert restored.__dict__ == replayed.__dict__
    assert restored.low_stock["WH_A"].expected_by == date(2026, 3, 4)


def test_a_snapshot_of_the_first_version_is_upcast() -> None:
    state = {"returns": {uuid.UUID(int=1): "unit"}, "on_hand": {"A": 1}}
    SkuStock.upcast_v1_v2(state)
    assert state == {
        "returns": {str(uuid.UUID(int=1)): "unit"},
        "on_hand": {"A": 1},
        "in_transit": {},
        "policies": {},
        "low_stock": {},
    }
