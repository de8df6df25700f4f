"""Many saves in one transaction (a consumer's batch), on the real store: a conflict inside it is
reported as a conflict and undoes only the save that lost, and nothing commits before the end."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from services.inventory.application import InventoryApplication
from services.inventory.domain import Receipt, stock_id_for
from services.runtime.database import PostgresLocation, ensure_database

pytestmark = pytest.mark.integration


@pytest.fixture
def two_processes(postgres_dsn: str) -> tuple[InventoryApplication, InventoryApplication]:
    """Two applications on one database, as two processes of one service would be."""
    location = PostgresLocation.from_dsn(postgres_dsn).with_database(f"uow_{uuid.uuid4().hex[:10]}")
    asyncio.run(ensure_database(location))
    return InventoryApplication(location), InventoryApplication(location)


def on_hand(inventory: InventoryApplication, sku: str) -> int:
    return sum(level.on_hand for level in inventory.get_stock_levels(sku))


def test_a_conflict_inside_a_unit_of_work_is_a_conflict_and_the_rest_commits_once(
    two_processes: tuple[InventoryApplication, InventoryApplication],
) -> None:
    first, second = two_processes
    first.receive_stock("CAM", Receipt("WH-A", 1, "count", "ops"))
    stale: Any = first.repository.get(stock_id_for("CAM"))
    second.receive_stock("CAM", Receipt("WH-A", 5, "count", "ops"))  # the other process wins

    with first.unit_of_work():
        first.receive_stock("LENS", Receipt("WH-A", 2, "count", "ops"))
        stale.receive(Receipt("WH-A", 7, "count", "ops"))
        with pytest.raises(IntegrityError), first.all_or_nothing():
            first.save(stale)
        # The transaction is still usable: the losing save alone was undone; decide again.
        first.receive_stock("CAM", Receipt("WH-A", 7, "count", "ops"))
        assert on_hand(second, "LENS") == 0, "nothing is visible before the unit of work ends"

    assert (on_hand(second, "CAM"), on_hand(second, "LENS")) == (13, 2)


def test_a_unit_of_work_that_fails_leaves_nothing_behind(
    two_processes: tuple[InventoryApplication, InventoryApplication],
) -> None:
    first, second = two_processes

    def a_batch_that_fails() -> None:
        with first.unit_of_work():
            first.receive_stock("CAM", Receipt("WH-A", 3, "count", "ops"))
            raise RuntimeError("the batch failed")

    with pytest.raises(RuntimeError):
        a_batch_that_fails()
    assert on_hand(second, "CAM") == 0
