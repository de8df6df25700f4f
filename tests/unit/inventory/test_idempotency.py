"""Idempotency keys on inventory's commands, on an in-memory event store: a retried command with
the same key changes nothing and answers the same; the key with another command is refused."""

from __future__ import annotations

import uuid

import pytest
from eventsourcing.persistence import IntegrityError

from services.inventory.application import InventoryApplication, keyed
from services.inventory.domain import Receipt, StockTransfer, stock_id_for
from services.runtime.idempotency import IdempotencyConflict, IdempotencyRecord, is_bookkeeping


def receipt(quantity: int, location: str = "WH_A") -> Receipt:
    return Receipt(location, quantity, "purchase-receipt", "dock", reference="PO-1")


def on_hand(inventory: InventoryApplication, sku: str, location: str = "WH_A") -> int:
    levels = {level.location: level.on_hand for level in inventory.get_stock_levels(sku)}
    return levels.get(location, 0)


def test_a_receipt_repeated_with_its_key_is_booked_once() -> None:
    inventory = InventoryApplication(None)
    first = inventory.receive_stock("LENS-50", receipt(3), idempotency_key="r-1")
    again = inventory.receive_stock("LENS-50", receipt(3), idempotency_key="r-1")
    assert again == first
    assert on_hand(inventory, "LENS-50") == 3
    assert len(inventory.get_movements("LENS-50") or []) == 1


def test_a_key_sent_again_with_another_receipt_is_refused() -> None:
    inventory = InventoryApplication(None)
    inventory.receive_stock("LENS-50", receipt(3), idempotency_key="r-1")
    with pytest.raises(IdempotencyConflict, match=r"'r-1'.*different receive-stock"):
        inventory.receive_stock("LENS-50", receipt(4), idempotency_key="r-1")
    with pytest.raises(IdempotencyConflict):
        inventory.receive_stock("CAMERA-X", receipt(3), idempotency_key="r-1")
    assert on_hand(inventory, "LENS-50") == 3
    assert inventory.get_stock_levels("CAMERA-X") == []


def test_different_keys_and_no_key_book_every_time() -> None:
    inventory = InventoryApplication(None)
    inventory.receive_stock("LENS-50", receipt(3), idempotency_key="r-1")
    inventory.receive_stock("LENS-50", receipt(3), idempotency_key="r-2")
    inventory.receive_stock("LENS-50", receipt(3))
    inventory.receive_stock("LENS-50", receipt(3))
    assert on_hand(inventory, "LENS-50") == 12


def test_an_adjustment_repeated_with_its_key_is_booked_once() -> None:
    inventory = InventoryApplication(None)
    inventory.receive_stock("LENS-50", receipt(5))

    def damage(units: int, key: str) -> uuid.UUID:
        return inventory.adjust_stock(
            "LENS-50",
            location="WH_A",
            quantity_delta=-units,
            reason_code="damage",
            actor="ines",
            idempotency_key=key,
        )

    assert damage(1, "a-1") == damage(1, "a-1")
    assert on_hand(inventory, "LENS-50") == 4
    with pytest.raises(IdempotencyConflict, match="different adjust-stock"):
        damage(2, "a-1")
    damage(1, "a-2")
    assert on_hand(inventory, "LENS-50") == 3


def test_a_transfer_repeated_with_its_key_is_dispatched_once() -> None:
    inventory = InventoryApplication(None)
    inventory.receive_stock("LENS-50", receipt(5))

    def send(units: int, key: str) -> uuid.UUID:
        return inventory.dispatch_transfer(
            "LENS-50",
            from_location="WH_A",
            to_location="WH_B",
            quantity=units,
            actor="ops",
            idempotency_key=key,
        )

    first = send(2, "t-1")
    assert send(2, "t-1") == first
    assert isinstance(inventory.get_transfer(first), StockTransfer)
    assert on_hand(inventory, "LENS-50") == 3
    with pytest.raises(IdempotencyConflict, match="different dispatch-transfer"):
        send(1, "t-1")
    assert send(2, "t-2") != first
    assert on_hand(inventory, "LENS-50") == 1


def test_a_count_repeated_with_its_key_answers_with_the_first_count() -> None:
    inventory = InventoryApplication(None)
    inventory.receive_stock("LENS-50", receipt(5))
    first = inventory.count_stock(
        "LENS-50", location="WH_A", counted=4, actor="ops", idempotency_key="c-1"
    )
    inventory.receive_stock("LENS-50", receipt(1))
    again = inventory.count_stock(
        "LENS-50", location="WH_A", counted=4, actor="ops", idempotency_key="c-1"
    )
    assert again == first
    assert first.variance == -1
    assert on_hand(inventory, "LENS-50") == 5
    with pytest.raises(IdempotencyConflict):
        inventory.count_stock(
            "LENS-50", location="WH_A", counted=3, actor="ops", idempotency_key="c-1"
        )


def test_a_key_is_per_command() -> None:
    """The same key on another kind of command is that command's own key."""
    inventory = InventoryApplication(None)
    inventory.receive_stock("LENS-50", receipt(5), idempotency_key="k")
    inventory.adjust_stock(
        "LENS-50",
        location="WH_A",
        quantity_delta=-1,
        reason_code="damage",
        actor="ines",
        idempotency_key="k",
    )
    assert on_hand(inventory, "LENS-50") == 4


def test_a_concurrent_duplicate_loses_the_race_on_the_record() -> None:
    """Two requests with one key that both found no record cannot both save it: the loser saved
    nothing (and, retried, finds the record)."""
    inventory = InventoryApplication(None)
    inventory.receive_stock("LENS-50", receipt(5), idempotency_key="r-1")
    (record,) = keyed("receive-stock", "r-1", sku="LENS-50", receipt=receipt(5)).record(
        stock_id=uuid.uuid4()
    )
    with pytest.raises(IntegrityError):
        inventory.save(record)
    stored: IdempotencyRecord = inventory.get(record.id, IdempotencyRecord)
    assert stored.result == {"stock_id": stock_id_for("LENS-50")}, "the first one's, kept"
    assert all(is_bookkeeping(event) for event in inventory.repository.event_store.get(record.id))
