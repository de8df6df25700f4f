"""Loading from the aggregates a process keeps as committed, on the real store: a load is always
what the store holds, whatever another process wrote since and whatever was undone here."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from eventsourcing.application import AggregateNotFoundError

from services.inventory.application import InventoryApplication
from services.inventory.domain import (
    Receipt,
    RequestedLine,
    Reservation,
    SkuStock,
    reservation_id_for,
    stock_id_for,
)
from services.runtime import eventstore
from services.runtime.database import PostgresLocation, ensure_database
from tests.integration.test_unit_of_work import RoundTrips

pytestmark = pytest.mark.integration


@pytest.fixture
def two_processes(postgres_dsn: str) -> tuple[InventoryApplication, InventoryApplication]:
    """Two applications on one database, as two processes of one service would be."""
    location = PostgresLocation.from_dsn(postgres_dsn).with_database(
        f"kept_{uuid.uuid4().hex[:10]}"
    )
    asyncio.run(ensure_database(location))
    return InventoryApplication(location), InventoryApplication(location)


def stock(inventory: InventoryApplication, sku: str) -> Any:
    return inventory.get(stock_id_for(sku), SkuStock)


def from_the_store(inventory: InventoryApplication, sku: str) -> Any:
    return inventory.repository.get(stock_id_for(sku))


def units(aggregate: Any) -> int:
    return sum(aggregate.on_hand.values())


def test_a_kept_aggregate_is_brought_up_to_what_another_process_stored_since(
    two_processes: tuple[InventoryApplication, InventoryApplication],
) -> None:
    first, second = two_processes
    first.receive_stock("CAM", Receipt("WH-A", 1, "count", "ops"))
    assert first.committed.copy_of(stock_id_for("CAM")) is not None, "kept once committed"
    second.receive_stock("CAM", Receipt("WH-A", 5, "count", "ops"))
    second.receive_stock("CAM", Receipt("WH-A", 2, "count", "ops"))

    loaded = stock(first, "CAM")

    assert (loaded.version, units(loaded)) == (from_the_store(first, "CAM").version, 8)
    first.receive_stock("CAM", Receipt("WH-A", 1, "count", "ops"))  # no conflict: it was current
    assert units(from_the_store(second, "CAM")) == 9


def test_what_a_unit_of_work_or_a_savepoint_undid_is_never_loaded(
    two_processes: tuple[InventoryApplication, InventoryApplication],
) -> None:
    first, _ = two_processes
    first.receive_stock("CAM", Receipt("WH-A", 1, "count", "ops"))
    first.receive_stock("LENS", Receipt("WH-A", 1, "count", "ops"))

    def received_then_failed(sku: str) -> None:
        first.receive_stock(sku, Receipt("WH-A", 5, "count", "ops"))
        raise RuntimeError(f"failed after receiving {sku}")

    with pytest.raises(RuntimeError), first.unit_of_work():  # a batch undone
        received_then_failed("CAM")
    with first.unit_of_work():
        with pytest.raises(RuntimeError), first.all_or_nothing():  # one message of it undone
            received_then_failed("LENS")
        first.receive_stock("CAM", Receipt("WH-A", 2, "count", "ops"))

    assert (units(stock(first, "CAM")), units(stock(first, "LENS"))) == (3, 1)
    assert stock(first, "LENS").version == from_the_store(first, "LENS").version


def test_changing_a_loaded_aggregate_without_saving_it_changes_nothing_kept(
    two_processes: tuple[InventoryApplication, InventoryApplication],
) -> None:
    first, _ = two_processes
    first.receive_stock("CAM", Receipt("WH-A", 1, "count", "ops"))

    loaded = stock(first, "CAM")
    loaded.receive(Receipt("WH-A", 40, "count", "ops"))  # decided, never saved

    assert units(stock(first, "CAM")) == 1


def test_a_unit_of_work_loads_its_own_aggregate_and_gives_it_back_only_when_committed(
    two_processes: tuple[InventoryApplication, InventoryApplication],
) -> None:
    first, second = two_processes
    first.receive_stock("CAM", Receipt("WH-A", 1, "count", "ops"))

    with first.unit_of_work():
        version = stock(first, "CAM").version
        assert first.committed.copy_of(stock_id_for("CAM")) is None, "taken out while in use"
        first.receive_stock("CAM", Receipt("WH-A", 2, "count", "ops"))
        saved = from_the_store(first, "CAM").version
        assert stock(first, "CAM").version == saved > version, "its own save, loaded again"
    assert units(first.committed.copy_of(stock_id_for("CAM"))) == 3, "given back at commit"

    def received_then_failed() -> None:
        with first.unit_of_work():
            first.receive_stock("CAM", Receipt("WH-A", 40, "count", "ops"))
            raise RuntimeError("the batch failed")

    with pytest.raises(RuntimeError):
        received_then_failed()
    assert first.committed.copy_of(stock_id_for("CAM")) is None, "nothing given back"
    assert units(stock(first, "CAM")) == 3

    second.receive_stock("CAM", Receipt("WH-A", 4, "count", "ops"))
    with first.unit_of_work():
        assert units(stock(first, "CAM")) == 7, "brought up to what the other process stored"


def test_an_aggregate_changed_in_a_unit_of_work_and_not_saved_is_not_kept(
    two_processes: tuple[InventoryApplication, InventoryApplication],
) -> None:
    first, _ = two_processes
    first.receive_stock("CAM", Receipt("WH-A", 1, "count", "ops"))

    with first.unit_of_work():
        stock(first, "CAM").receive(Receipt("WH-A", 40, "count", "ops"))  # decided, never saved
        assert units(stock(first, "CAM")) == 1, "a load after it reads the store"

    assert units(stock(first, "CAM")) == 1
    assert stock(first, "CAM").version == from_the_store(first, "CAM").version


def locked(inventory: InventoryApplication) -> None:
    """Inside a unit of work: take the store's lock first, as a consumer's batch does."""
    inventory.process_recorder.tracked_versions([])  # type: ignore[attr-defined]


def event_queries(sent: RoundTrips) -> int:
    """Statements that read an aggregate's events from the store."""
    return sent.containing('_events" WHERE originator_id')


def test_under_the_store_s_lock_a_kept_aggregate_is_loaded_with_no_query_unless_stored_since(
    two_processes: tuple[InventoryApplication, InventoryApplication],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A unit of work that holds the store's lock reads, as it takes it, which aggregates have
    events stored since the process's kept ones were current: it loads every other one kept
    without a query, and those from the store, whoever stored the events."""
    first, second = two_processes
    skus = ["CAM", "LENS", "DOCK"]
    with first.unit_of_work():
        locked(first)
        for sku in skus:
            first.receive_stock(sku, Receipt("WH-A", 1, "count", "ops"))

    sent = RoundTrips(monkeypatch)
    with first.unit_of_work():
        locked(first)
        assert [units(stock(first, sku)) for sku in skus] == [1, 1, 1]
        first.receive_stock("CAM", Receipt("WH-A", 1, "count", "ops"))
    monkeypatch.undo()
    assert event_queries(sent) == 0, "each one kept was current: loaded with no query"
    assert sent.containing("WHERE notification_id >") == 0, "nothing stored since: no listing"

    second.receive_stock("LENS", Receipt("WH-A", 5, "count", "ops"))
    sent = RoundTrips(monkeypatch)
    with first.unit_of_work():
        locked(first)
        assert [units(stock(first, sku)) for sku in skus] == [2, 6, 1]
        first.receive_stock("LENS", Receipt("WH-A", 1, "count", "ops"))  # it was current
    monkeypatch.undo()
    assert event_queries(sent) == 1, "only the aggregate stored to since is read"
    assert sent.containing("WHERE notification_id >") == 1, "what was stored since, listed"
    assert units(from_the_store(second, "LENS")) == 7


def test_without_the_lock_or_with_too_much_stored_since_kept_aggregates_are_read_after(
    two_processes: tuple[InventoryApplication, InventoryApplication],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A load before the lock is taken, or after more events were stored since than the lock's
    query lists, reads the events after the kept aggregate, as does one kept from a save outside
    a unit of work: none of them is known current."""
    first, second = two_processes
    with first.unit_of_work():
        locked(first)
        first.receive_stock("CAM", Receipt("WH-A", 1, "count", "ops"))
    first.receive_stock("LENS", Receipt("WH-A", 1, "count", "ops"))  # a copy kept

    sent = RoundTrips(monkeypatch)
    with first.unit_of_work():
        assert units(stock(first, "CAM")) == 1  # before the lock
        locked(first)
        assert units(stock(first, "LENS")) == 1
    monkeypatch.undo()
    assert event_queries(sent) == 2

    monkeypatch.setattr(eventstore, "STORED_SINCE_LISTED", 2)
    for sku in ("DOCK", "HUB", "CASE"):
        second.receive_stock(sku, Receipt("WH-A", 1, "count", "ops"))
    sent = RoundTrips(monkeypatch)
    with first.unit_of_work():
        locked(first)
        assert (units(stock(first, "CAM")), units(stock(first, "LENS"))) == (1, 1)
    assert event_queries(sent) == 2, "none known current any longer"
    sent = RoundTrips(monkeypatch)
    with first.unit_of_work():
        locked(first)
        assert (units(stock(first, "CAM")), units(stock(first, "LENS"))) == (1, 1)
    monkeypatch.undo()
    assert event_queries(sent) == 0, "current again once read under the lock"


def test_a_lock_undone_with_its_savepoint_leaves_nothing_known_current(
    two_processes: tuple[InventoryApplication, InventoryApplication],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Postgres releases a lock taken in a savepoint rolled back: another process can store
    events before the unit of work takes it again, so what it loads meanwhile is read."""
    first, second = two_processes
    with first.unit_of_work():
        locked(first)
        first.receive_stock("CAM", Receipt("WH-A", 1, "count", "ops"))

    def locked_then_failed() -> None:
        with first.all_or_nothing():
            locked(first)
            raise RuntimeError("undone, and the lock with it")

    with first.unit_of_work():
        with pytest.raises(RuntimeError):
            locked_then_failed()
        second.receive_stock("CAM", Receipt("WH-A", 5, "count", "ops"))
        assert units(stock(first, "CAM")) == 6
        first.receive_stock("CAM", Receipt("WH-A", 1, "count", "ops"))
    assert units(from_the_store(second, "CAM")) == 7


def test_a_kind_never_snapshotted_is_loaded_from_its_events_with_no_look_for_a_snapshot(
    two_processes: tuple[InventoryApplication, InventoryApplication],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Inventory snapshots only its stock: a reservation, there or not, is read with one query;
    stock is read from its last snapshot and the events after it."""
    first, second = two_processes
    receipts = InventoryApplication.snapshotting_intervals[SkuStock] + 5  # a snapshot is kept
    for _ in range(receipts):
        second.receive_stock("CAM", Receipt("WH-A", 1, "count", "ops"))
    order_id = uuid.uuid4()
    second.reserve_for_order(order_id, [RequestedLine(1, "CAM", 2)])

    sent = RoundTrips(monkeypatch)
    with pytest.raises(AggregateNotFoundError):
        first.get(reservation_id_for(uuid.uuid4()), Reservation)
    reservation = first.get(reservation_id_for(order_id), Reservation)
    looked_for_a_snapshot = sent.containing("_snapshots")
    loaded_stock = stock(first, "CAM")
    monkeypatch.undo()

    assert (looked_for_a_snapshot, event_queries(sent)) == (0, 3), "one query per load"
    assert reservation.version == second.get(reservation_id_for(order_id), Reservation).version
    assert sent.containing("_snapshots") == 1, "stock looked for its snapshot"
    assert (loaded_stock.version, units(loaded_stock)) == (
        from_the_store(second, "CAM").version,
        receipts,
    )
