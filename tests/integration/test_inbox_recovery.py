"""A consumer that meets an error nothing expected keeps consuming: the batch is consumed again
after it joins the group afresh, and applied once; an offset committed in the broker's last life
skips nothing on the new one. A real broker; the service's application on the store's in-memory
recorders (the database's own outages are proven in `tests/faults`), or on a real Postgres where
the consumer keeps its positions there."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.structs import OffsetAndMetadata
from structlog.testing import capture_logs

from contracts.channel import order_id_for
from contracts.topics import CHANNEL_ORDERS
from infra.embedded import EmbeddedBroker, free_port
from services.order.application import OrderApplication, UnknownOrder
from services.order.config import OrderSettings
from services.order.domain import OrderStatus
from services.order.handlers import register_handlers
from services.runtime.consumer import Outcome
from services.runtime.database import PostgresLocation, ensure_database
from services.runtime.inbox import KafkaInbox
from services.runtime.positions import ConsumedPositions
from services.runtime.topics import BrokerIncarnation, ensure_topics
from tests.component.inbox import inbox_of
from tests.integration import backends
from tests.integration.harness import channel_order


def placed(orders: OrderApplication, order_id: uuid.UUID) -> bool:
    try:
        orders.get_order(order_id)
    except UnknownOrder:
        return False
    return True


async def test_a_consumer_failing_unexpectedly_joins_again_and_applies_the_batch_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with backends.broker() as bootstrap:
        await ensure_topics(bootstrap)
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
        monkeypatch.setenv("UNITRAIL_KAFKA_SESSION_TIMEOUT_MS", "3000")
        with inbox_of("order", OrderApplication(None), register_handlers) as box:
            handle_batch = box.consumer.handle_batch
            failed: list[int] = []

            async def fails_the_first_time(
                records: Sequence[ConsumerRecord[bytes, bytes]],
            ) -> list[Outcome]:
                if not failed:
                    failed.append(len(records))
                    raise RuntimeError("nothing expected this")
                return await handle_batch(records)

            box.consumer.handle_batch = fails_the_first_time  # type: ignore[method-assign]
            inbox = KafkaInbox(box.consumer, OrderSettings())
            producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
            await producer.start()
            with capture_logs() as logs:
                await inbox.start()
                try:
                    message = json.dumps(channel_order("7001")).encode()
                    await producer.send_and_wait("channel.orders.v1", message, key=b"webshop:7001")
                    order_id = order_id_for("webshop", "7001")
                    deadline = time.monotonic() + 60
                    while not placed(box.application, order_id):
                        assert time.monotonic() < deadline, "the order was never placed"
                        assert inbox.alive, "the consumer stopped"
                        await asyncio.sleep(0.2)
                    order = box.application.get_order(order_id)
                    assert (order.status, order.version) == (OrderStatus.PAID, 2)
                    assert failed == [1]
                    assert inbox.alive
                finally:
                    await inbox.stop()
                    await producer.stop()
    assert box.dead_letters == []
    (failure,) = [entry for entry in logs if entry["event"].startswith("consuming failed")]
    assert failure["error"] == "RuntimeError('nothing expected this')"


async def publish_all(bootstrap: str, numbers: range) -> dict[TopicPartition, int]:
    """Publish a channel order for each number; the next offset after them, by partition."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    ends: dict[TopicPartition, int] = {}
    try:
        for number in numbers:
            message = json.dumps(channel_order(str(number))).encode()
            sent = await producer.send_and_wait(
                CHANNEL_ORDERS.name, message, key=f"webshop:{number}".encode()
            )
            partition = TopicPartition(sent.topic, sent.partition)
            ends[partition] = max(ends.get(partition, 0), sent.offset + 1)
    finally:
        await producer.stop()
    return ends


async def place_all(
    inbox: KafkaInbox, orders: OrderApplication, bootstrap: str, numbers: range
) -> None:
    """Publish a channel order for each number and wait until every one is placed."""
    await publish_all(bootstrap, numbers)
    deadline = time.monotonic() + 60
    for number in numbers:
        while not placed(orders, order_id_for("webshop", str(number))):
            assert time.monotonic() < deadline, f"order {number} was never placed"
            assert inbox.alive, "the consumer stopped"
            await asyncio.sleep(0.2)


async def committed_offsets(bootstrap: str, group: str) -> dict[TopicPartition, OffsetAndMetadata]:
    """The group's committed offsets on the channel's partitions that have one."""
    partitions = [TopicPartition(CHANNEL_ORDERS.name, p) for p in range(CHANNEL_ORDERS.partitions)]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group, partitions=partitions)
    finally:
        await admin.close()
    return {tp: offset for tp, offset in offsets.items() if offset.offset >= 0}


async def commit_without_membership(
    bootstrap: str, group: str, offsets: dict[TopicPartition, OffsetAndMetadata]
) -> None:
    """Commit `offsets` for the group with no generation, as a member the broker forgot sends a
    commit (its generation reset) before it joins again: an empty group takes it."""
    client = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await client.start()
    try:
        client.assign(list(offsets))
        await client.commit(offsets)
    finally:
        await client.stop()


async def test_an_offset_committed_in_the_broker_s_last_life_skips_nothing_on_the_new_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A commit of the last life can reach the new broker: the member's commit retried until the
    new broker answers, after it forgot the member, is taken by the still empty group. Its offset
    is past the end of the new, shorter log: a member starting there would wait while every
    channel order published below it went by."""
    broker = EmbeddedBroker(free_port())
    bootstrap = broker.start()
    try:
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
        monkeypatch.setenv("UNITRAIL_KAFKA_SESSION_TIMEOUT_MS", "3000")
        last_life = await BrokerIncarnation(bootstrap, client_id="test").current()
        with inbox_of("order", OrderApplication(None), register_handlers) as box:
            incarnation = BrokerIncarnation(bootstrap, client_id="order-test")
            inbox = KafkaInbox(box.consumer, OrderSettings(), incarnation)
            await inbox.start()
            try:
                await place_all(inbox, box.application, bootstrap, range(8001, 8007))
            finally:
                await inbox.stop()
        applied = await committed_offsets(bootstrap, "order")
        assert sum(offset.offset for offset in applied.values()) == 6

        broker.stop()
        broker.start()  # same port, empty
        new_life = await BrokerIncarnation(bootstrap, client_id="test").current()
        assert new_life != last_life
        stale = {tp: OffsetAndMetadata(100, "") for tp in applied}
        await commit_without_membership(bootstrap, "order", stale)
        assert await committed_offsets(bootstrap, "order") == stale

        with inbox_of("order", OrderApplication(None), register_handlers) as box:
            incarnation = BrokerIncarnation(bootstrap, client_id="order-test")
            inbox = KafkaInbox(box.consumer, OrderSettings(), incarnation)
            with capture_logs() as logs:
                await inbox.start()
                try:
                    await place_all(inbox, box.application, bootstrap, range(9001, 9004))
                finally:
                    await inbox.stop()
        assert box.dead_letters == []
        assert any(
            entry["event"].startswith("committed offset past the log's end") for entry in logs
        )
        # What the member applied of this life is committed over the last life's offsets.
        assert (
            sum(
                offset.offset
                for offset in (await committed_offsets(bootstrap, "order")).values()
                if offset.offset < 100
            )
            == 3
        )
    finally:
        broker.stop()


async def commit_as_a_member(
    bootstrap: str, group: str, offsets: dict[TopicPartition, OffsetAndMetadata]
) -> None:
    """Commit `offsets` as a member of the group. Kafka takes a commit without a generation into a
    group that is empty; the embedded broker only into a group it does not know yet, so a member
    joins to carry it: the group then holds it as it would hold the last life's."""
    client = AIOKafkaConsumer(CHANNEL_ORDERS.name, bootstrap_servers=bootstrap, group_id=group)
    await client.start()
    try:
        deadline = time.monotonic() + 30
        while not set(offsets) <= client.assignment():
            assert time.monotonic() < deadline, "the member was never given the partitions"
            await client.getmany(timeout_ms=200)
        await client.commit(offsets)
    finally:
        await client.stop()


async def test_a_commit_of_the_last_life_within_the_new_log_skips_nothing(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last life's commit may come after the new life's members committed, while the group
    is empty, at an offset the new log has reached: nothing about it tells it from this life's.
    A member that starts later goes no further than what this life recorded in the service's
    database, so what was published meanwhile is applied."""
    location = PostgresLocation.from_dsn(postgres_dsn).with_database(
        f"inbox_{uuid.uuid4().hex[:8]}"
    )
    await ensure_database(location)
    pool = await asyncpg.create_pool(min_size=1, max_size=2, **location.asyncpg_pool_kwargs())
    positions = ConsumedPositions(pool)
    await positions.create_table()
    orders = await asyncio.to_thread(OrderApplication, location)
    broker = EmbeddedBroker(free_port())
    bootstrap = broker.start()
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
    monkeypatch.setenv("UNITRAIL_KAFKA_SESSION_TIMEOUT_MS", "3000")

    async def run_a_member(numbers: range) -> None:
        with inbox_of("order", orders, register_handlers) as box:
            await asyncio.to_thread(box.consumer.dead_letters.create_table)
            incarnation = BrokerIncarnation(bootstrap, client_id="order-test")
            inbox = KafkaInbox(box.consumer, OrderSettings(), incarnation, positions)
            await inbox.start()
            try:
                await place_all(inbox, orders, bootstrap, numbers)
            finally:
                await inbox.stop()
            assert box.dead_letters == []

    try:
        await run_a_member(range(8001, 8007))
        broker.stop()
        broker.start()  # same port, empty: the broker's next life
        await run_a_member(range(9001, 9004))

        # Published while no member runs; then the last life's commit lands in the group, within
        # the new log and past those orders.
        ends = await publish_all(bootstrap, range(9004, 9008))
        stale = {partition: OffsetAndMetadata(end, "") for partition, end in ends.items()}
        await commit_as_a_member(bootstrap, "order", stale)
        committed = await committed_offsets(bootstrap, "order")
        assert {partition: committed[partition] for partition in stale} == stale

        await run_a_member(range(9008, 9009))
        for number in range(9004, 9008):
            assert placed(orders, order_id_for("webshop", str(number))), f"order {number} skipped"
    finally:
        broker.stop()
        await pool.close()


class EmptyAssignments:
    """The embedded broker may answer a member's SyncGroup with no error and an empty assignment
    (a member the leader's assignment left out). aiokafka cannot read it: its group coordination
    ends for good, every fetch after raises that error again, and no partition comes to it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.armed = False
        self.given: list[bytes] = []
        join_complete = GroupCoordinator._on_join_complete

        async def emptied_when_armed(
            coordinator: GroupCoordinator,
            generation: int,
            member_id: str,
            protocol: str,
            assignment: bytes,
        ) -> None:
            if self.armed and coordinator.group_id == "order":
                self.armed = False
                self.given.append(assignment)
                assignment = b""
            await join_complete(coordinator, generation, member_id, protocol, assignment)

        monkeypatch.setattr(GroupCoordinator, "_on_join_complete", emptied_when_armed)


async def another_member(bootstrap: str, group: str, topic: str) -> AIOKafkaConsumer:
    """A member of `group` that follows only `topic`: joining, it makes the group rebalance."""
    member = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group)
    await member.start()
    return member


@pytest.mark.parametrize("when", ["joining first", "in a later rebalance"])
async def test_a_member_whose_group_coordination_ended_is_replaced_and_consumes(
    monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    broker = EmptyAssignments(monkeypatch)
    with backends.broker() as bootstrap:
        await ensure_topics(bootstrap)
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
        monkeypatch.setenv("UNITRAIL_KAFKA_SESSION_TIMEOUT_MS", "3000")
        with inbox_of("order", OrderApplication(None), register_handlers) as box:
            inbox = KafkaInbox(box.consumer, OrderSettings())
            rebalancing: AIOKafkaConsumer | None = None
            with capture_logs() as logs:
                broker.armed = when == "joining first"
                await inbox.start()
                try:
                    await place_all(inbox, box.application, bootstrap, range(7101, 7103))
                    if when == "in a later rebalance":
                        broker.armed = True
                        # A topic order does not follow: the new member takes none of its partitions.
                        rebalancing = await another_member(bootstrap, "order", "returns.events.v1")
                        deadline = time.monotonic() + 30
                        while broker.armed:
                            assert time.monotonic() < deadline, "the group never rebalanced"
                            await asyncio.sleep(0.1)
                    await place_all(inbox, box.application, bootstrap, range(7103, 7106))
                finally:
                    await inbox.stop()
                    if rebalancing is not None:
                        await rebalancing.stop()
    assert len(broker.given) == 1
    assert box.dead_letters == []
    events = [entry["event"] for entry in logs]
    replaced = (
        "could not join the group yet"
        if when == "joining first"
        else "the group member keeps failing: a new one joins"
    )
    assert replaced in events, events
