"""Many saves in one transaction (a consumer's batch), on the real store: a conflict inside it is
reported as a conflict and undoes only the save that lost, and nothing commits before the end."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from aiokafka import ConsumerRecord
from eventsourcing.persistence import DataError, IntegrityError, Tracking

from contracts.inventory import ReservationReleased
from services.inventory.application import InventoryApplication
from services.inventory.domain import Receipt, stock_id_for
from services.order.application import OrderApplication
from services.order.handlers import register_handlers
from services.runtime.consumer import Consumer, Outcome
from services.runtime.context import MessageContext, handling
from services.runtime.database import PostgresLocation, ensure_database
from services.runtime.eventstore import BlockingRunner, SavepointsNeeded
from services.runtime.projections import Delete, Insert
from services.runtime.relay_messages import OutboxRow
from tests.integration.harness import published

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


class RoundTrips:
    """What the application's connections send: each wait on the server is one round trip."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self.statements: list[str] = []
        wait, execute = psycopg.Connection.wait, psycopg.Cursor.execute

        def counted_wait(connection: Any, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return wait(connection, *args, **kwargs)

        def recorded_execute(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            text = query if isinstance(query, str | bytes) else query.as_string(cursor.connection)
            self.statements.append(text.decode() if isinstance(text, bytes) else text)
            return execute(cursor, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Connection, "wait", counted_wait)
        monkeypatch.setattr(psycopg.Cursor, "execute", recorded_execute)

    def containing(self, text: str) -> int:
        return sum(statement.count(text) for statement in self.statements)


def stocked(inventory: InventoryApplication, count: int) -> list[str]:
    """SKUs with one unit each."""
    skus = [f"SKU-{n}" for n in range(count)]
    for sku in skus:
        inventory.receive_stock(sku, Receipt("WH-A", 1, "count", "ops"))
    return skus


def store_lock_holders(inventory: InventoryApplication) -> list[dict[str, Any]]:
    """Backends holding the store's table lock, seen from another connection."""
    return inventory.read(
        "SELECT pid, mode FROM pg_locks WHERE relation = %s::regclass AND granted"
        " AND mode = 'ExclusiveLock'",
        inventory.process_recorder.events_table_name,  # type: ignore[attr-defined]
    )


def test_a_unit_of_work_locks_the_store_and_notifies_once_for_all_its_saves(
    two_processes: tuple[InventoryApplication, InventoryApplication],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = two_processes
    skus = stocked(first, 10)
    one_save = RoundTrips(monkeypatch)
    with first.unit_of_work(), first.all_or_nothing():
        first.receive_stock(skus[0], Receipt("WH-A", 1, "count", "ops"))
    monkeypatch.undo()

    sent = RoundTrips(monkeypatch)
    with first.unit_of_work():
        for sku in skus:
            with first.all_or_nothing():
                first.receive_stock(sku, Receipt("WH-A", 1, "count", "ops"))
        assert store_lock_holders(second), "the lock is held until the unit of work commits"
    monkeypatch.undo()

    assert sent.containing("LOCK TABLE") == 1
    assert sent.containing("lock_timeout") == 1
    assert sent.containing("NOTIFY") == 1
    # Each save after the first costs its own statements and its savepoint, nothing more: the
    # lock, the lock timeout and the notification were sent once, in one round trip.
    assert sent.count <= one_save.count + (len(skus) - 1) * (one_save.count - 1)
    assert [on_hand(second, sku) for sku in skus] == [3] + [2] * (len(skus) - 1)


def test_a_lock_taken_in_a_savepoint_that_is_undone_is_taken_again(
    two_processes: tuple[InventoryApplication, InventoryApplication],
) -> None:
    """Postgres releases a lock taken after a savepoint when the savepoint is rolled back: the
    next save of the unit of work must take it again, or notification ids could commit out of
    order."""
    first, second = two_processes
    first.receive_stock("CAM", Receipt("WH-A", 1, "count", "ops"))
    stale: Any = first.repository.get(stock_id_for("CAM"))
    second.receive_stock("CAM", Receipt("WH-A", 5, "count", "ops"))

    with first.unit_of_work():
        stale.receive(Receipt("WH-A", 7, "count", "ops"))
        with pytest.raises(IntegrityError), first.all_or_nothing():
            first.save(stale)  # the first write of the unit of work: it took the lock
        assert not store_lock_holders(second), "undone with its savepoint"
        with first.all_or_nothing():
            first.receive_stock("LENS", Receipt("WH-A", 2, "count", "ops"))
        assert store_lock_holders(second), "taken again by the next save"

    assert (on_hand(second, "CAM"), on_hand(second, "LENS")) == (6, 2)


def test_a_unit_of_work_without_savepoints_sends_none_and_commits_the_same(
    two_processes: tuple[InventoryApplication, InventoryApplication],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = two_processes
    skus = stocked(first, 10)

    def saves(savepoints: bool) -> RoundTrips:
        sent = RoundTrips(monkeypatch)
        with first.unit_of_work(savepoints=savepoints):
            for sku in skus:
                with first.all_or_nothing():
                    first.receive_stock(sku, Receipt("WH-A", 1, "count", "ops"))
        monkeypatch.undo()
        return sent

    with_them, without = saves(True), saves(False)

    # A savepoint and its release are a round trip each.
    assert without.count <= with_them.count - 2 * len(skus)
    assert [on_hand(second, sku) for sku in skus] == [3] * len(skus)


def test_without_savepoints_a_unit_of_work_that_went_on_after_an_error_commits_nothing(
    two_processes: tuple[InventoryApplication, InventoryApplication],
) -> None:
    """With savepoints the losing save alone would be undone and the rest commit; without, the
    unit of work cannot undo it alone, so it undoes everything and says so."""
    first, second = two_processes
    first.receive_stock("CAM", Receipt("WH-A", 1, "count", "ops"))
    stale: Any = first.repository.get(stock_id_for("CAM"))
    second.receive_stock("CAM", Receipt("WH-A", 5, "count", "ops"))

    def a_batch_that_goes_on_after_losing() -> None:
        with first.unit_of_work(savepoints=False):
            first.receive_stock("LENS", Receipt("WH-A", 2, "count", "ops"))
            stale.receive(Receipt("WH-A", 7, "count", "ops"))
            with contextlib.suppress(IntegrityError), first.all_or_nothing():
                first.save(stale)

    with pytest.raises(SavepointsNeeded):
        a_batch_that_goes_on_after_losing()

    assert (on_hand(second, "CAM"), on_hand(second, "LENS")) == (6, 0)


async def test_a_batch_that_loses_a_race_without_savepoints_runs_again_with_them(
    postgres_dsn: str,
) -> None:
    location = PostgresLocation.from_dsn(postgres_dsn).with_database(f"uow_{uuid.uuid4().hex[:10]}")
    await ensure_database(location)
    runner = BlockingRunner(workers=1)
    first = await runner.run(InventoryApplication, location)
    second = InventoryApplication(location)
    first.receive_stock("CAM", Receipt("WH-A", 1, "count", "ops"))
    stale: Any = first.repository.get(stock_id_for("CAM"))
    second.receive_stock("CAM", Receipt("WH-A", 5, "count", "ops"))  # the other process wins

    async def publish(value: bytes, **_: Any) -> None:
        raise AssertionError("nothing is dead-lettered")

    consumer = Consumer(
        service_name="order", application=first, runner=runner, publish=publish, attempts=2
    )
    await runner.run(consumer.dead_letters.create_table)
    calls: list[bool] = []

    @consumer.on_event(ReservationReleased, producer="inventory")
    def receive_one(_: ReservationReleased, __: Any) -> None:
        calls.append(first.without_savepoints())
        if len(calls) == 1:
            stale.receive(Receipt("WH-A", 1, "count", "ops"))
            first.save(stale)  # loses: the other process stored a version after it
        else:
            first.receive_stock("CAM", Receipt("WH-A", 1, "count", "ops"))

    try:
        outcomes = await consumer.handle_batch(
            [reservation_released(uuid.uuid4(), 1) for _ in range(3)]
        )
    finally:
        runner.shutdown()

    assert outcomes == [Outcome.APPLIED] * 3
    # Its saves wait for the batch's end, where the insert finds the conflict.
    assert calls == [True] * 3 + [False] * 3, "the first attempt without savepoints"
    assert consumer.counters.batches_with_savepoints == 1
    assert consumer.counters.batches_split == 0, "still applied as one batch"
    assert on_hand(second, "CAM") == 1 + 5 + 3, "each message applied once"


@dataclass
class OrderConsumer:
    """The order service's consumer on a real store, fed records directly."""

    location: PostgresLocation
    runner: BlockingRunner
    orders: OrderApplication
    consumer: Consumer
    copied_to_dead_letter_topic: list[bytes]


@pytest.fixture
async def order_consumer(postgres_dsn: str) -> AsyncIterator[OrderConsumer]:
    location = PostgresLocation.from_dsn(postgres_dsn).with_database(f"uow_{uuid.uuid4().hex[:10]}")
    await ensure_database(location)
    runner = BlockingRunner(workers=1)
    orders = await runner.run(OrderApplication, location)
    copied: list[bytes] = []

    async def publish(value: bytes, **_: Any) -> None:
        copied.append(value)

    consumer = Consumer(
        service_name="order", application=orders, runner=runner, publish=publish, attempts=2
    )
    register_handlers(consumer, orders)
    await runner.run(consumer.dead_letters.create_table)
    yield OrderConsumer(location, runner, orders, consumer, copied)
    runner.shutdown()


def reservation_released(reservation_id: uuid.UUID, version: int) -> ConsumerRecord[bytes, bytes]:
    """An event the order service follows (its aggregate kind) and has no handler for."""
    payload = ReservationReleased(
        reservation_id=reservation_id, order_id=uuid.uuid4(), reason="order cancelled"
    )
    value = published(payload, producer="inventory", aggregate_id=reservation_id, version=version)
    return ConsumerRecord(
        topic="inventory.events.v1",
        partition=0,
        offset=version,
        timestamp=0,
        timestamp_type=0,
        key=str(reservation_id).encode(),
        value=value,
        checksum=None,
        serialized_key_size=36,
        serialized_value_size=len(value),
        headers=[],
    )


async def test_a_batch_decides_each_version_of_a_sequence_once_around_a_gap(
    order_consumer: OrderConsumer,
) -> None:
    """Within a batch the consumer knows what it tracked itself; after a parked event was applied
    behind its predecessor, it asks the store again."""
    reservation_id = uuid.uuid4()
    versions = (1, 2, 2, 4, 3, 5, 5)

    outcomes = await order_consumer.consumer.handle_batch(
        [reservation_released(reservation_id, version) for version in versions]
    )

    assert order_consumer.consumer.counters.batches_split == 0, "applied as one batch"
    assert outcomes == [
        Outcome.TRACKED,
        Outcome.TRACKED,
        Outcome.DUPLICATE,
        Outcome.PARKED,  # and applied right after 3, in the same batch
        Outcome.TRACKED,
        Outcome.TRACKED,
        Outcome.DUPLICATE,
    ]
    source = f"inventory:{reservation_id}"
    assert order_consumer.orders.process_recorder.max_tracking_id(source) == 5
    assert len(order_consumer.copied_to_dead_letter_topic) == 1


async def test_an_event_another_process_tracks_first_is_a_duplicate_and_the_batch_goes_on(
    order_consumer: OrderConsumer,
) -> None:
    """An event without a handler is tracked without a savepoint of its own: losing the race for
    its tracking row fails no statement, so the batch's transaction stays usable."""
    other_process = OrderApplication(order_consumer.location)
    reservation_id = uuid.uuid4()
    source = f"inventory:{reservation_id}"
    tracking = threading.Event()
    commit = threading.Event()

    def track_first() -> None:
        with other_process.unit_of_work():
            other_process.process_recorder.insert_tracking(Tracking(source, 1))
            tracking.set()
            commit.wait(timeout=60)

    racer = threading.Thread(target=track_first)
    racer.start()
    assert tracking.wait(timeout=60)
    batch = asyncio.ensure_future(
        order_consumer.consumer.handle_batch(
            [reservation_released(reservation_id, version) for version in (1, 2)]
        )
    )
    await asyncio.sleep(0.5)  # the batch now waits for the other process's transaction
    commit.set()
    outcomes = await asyncio.wait_for(batch, timeout=60)
    racer.join(timeout=60)

    assert outcomes == [Outcome.DUPLICATE, Outcome.TRACKED]
    assert order_consumer.consumer.counters.batches_split == 0, "applied as one batch"
    assert order_consumer.orders.process_recorder.max_tracking_id(source) == 2


async def test_a_batch_reads_its_sources_once_and_tracks_events_without_a_handler_together(
    order_consumer: OrderConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Most of what a service reads is events it follows without a handler: a batch reads every
    source's tracked version in one query and writes their tracking rows in one statement, not
    a query and an upsert per event; a repeat is still recognised."""
    reservations = [uuid.uuid4() for _ in range(10)]
    batch = [reservation_released(each, version) for each in reservations for version in (1, 2)]

    sent = RoundTrips(monkeypatch)
    outcomes = await order_consumer.consumer.handle_batch(batch)
    monkeypatch.undo()

    assert outcomes == [Outcome.TRACKED] * len(batch)
    assert order_consumer.consumer.counters.batches_split == 0, "applied as one batch"
    assert sent.containing("MAX(notification_id)") == 0, "no query per event"
    assert sent.containing("= ANY(") == 1, "where every source stands, read once"
    assert sent.containing("unnest(") == 1, "their tracking rows, written together"
    tracking = order_consumer.orders.process_recorder
    assert {tracking.max_tracking_id(f"inventory:{each}") for each in reservations} == {2}
    again = await order_consumer.consumer.handle_batch(batch)
    assert again == [Outcome.DUPLICATE] * len(batch)


async def test_a_batch_tracks_the_events_it_applies_together_and_notifies_with_its_lock(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events with a handler: each save writes its events, and the batch writes every source's
    tracking row in one statement before it commits (under the store's lock, taken with the
    relays' signal as the batch reads where its sources stand); a repeat is still recognised and
    changes nothing."""
    location = PostgresLocation.from_dsn(postgres_dsn).with_database(f"uow_{uuid.uuid4().hex[:10]}")
    await ensure_database(location)
    runner = BlockingRunner(workers=1)
    inventory = await runner.run(InventoryApplication, location)

    async def publish(value: bytes, **_: Any) -> None:
        raise AssertionError("nothing is dead-lettered")

    consumer = Consumer(
        service_name="order", application=inventory, runner=runner, publish=publish, attempts=2
    )
    await runner.run(consumer.dead_letters.create_table)

    @consumer.on_event(ReservationReleased, producer="inventory")
    def received(_: ReservationReleased, __: Any) -> None:
        inventory.receive_stock("CAM", Receipt("WH-A", 1, "count", "ops"))

    reservations = [uuid.uuid4() for _ in range(5)]
    batch = [reservation_released(each, version) for each in reservations for version in (1, 2)]
    try:
        sent = RoundTrips(monkeypatch)
        outcomes = await consumer.handle_batch(batch)
        monkeypatch.undo()
        again = await consumer.handle_batch(batch)
    finally:
        runner.shutdown()

    assert outcomes == [Outcome.APPLIED] * len(batch)
    assert consumer.counters.batches_split == 0, "applied as one batch"
    assert sent.containing("ON CONFLICT (application_name)") == 1, "one tracking statement"
    assert sent.containing("MAX(notification_id)") == 0, "no query per event"
    locked = [statement for statement in sent.statements if "LOCK TABLE" in statement]
    assert len(locked) == 1
    assert "NOTIFY" in locked[0], "the relays' signal in the lock's round trip"
    assert sent.containing("NOTIFY") == 1
    assert sent.containing('_events" (originator_id') == 1, "the batch's saves in one insert"
    tracking = inventory.process_recorder
    assert {tracking.max_tracking_id(f"inventory:{each}") for each in reservations} == {2}
    assert again == [Outcome.DUPLICATE] * len(batch)
    assert on_hand(inventory, "CAM") == len(batch), "each event applied once"


@pytest.mark.parametrize("receipts", [1, 4, 12])
def test_a_save_stores_its_events_in_order_as_rows_or_as_arrays(
    two_processes: tuple[InventoryApplication, InventoryApplication], receipts: int
) -> None:
    """Up to `INSERTED_AS_ROWS` events a save inserts row by row, more as arrays: either way
    every event is stored once, in version order, and the notification log (what the relay
    publishes) holds them in that order."""
    first, second = two_processes
    stock_id = first.receive_stock("CAM", Receipt("WH-A", 1, "count", "ops"))
    stock: Any = first.repository.get(stock_id)
    saved_before = stock.version
    for _ in range(receipts):
        stock.receive(Receipt("WH-A", 2, "count", "ops"))
    in_the_save = stock.version - saved_before
    first.save(stock)

    assert in_the_save >= receipts
    assert on_hand(second, "CAM") == 1 + 2 * receipts
    versions = list(range(1, stock.version + 1))
    stored = second.repository.event_store.get(stock_id)
    assert [event.originator_version for event in stored] == versions
    logged = second.process_recorder.select_notifications(start=1, limit=100)
    assert [(n.originator_id, n.originator_version) for n in logged] == [
        (stock_id, version) for version in versions
    ]


def lock_first(inventory: InventoryApplication) -> None:
    """Inside a unit of work: take the store's lock first, as a consumer's batch does."""
    inventory.process_recorder.tracked_versions([])  # type: ignore[attr-defined]


def stored_with_messages(inventory: InventoryApplication) -> list[tuple[int, str, int, str]]:
    """Every stored event in notification order, with the message kept beside it."""
    recorder: Any = inventory.process_recorder
    rows = inventory.read(
        "SELECT e.notification_id, e.originator_id, e.originator_version, m.message_value "
        f'FROM "{recorder.events_table_name}" AS e '
        f'LEFT JOIN "{recorder.messages_table_name}" AS m USING (notification_id) '
        "ORDER BY e.notification_id"
    )
    return [
        (
            row["notification_id"],
            str(row["originator_id"]),
            row["originator_version"],
            bytes(row["message_value"] or b"").decode(),
        )
        for row in rows
    ]


def test_a_batch_without_savepoints_inserts_its_saves_together_in_order_with_their_messages(
    two_processes: tuple[InventoryApplication, InventoryApplication],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under the store's lock, a batch's saves wait and go in as one insert at its end, in the
    order they were made, each event with its own message; reads in the batch see them, and a
    save that tracks its message inserts those saved before it first."""
    first, second = two_processes
    first.keep_message = lambda event: OutboxRow(
        key=b"k", value=f"{event.originator_id}:{event.originator_version}".encode(), headers=b""
    )
    skus = stocked(first, 3)
    sent = RoundTrips(monkeypatch)
    with first.unit_of_work(savepoints=False):
        lock_first(first)
        for sku in [*skus, skus[0]]:
            first.receive_stock(sku, Receipt("WH-A", 1, "count", "ops"))
        assert on_hand(second, skus[0]) == 1, "nothing committed before the end"
        direct: Any = first.repository.get(stock_id_for(skus[0]))
        assert sum(direct.on_hand.values()) == 3, "a read of the store includes what waits"
    monkeypatch.undo()
    assert sent.containing('_events" (originator_id') == 1, "one insert for four saves"
    assert [on_hand(second, sku) for sku in skus] == [3, 2, 2]
    logged = stored_with_messages(second)
    assert [row[0] for row in logged] == sorted(row[0] for row in logged)
    batch = logged[-8:]  # a receipt is two events
    assert [row[1] for row in batch[::2]] == [str(stock_id_for(sku)) for sku in [*skus, skus[0]]]
    assert all(message == f"{aggregate}:{version}" for _, aggregate, version, message in batch)

    tracked = Tracking("inventory:" + str(uuid.uuid4()), 1)
    with first.unit_of_work(savepoints=False):
        lock_first(first)
        first.receive_stock(skus[1], Receipt("WH-A", 1, "count", "ops"))
        with handling(MessageContext(correlation_id="c", tracking=tracked)):
            first.receive_stock(skus[2], Receipt("WH-A", 1, "count", "ops"))
    logged = stored_with_messages(second)
    assert [row[1] for row in logged[-4:][::2]] == [str(stock_id_for(sku)) for sku in skus[1:]]
    assert second.process_recorder.max_tracking_id(tracked.application_name) == 1


def test_two_saves_of_one_version_in_a_batch_fail_its_insert_and_commit_nothing(
    two_processes: tuple[InventoryApplication, InventoryApplication],
) -> None:
    """A conflict among a batch's own deferred saves fails the insert at its end: nothing of it
    commits, and the consumer runs such a batch again with savepoints (`_without_savepoints_first`)."""
    first, second = two_processes
    first.receive_stock("CAM", Receipt("WH-A", 1, "count", "ops"))

    def a_batch_that_saves_one_version_twice() -> None:
        with first.unit_of_work(savepoints=False):
            lock_first(first)
            stale: Any = first.repository.get(stock_id_for("CAM"))
            first.receive_stock("CAM", Receipt("WH-A", 2, "count", "ops"))
            first.receive_stock("LENS", Receipt("WH-A", 2, "count", "ops"))
            stale.receive(Receipt("WH-A", 7, "count", "ops"))
            first.save(stale)  # no error yet: the insert is at the end

    with pytest.raises(IntegrityError):
        a_batch_that_saves_one_version_twice()
    assert (on_hand(second, "CAM"), on_hand(second, "LENS")) == (1, 0)
    assert on_hand(first, "CAM") == 1, "nothing undone is kept"


KITS_OF = (
    "SELECT bundle_sku, component_sku, quantity FROM bundle_components"
    " WHERE component_sku = ANY(%s) ORDER BY bundle_sku"
)


def kit(bundle: str, component: str, quantity: int = 1) -> Insert:
    return Insert(
        "bundle_components",
        {"bundle_sku": bundle, "component_sku": component, "quantity": quantity},
    )


@pytest.fixture
def a_kit_of_one_camera(
    two_processes: tuple[InventoryApplication, InventoryApplication],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[InventoryApplication, RoundTrips]:
    """A store whose read models know one kit, and its round trips counted from then on."""
    inventory, _ = two_processes
    inventory.save_projected(read_model_changes=[kit("KIT-1", "CAM")])
    return inventory, RoundTrips(monkeypatch)


def test_a_read_model_query_asked_again_in_a_unit_of_work_is_answered_without_a_round_trip(
    a_kit_of_one_camera: tuple[InventoryApplication, RoundTrips],
) -> None:
    inventory, trips = a_kit_of_one_camera
    as_arrays = "SELECT array_agg(component_sku) AS components FROM bundle_components"

    with inventory.unit_of_work():
        first = inventory.read(KITS_OF, ["CAM"])
        first[0]["quantity"] = 99  # the caller's own rows: nothing kept changes with them
        again = inventory.read(KITS_OF, ["CAM"])
        other = inventory.read(KITS_OF, ["LENS"])
        # A value the caller could change in place (an array, JSON): such rows are read anew.
        inventory.read(as_arrays)[0]["components"].append("changed by the caller")
        arrays_again = inventory.read(as_arrays)

    assert [row["bundle_sku"] for row in again] == ["KIT-1"]
    assert again[0]["quantity"] == 1
    assert other == []
    assert trips.containing(KITS_OF) == 2, "once per parameters"
    assert arrays_again[0]["components"] == ["CAM"]
    assert trips.containing(as_arrays) == 2


def test_a_write_to_a_table_read_in_a_unit_of_work_is_seen_by_the_next_read(
    a_kit_of_one_camera: tuple[InventoryApplication, RoundTrips],
) -> None:
    inventory, trips = a_kit_of_one_camera
    facts = "SELECT sku FROM product_facts WHERE sku = ANY(%s)"

    with inventory.unit_of_work():
        assert len(inventory.read(KITS_OF, ["CAM"])) == 1
        inventory.read(facts, ["CAM"])
        inventory.save_projected(read_model_changes=[kit("KIT-2", "CAM", 2)])
        after_insert = inventory.read(KITS_OF, ["CAM"])
        inventory.save_projected(
            read_model_changes=[Delete("bundle_components", {"bundle_sku": "KIT-1"})]
        )
        after_delete = inventory.read(KITS_OF, ["CAM"])
        inventory.read(facts, ["CAM"])

    assert [(row["bundle_sku"], row["quantity"]) for row in after_insert] == [
        ("KIT-1", 1),
        ("KIT-2", 2),
    ]
    assert [row["bundle_sku"] for row in after_delete] == ["KIT-2"]
    assert trips.containing(KITS_OF) == 3, "read again after each write"
    assert trips.containing("FROM product_facts") == 1, "another table's rows were kept"


def test_what_a_rolled_back_savepoint_wrote_is_not_answered_from_what_was_read(
    two_processes: tuple[InventoryApplication, InventoryApplication],
) -> None:
    inventory, _ = two_processes

    with inventory.unit_of_work():
        seen_in_the_savepoint: list[dict[str, Any]] = []

        def a_message_that_fails() -> None:
            with inventory.all_or_nothing():
                inventory.save_projected(read_model_changes=[kit("KIT-1", "CAM")])
                seen_in_the_savepoint.extend(inventory.read(KITS_OF, ["CAM"]))
                raise RuntimeError("the message failed")

        with pytest.raises(RuntimeError):
            a_message_that_fails()
        assert len(seen_in_the_savepoint) == 1
        after = inventory.read(KITS_OF, ["CAM"])

    assert after == []


def test_reads_outside_a_unit_of_work_or_of_tables_the_read_models_do_not_declare_are_not_kept(
    two_processes: tuple[InventoryApplication, InventoryApplication],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inventory, other_process = two_processes
    trips = RoundTrips(monkeypatch)
    not_declared = "SELECT count(*) AS n FROM pg_stat_activity"

    inventory.read(KITS_OF, ["CAM"])
    inventory.read(KITS_OF, ["CAM"])
    with inventory.unit_of_work():
        inventory.read(not_declared)
        inventory.read(not_declared)
        inventory.read("SELECT b.bundle_sku FROM bundle_components b, rate_card r")
        inventory.read("SELECT b.bundle_sku FROM bundle_components b, rate_card r")
    other_process.save_projected(read_model_changes=[kit("KIT-1", "CAM")])
    with inventory.unit_of_work():
        assert len(inventory.read(KITS_OF, ["CAM"])) == 1, "a new unit of work reads anew"

    assert trips.containing(KITS_OF) == 3
    assert trips.containing("FROM bundle_components b, rate_card r") == 2
    assert trips.containing(not_declared) == 2


KITS = 20
"""Read-model changes a batch saves in the tests below."""


def test_without_savepoints_a_batch_sends_its_read_model_changes_together_before_they_are_read(
    two_processes: tuple[InventoryApplication, InventoryApplication],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch's read-model changes wait and go in one round trip: before a read of a table they
    write (which sees them), before a `write`, and at its end; a read of another table sends
    none. Each change is applied once, in the order it was saved."""
    inventory, other_process = two_processes
    facts = "SELECT sku FROM product_facts WHERE sku = ANY(%s)"
    trips = RoundTrips(monkeypatch)

    with inventory.unit_of_work(savepoints=False):
        lock_first(inventory)
        before = trips.count
        for n in range(KITS):
            inventory.save_projected(read_model_changes=[kit(f"KIT-{n:02}", "CAM")])
        saving = trips.count - before
        inventory.read(facts, ["CAM"])
        assert trips.count - before == saving + 1, "a read of another table sent nothing"
        before = trips.count
        seen = inventory.read(KITS_OF, ["CAM"])
        reading_kits = trips.count - before
        inventory.save_projected(
            read_model_changes=[
                Delete("bundle_components", {"bundle_sku": "KIT-00"}),
                kit("KIT-00", "LENS"),
            ]
        )
        assert other_process.read(KITS_OF, ["CAM"]) == [], "nothing committed before the end"

    assert saving == 0, "the saves sent none of their changes"
    assert [row["bundle_sku"] for row in seen] == [f"KIT-{n:02}" for n in range(KITS)]
    assert reading_kits <= 4, f"the read, and {KITS} changes together (not one round trip each)"
    assert [row["bundle_sku"] for row in other_process.read(KITS_OF, ["CAM"])] == [
        f"KIT-{n:02}" for n in range(1, KITS)
    ]
    assert [row["bundle_sku"] for row in other_process.read(KITS_OF, ["LENS"])] == ["KIT-00"]

    with inventory.unit_of_work(savepoints=False):
        lock_first(inventory)
        inventory.save_projected(read_model_changes=[kit("KIT-ALONE", "DOCK")])
        before = trips.count
        assert len(inventory.read(KITS_OF, ["DOCK"])) == 1
        assert trips.count - before == 2, "one change waiting goes alone, then the read"


def test_a_read_model_change_that_fails_after_its_save_commits_nothing_and_asks_for_savepoints(
    two_processes: tuple[InventoryApplication, InventoryApplication],
) -> None:
    """Sent after its save, a failing change fails the batch as a whole, which the consumer runs
    again with savepoints (`_without_savepoints_first`): there it fails at its own save, and
    the rest of the batch commits."""
    inventory, other_process = two_processes

    def a_batch_with_a_change_that_fails(*, savepoints: bool) -> None:
        with inventory.unit_of_work(savepoints=savepoints):
            lock_first(inventory)
            inventory.save_projected(read_model_changes=[kit("KIT-1", "CAM")])
            with contextlib.suppress(DataError), inventory.all_or_nothing():
                a_quantity_that_is_no_number = kit("KIT-2", "CAM", "two")  # type: ignore[arg-type]
                inventory.save_projected(read_model_changes=[a_quantity_that_is_no_number])
            inventory.receive_stock("CAM", Receipt("WH-A", 1, "count", "ops"))

    with pytest.raises(SavepointsNeeded):
        a_batch_with_a_change_that_fails(savepoints=False)
    assert other_process.read(KITS_OF, ["CAM"]) == []
    assert on_hand(other_process, "CAM") == 0

    a_batch_with_a_change_that_fails(savepoints=True)
    assert [row["bundle_sku"] for row in other_process.read(KITS_OF, ["CAM"])] == ["KIT-1"]
    assert on_hand(other_process, "CAM") == 1
