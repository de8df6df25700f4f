"""The runtime's application base: consumption recorded with the effects, snapshots still taken."""

from __future__ import annotations

import uuid

import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from services.inventory.application import InventoryApplication
from services.inventory.domain import Receipt, RequestedLine, stock_id_for
from services.runtime.context import MessageContext, handling


def consuming(source: str, version: int) -> MessageContext:
    return MessageContext(
        correlation_id="flow-1", causation_id="event-1", tracking=Tracking(source, version)
    )


def test_saving_while_consuming_records_the_consumption_in_the_same_save() -> None:
    inventory = InventoryApplication(None)
    with handling(consuming("order:A", 1)) as message:
        inventory.receive_stock("CAM", Receipt("A", 1, "count", "ops"))
    assert message.tracking_recorded
    assert inventory.process_recorder.max_tracking_id("order:A") == 1
    with handling(consuming("order:A", 1)), pytest.raises(IntegrityError):
        inventory.receive_stock("CAM", Receipt("A", 1, "count", "ops"))
    assert inventory.get_stock_levels("CAM")[0].on_hand == 1


def test_aggregates_changed_by_consumed_messages_are_still_snapshotted() -> None:
    inventory = InventoryApplication(None)
    inventory.receive_stock("CAM", Receipt("A", 500, "count", "ops"))
    for version in range(1, 121):
        with handling(consuming(f"order:{version}", 1)):
            inventory.reserve_for_order(uuid.uuid4(), [RequestedLine(1, "CAM", 1)])
    assert inventory.snapshots is not None
    snapshots = list(inventory.snapshots.get(stock_id_for("CAM")))
    version = inventory.repository.get(stock_id_for("CAM")).version
    assert version > 120
    assert [snapshot.originator_version for snapshot in snapshots] == list(
        range(50, version + 1, 50)
    )
