"""The relay against the real broker and Postgres: one publisher per store whatever the number of
processes, and topics re-derived from the store when the broker comes back empty."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from confluent_kafka.admin import AdminClient

from contracts.topics import INVENTORY_MOVEMENTS, events_topic
from infra.embedded import EmbeddedBroker
from services.inventory import translators
from services.inventory.application import InventoryApplication
from services.inventory.domain import Receipt, SalesChannels
from services.runtime.database import PostgresLocation, ensure_database
from services.runtime.faults import CRASH_AT_VARIABLE, CRASH_EXIT_CODE
from services.runtime.leadership import Leadership
from services.runtime.metrics import RELAY_LAG, RELAY_OLDEST, StatusCollector
from services.runtime.relay import Relay, create_relay_table
from services.runtime.relay_messages import message_for, outbox_writer
from services.runtime.topics import BROKER_INCARNATION_HEADER, BrokerIncarnation
from tests.integration.harness import ServiceProcess, Stack, TopicReader, eventually, repeated

INVENTORY_EVENTS = events_topic("inventory").name
PUBLISHED_TOPICS = (INVENTORY_EVENTS, INVENTORY_MOVEMENTS.name)


def receive(process: ServiceProcess, skus: range) -> None:
    for number in skus:
        process.receive_stock(f"RELAY-{number}", "WH-A", 3)


def skus_on(reader: TopicReader) -> set[str]:
    return {event["payload"]["sku"] for event in reader.events()}


def shows_skus(reader: TopicReader, count: int) -> Callable[[], bool]:
    return lambda: len(skus_on(reader)) == count


def log_of(process: ServiceProcess) -> str:
    path = process.stack.log_dir / f"{process.name}-{process.port}-{process.instance}.log"
    return path.read_text(errors="replace")


def leads(process: ServiceProcess, topic: str) -> bool:
    return any(
        "leading" in line and f"relay:{topic}" in line and "no longer" not in line
        for line in log_of(process).splitlines()
    )


def store_of(stack: Stack, service: str) -> PostgresLocation:
    return PostgresLocation.from_dsn(stack.postgres_dsn).with_database(
        f"{stack.database_prefix}_{service}"
    )


def all_recorded(stack: Stack, service: str) -> bool:
    """Every relay of the service recorded a position at the store's last notification."""

    async def check() -> bool:
        connection = await asyncpg.connect(**store_of(stack, service).asyncpg_kwargs())
        try:
            head = await connection.fetchval(
                "SELECT max(notification_id) FROM inventoryapplication_events"
            )
            positions = await connection.fetch("SELECT notification_id FROM relay_position")
            return len(positions) == len(PUBLISHED_TOPICS) and all(
                row["notification_id"] == head for row in positions
            )
        finally:
            await connection.close()

    return asyncio.run(check())


@pytest.fixture
def inventories(stack: Stack) -> Iterator[list[ServiceProcess]]:
    """Two processes of inventory on one store, each on its own HTTP port."""
    processes = [ServiceProcess("inventory", stack), ServiceProcess("inventory", stack)]
    yield processes
    for process in processes:
        process.stop()


def test_two_processes_publish_each_event_once_and_the_survivor_of_the_leader_takes_over(
    stack: Stack, inventories: list[ServiceProcess]
) -> None:
    first, second = inventories
    first.start()
    eventually(lambda: all(leads(first, topic) for topic in PUBLISHED_TOPICS), what="leader")
    second.start()
    readers = [TopicReader(stack.bootstrap_servers, topic) for topic in PUBLISHED_TOPICS]
    try:
        # Both processes take commands; whichever stores an event, the leader publishes it.
        receive(first, range(0, 10))
        receive(second, range(10, 20))
        for reader in readers:
            eventually(shows_skus(reader, 20), timeout=60, what=f"20 SKUs on {reader.topic}")
        assert not any(leads(second, topic) for topic in PUBLISHED_TOPICS)
        eventually(lambda: all_recorded(stack, "inventory"), what="positions recorded")

        first.kill()
        receive(second, range(20, 30))
        for reader in readers:
            eventually(shows_skus(reader, 30), timeout=60, what=f"30 SKUs on {reader.topic}")
        assert all(leads(second, topic) for topic in PUBLISHED_TOPICS)
        for reader in readers:
            assert repeated(reader) == [], reader.topic
    finally:
        for reader in readers:
            reader.close()


def partition_counts(bootstrap_servers: str) -> dict[str, int]:
    metadata = AdminClient({"bootstrap.servers": bootstrap_servers}).list_topics(timeout=10)
    return {name: len(topic.partitions) for name, topic in metadata.topics.items()}


def test_a_broker_restarted_empty_gets_every_topic_and_every_stored_event_again(
    restartable_broker: tuple[EmbeddedBroker, Stack],
) -> None:
    broker, stack = restartable_broker
    inventory = ServiceProcess("inventory", stack).start()
    try:
        receive(inventory, range(0, 10))
        reader = TopicReader(stack.bootstrap_servers, INVENTORY_EVENTS)
        eventually(lambda: len(skus_on(reader)) == 10, timeout=60, what="10 SKUs published")
        reader.close()

        broker.stop()
        broker.start()  # same port, nothing in it: no topic, no event
        # Stored before the relay noticed the new broker, most likely: published there at once,
        # with the old broker's life on it, ahead of the store published again.
        receive(inventory, range(10, 11))

        def republished() -> bool:
            counts = partition_counts(stack.bootstrap_servers)
            if counts.get(INVENTORY_EVENTS) != events_topic("inventory").partitions:
                return False
            fresh = TopicReader(stack.bootstrap_servers, INVENTORY_EVENTS)
            try:
                return len(skus_on(fresh)) == 11
            finally:
                fresh.close()

        eventually(republished, timeout=90, what="the store published again on the new broker")
        counts = partition_counts(stack.bootstrap_servers)
        assert counts[INVENTORY_MOVEMENTS.name] == INVENTORY_MOVEMENTS.partitions
        assert "publishing the store from the start" in log_of(inventory)

        # What the relay published for this life of the broker is the whole store in store order
        # on every partition (a relay that starts again repeats what followed its position);
        # anything else on the topic comes again among it.
        life = asyncio.run(BrokerIncarnation(stack.bootstrap_servers, client_id="test").marked())
        fresh = TopicReader(stack.bootstrap_servers, INVENTORY_EVENTS)
        try:
            records = fresh.poll()
        finally:
            fresh.close()
        this_life = [r for r in records if r.headers.get(BROKER_INCARNATION_HEADER) == life]
        strays = [r for r in records if r.headers.get(BROKER_INCARNATION_HEADER) != life]
        assert {r.json()["payload"]["sku"] for r in this_life} == {
            f"RELAY-{number}" for number in range(11)
        }
        by_partition: dict[int, list[int]] = {}
        for record in this_life:
            by_partition.setdefault(record.partition, []).append(
                int(record.headers["notification_id"])
            )
        for positions in by_partition.values():
            assert list(dict.fromkeys(positions)) == sorted(set(positions)), positions
        event_ids = {r.json()["event_id"] for r in this_life}
        assert {r.json()["event_id"] for r in strays} <= event_ids
    finally:
        inventory.stop()


async def relay_on(
    application: InventoryApplication,
    location: PostgresLocation,
    stack: Stack,
    pool: Any,
    *,
    batch_size: int = 100,
    check_seconds: float = 5.0,
) -> tuple[Relay, AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap_servers, acks="all")
    await producer.start()
    relay = Relay(
        producer_name="inventory",
        application=application,
        translate=translators.to_contract,
        producer=producer,
        pool=pool,
        leadership=Leadership(location, f"relay:{INVENTORY_EVENTS}", retry_seconds=0.2),
        incarnation=BrokerIncarnation(
            stack.bootstrap_servers, client_id="test", check_seconds=check_seconds
        ),
        topic=INVENTORY_EVENTS,
        batch_size=batch_size,
    )
    return relay, producer


async def wait_for(check: Callable[[], Awaitable[bool]], what: str, within: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


RECEIPT = Receipt(location="WH-A", quantity=1, reason="initial-count", actor="test")


async def inventory_store(location: PostgresLocation) -> tuple[InventoryApplication, Any]:
    """A fresh inventory store with its relay table, and a pool on it for relays."""
    await ensure_database(location)
    application = InventoryApplication(location, SalesChannels(buffers=()))
    pool = await asyncpg.create_pool(min_size=1, max_size=2, **location.asyncpg_kwargs())
    await create_relay_table(pool)
    return application, pool


async def test_status_shows_the_lag_until_the_leader_has_published_and_who_leads(
    stack: Stack,
) -> None:
    location = store_of(stack, "relaystatus")
    application, pool = await inventory_store(location)
    for number in range(5):
        application.receive_stock(f"STATUS-{number}", RECEIPT)
    (first, first_producer), (second, second_producer) = [
        await relay_on(application, location, stack, pool) for _ in range(2)
    ]
    tasks: list[asyncio.Task[None]] = []
    try:
        idle = await first.status()
        assert (idle["alive"], idle["leader"], idle["lag"]) == (False, False, 5)
        assert idle["oldest_unpublished_seconds"] > 0
        assert exported(first, idle)[RELAY_LAG] == 5
        assert exported(first, idle)[RELAY_OLDEST] > 0

        tasks.append(asyncio.create_task(first.keep_running()))
        await wait_for(lambda: _caught_up(first), "the first relay to publish the store")
        tasks.append(asyncio.create_task(second.keep_running()))
        await asyncio.sleep(0.5)  # the second relay tried to lead, and waits
        assert await first.status() == {
            "alive": True,
            "leader": True,
            "lag": 0,
            "oldest_unpublished_seconds": 0.0,
        }
        caught_up = exported(first, await first.status())
        assert (caught_up[RELAY_LAG], caught_up[RELAY_OLDEST]) == (0, 0), "as /metrics shows it"
        follower = await second.status()
        assert (follower["alive"], follower["leader"], follower["lag"]) == (True, False, 0)

        tasks[0].cancel()  # the leader stops: its session ends, the follower takes over
        application.receive_stock("STATUS-5", RECEIPT)
        await wait_for(lambda: _caught_up(second), "the second relay to take over")
        assert second.published == 1
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for producer in (first_producer, second_producer):
            await producer.stop()
        await pool.close()
        application.close()


async def test_a_backlog_goes_out_page_by_page_with_what_is_stored_meanwhile_once_and_at_once(
    stack: Stack,
) -> None:
    """The relay reads the next page while it publishes one: events committed meanwhile are
    published too, each once, without waiting for the relay's idle check (a minute here)."""
    location = store_of(stack, "relaypages")
    application, pool = await inventory_store(location)
    for number in range(40):
        application.receive_stock(f"PAGE-{number}", RECEIPT)
    relay, producer = await relay_on(
        application, location, stack, pool, batch_size=7, check_seconds=60
    )
    reader = TopicReader(stack.bootstrap_servers, INVENTORY_EVENTS)
    task = asyncio.create_task(relay.keep_running())
    try:
        for number in range(40, 80):
            await asyncio.to_thread(application.receive_stock, f"PAGE-{number}", RECEIPT)
        await wait_for(lambda: _caught_up(relay), "every page published", within=20)

        def published() -> list[str]:
            skus = (str(event["payload"].get("sku", "")) for event in reader.events())
            return [sku for sku in skus if sku.startswith("PAGE-")]

        await wait_for(lambda: asyncio.to_thread(lambda: len(published()) >= 80), "80 on the topic")
        assert sorted(published()) == sorted(f"PAGE-{number}" for number in range(80))
    finally:
        await shut_down(task, reader, producer, pool, application)


async def test_a_message_kept_beside_its_event_goes_out_as_the_relay_would_have_made_it(
    stack: Stack,
) -> None:
    """Events stored with their message (`keep_message`: alone, or in a unit of work, which
    keeps none for what a rolled-back savepoint undid) go out as kept; events stored before,
    without one, are made by the relay from the stored event: one topic, in store order, the same
    bytes either way, each with its position and the broker life it was published for."""
    location = store_of(stack, "relaykept")
    application, pool = await inventory_store(location)
    for number in range(3):
        application.receive_stock(f"KEPT-{number}", RECEIPT)
    application.keep_message = outbox_writer("inventory", translators.to_contract)
    for number in range(3, 5):
        application.receive_stock(f"KEPT-{number}", RECEIPT)
    with application.unit_of_work():
        application.receive_stock("KEPT-5", RECEIPT)
        with contextlib.suppress(LookupError), application.all_or_nothing():
            application.receive_stock("UNDONE", RECEIPT)
            raise LookupError("undo it")
        application.receive_stock("KEPT-6", RECEIPT)
    stored = await pool.fetch(
        "SELECT e.notification_id, m.notification_id IS NOT NULL AS kept "
        "FROM inventoryapplication_events AS e "
        "LEFT JOIN inventoryapplication_events_messages AS m USING (notification_id) "
        "ORDER BY e.notification_id"
    )
    assert [row["kept"] for row in stored] == [False] * 3 + [True] * 4
    relay, producer = await relay_on(application, location, stack, pool)
    reader = TopicReader(stack.bootstrap_servers, INVENTORY_EVENTS)
    task = asyncio.create_task(relay.keep_running())
    try:
        await wait_for(lambda: _caught_up(relay), "the store published")
        await wait_for(lambda: asyncio.to_thread(lambda: len(reader.poll()) >= 7), "7 records")
        records = sorted(reader.poll(), key=lambda record: int(record.headers["notification_id"]))
        assert [int(record.headers["notification_id"]) for record in records] == [
            row["notification_id"] for row in stored
        ]
        life = await BrokerIncarnation(stack.bootstrap_servers, client_id="test").marked()
        for record, notification in zip(
            records, application.recorder.select_notifications(start=1, limit=7), strict=True
        ):
            domain_event = application.mapper.to_domain_event(notification)
            made = message_for(
                "inventory",
                domain_event,
                translators.to_contract(domain_event),
                position=notification.id,
            )
            assert (record.key, record.value) == (made.key, made.value)
            assert record.headers == {
                **{name: value.decode() for name, value in made.headers},
                BROKER_INCARNATION_HEADER: life,
            }
        assert [record.json()["payload"]["sku"] for record in records] == [
            f"KEPT-{number}" for number in range(7)
        ]
    finally:
        await shut_down(task, reader, producer, pool, application)


async def shut_down(
    task: asyncio.Task[None],
    reader: TopicReader,
    producer: AIOKafkaProducer,
    pool: Any,
    application: InventoryApplication,
) -> None:
    """Stop a relay's task, then close what its test opened."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    reader.close()
    await producer.stop()
    await pool.close()
    application.close()


def exported(relay: Relay, status: dict[str, Any]) -> dict[str, float]:
    """The relay's figures as its service's `/metrics` serves them, from `status`."""
    collector = StatusCollector("inventory")
    collector.checks = {"relays": {relay.topic: status}}
    return {
        sample.name: sample.value
        for family in collector.collect()
        for sample in family.samples
        if sample.labels.get("topic") == relay.topic
    }


async def _caught_up(relay: Relay) -> bool:
    status = await relay.status()
    return bool(status["leader"] and status["lag"] == 0)


@dataclass
class CrashingStack(Stack):
    """The stack's settings, plus a crash point for the processes started on it."""

    crash_at: str = ""

    def env(self) -> dict[str, str]:
        return super().env() | {CRASH_AT_VARIABLE: self.crash_at}


def test_a_relay_killed_after_the_ack_before_its_position_publishes_again_and_loses_nothing(
    stack: Stack,
) -> None:
    crashing = ServiceProcess(
        "inventory", CrashingStack(**vars(stack), crash_at="relay.after-publish")
    )
    crashing.start()
    try:
        # Its relay publishes the receipt, then dies: perhaps before the answer is out.
        with contextlib.suppress(OSError, http.client.HTTPException):
            receive(crashing, range(0, 1))
        assert crashing.process is not None
        assert crashing.process.wait(60) == CRASH_EXIT_CODE
    finally:
        crashing.stop()
    # Inventory has two relays (events and movements); whichever passed the crash point first had
    # its batch acknowledged by the broker and no position saved.
    readers = [TopicReader(stack.bootstrap_servers, topic) for topic in PUBLISHED_TOPICS]
    try:
        eventually(
            lambda: any(reader.events() for reader in readers),
            what="the receipt published before the crash",
        )
        restarted = ServiceProcess("inventory", stack).start()
        try:
            receive(restarted, range(1, 3))
            for reader in readers:
                eventually(shows_skus(reader, 3), timeout=60, what=f"every SKU on {reader.topic}")
            assert any(repeated(reader) for reader in readers), "published again after the crash"
        finally:
            restarted.stop()
    finally:
        for reader in readers:
            reader.close()
