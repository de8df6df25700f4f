"""Kafka plumbing the simulators share: settings, clients, reading envelopes, committing offsets.

The simulators commit an offset only when everything a message started is finished (a parcel's
last tracking scan published, a shipment shipped or cancelled). A crash therefore loses nothing: the
unfinished messages are read again and their work is done again, which Unitrail tolerates because
every confirmation and scan may be repeated.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import (
    Awaitable,
    Callable,
    Container,
    Hashable,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.envelope import Envelope
from services.runtime.config import (
    FETCH_WAIT_OFF_THE_ORDER_PATH_MS,
    IDLE_FETCH_WAIT_OFF_THE_ORDER_PATH_MS,
    off_path_niceness_setting,
)
from services.runtime.fetch_wait import FetchWait
from services.runtime.kafka import client_security, header_value, partition_ends
from services.runtime.relay_messages import KeyPartitioner
from services.runtime.topics import published_for_another_life

log = structlog.get_logger(__name__)

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


class KafkaSettings(BaseSettings):
    """Broker and logging settings, shared with the services (the same variable names)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS"),
        description="Kafka bootstrap servers, comma separated.",
    )
    kafka_idempotence: bool = Field(
        default=True,
        validation_alias=AliasChoices("UNITRAIL_KAFKA_IDEMPOTENCE"),
        description="Idempotent producer; off for the embedded broker, which lacks InitProducerId.",
    )
    kafka_session_timeout_ms: int = Field(
        default=10_000,
        ge=1_000,
        validation_alias=AliasChoices("UNITRAIL_KAFKA_SESSION_TIMEOUT_MS"),
        description="How long a silent consumer keeps its partitions.",
    )
    kafka_fetch_max_wait_ms: int = Field(
        default=FETCH_WAIT_OFF_THE_ORDER_PATH_MS,
        ge=0,
        validation_alias=AliasChoices("UNITRAIL_KAFKA_FETCH_MAX_WAIT_MS"),
        description="Longest wait of a fetch for new messages while they flow: a warehouse's "
        "or a carrier's answer is not on a paying customer's path (see "
        "`services.runtime.config.busy_fetch_wait`).",
    )
    kafka_idle_fetch_max_wait_ms: int = Field(
        default=IDLE_FETCH_WAIT_OFF_THE_ORDER_PATH_MS,
        ge=0,
        validation_alias=AliasChoices("UNITRAIL_KAFKA_IDLE_FETCH_MAX_WAIT_MS"),
        description="Fetch wait after a quiet spell (see services/runtime/fetch_wait.py).",
    )
    kafka_quiet_after_seconds: float = Field(
        default=10.0,
        gt=0,
        validation_alias=AliasChoices("UNITRAIL_KAFKA_QUIET_AFTER_SECONDS"),
        description="How long without a message before a consumer's fetch wait starts to grow "
        "towards the idle wait (see services/runtime/fetch_wait.py).",
    )
    off_path_niceness: int = off_path_niceness_setting()
    """The simulated partners are never on the order path (a partner's systems are not on the
    machine that runs the stack)."""
    log_format: Literal["console", "json"] = Field(
        default="console", validation_alias=AliasChoices("UNITRAIL_LOG_FORMAT")
    )
    log_level: str = Field(default="info", validation_alias=AliasChoices("UNITRAIL_LOG_LEVEL"))


def producer_for(settings: KafkaSettings, client_id: str) -> AIOKafkaProducer:
    """A producer that waits for every replica, as the services' producers do."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=settings.kafka_idempotence,
        client_id=client_id,
        linger_ms=5,
        partitioner=KeyPartitioner(),  # a shipment's messages share its key: hashed once
        **client_security(),
    )


def group_consumer_for(
    settings: KafkaSettings, topics: Sequence[str], group_id: str
) -> AIOKafkaConsumer:
    """A member of `group_id` reading `topics` from the committed offsets (else the beginning);
    offsets are committed by the caller, when the work a message started is done."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group_id,
        client_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=max(100, settings.kafka_session_timeout_ms // 5),
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        **client_security(),
    )


async def publish_until_sent(
    producer: AIOKafkaProducer, topic: str, key: str, value: bytes, *, what: str
) -> None:
    """Send and wait for the broker's acknowledgement, retrying through broker outages: a
    confirmation that is due must not be dropped."""
    delay = 0.2
    while True:
        try:
            await producer.send_and_wait(topic, value, key=key.encode())
            return
        except KafkaError as error:
            log.warning("publish failed; retrying", what=what, error=str(error), retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def read_envelope(record: Record, wanted: Container[str] | None = None) -> Envelope | None:
    """The envelope a record carries, or None (logged) for anything else. With `wanted`, None
    also for an event of another type, known from the relay's `event_type` header without
    parsing the body: a simulator reads whole topics for a few of their event types, and
    parsing every envelope was most of its CPU after the broker client's."""
    if wanted is not None:
        event_type = header_value(record.headers, "event_type")
        if event_type is not None and event_type not in wanted:
            return None
    try:
        return Envelope.model_validate_json(record.value or b"")
    except ValidationError as error:
        log.warning(
            "not an envelope; skipped",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=str(error.errors()[:1]),
        )
        return None


class RecentIds:
    """The last `size` ids seen: recognises re-published events without growing forever."""

    def __init__(self, size: int = 100_000) -> None:
        self._size = size
        self._ids: OrderedDict[Hashable, None] = OrderedDict()

    def add(self, identity: Hashable) -> bool:
        """Remember `identity`; False when it was seen before."""
        if identity in self._ids:
            return False
        self._ids[identity] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return True


class OffsetTracker:
    """Which offset of each partition may be committed, given the work still open.

    Work (a shipment, a parcel) opens at the offset of the message that started it and closes when
    it is done. A partition's committable offset is the first offset of its oldest open work, or
    just past the last message consumed when nothing is open, so a restart reads again exactly the
    messages whose work was not finished. A partition is whatever names it uniquely: a number for
    one topic, a `TopicPartition` for several.
    """

    def __init__(self) -> None:
        self._open: dict[Hashable, tuple[Hashable, int]] = {}
        self._next: dict[Hashable, int] = {}

    def consumed(self, partition: Hashable, offset: int) -> None:
        """A message was handled (whatever it started may still be open)."""
        self._next[partition] = max(self._next.get(partition, 0), offset + 1)

    def opened(self, key: Hashable, partition: Hashable, offset: int) -> None:
        """Work `key` started with this message; a repeat keeps the first offset."""
        self._open.setdefault(key, (partition, offset))

    def closed(self, key: Hashable) -> None:
        """Work `key` is finished (unknown keys are ignored)."""
        self._open.pop(key, None)

    def is_open(self, key: Hashable) -> bool:
        return key in self._open

    def committable(self) -> dict[Hashable, int]:
        """Partition → offset that may be committed now."""
        positions = dict(self._next)
        for partition, offset in self._open.values():
            positions[partition] = min(positions.get(partition, offset), offset)
        return positions


def fetch_wait_for(settings: KafkaSettings, consumer: AIOKafkaConsumer) -> FetchWait:
    """Short fetch waits while messages flow, long ones at rest, as the services' consumers."""
    return FetchWait(
        consumer,
        busy_ms=settings.kafka_fetch_max_wait_ms,
        idle_ms=settings.kafka_idle_fetch_max_wait_ms,
        quiet_after_seconds=settings.kafka_quiet_after_seconds,
    )


Handle: TypeAlias = Callable[[Record], Awaitable[None]]
LookAhead: TypeAlias = Callable[[list[Record]], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """What one part of the simulators reads in a consumer group: a handler per topic, each record
    in order, and the tracker of its open work (keyed by `TopicPartition`). `look_ahead`, if
    given for a topic, sees each fetched batch of it before its records are handled (to learn,
    say, that work a record asks for was finished further on)."""

    handlers: Mapping[str, Handle]
    tracker: OffsetTracker
    look_ahead: Mapping[str, LookAhead] = field(default_factory=dict)


class GroupPart(Protocol):
    """A part of the simulators that consumes in a group: started before the group's first fetch
    (it may wait there, say until its followers caught up), stopped after its last."""

    @property
    def subscription(self) -> Subscription: ...

    @property
    def followers(self) -> Sequence[TopicFollower]:
        """Topics it follows whole (see `TopicFollower`); `start` may wait for them."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def consume_group(
    consumer: AIOKafkaConsumer,
    subscriptions: Sequence[Subscription],
    stop: asyncio.Event,
    settings: KafkaSettings,
    broker_life: str | None = None,
) -> None:
    """Hand every record to each subscription that reads its topic, in order, and commit what
    every one of their trackers allows, until `stop`: one consumer (one fetch loop the broker
    answers) for all the parts of a process. With `broker_life`, what relays published for
    another life of the broker is passed over (`published_for_another_life`)."""
    committed: dict[TopicPartition, int] = {}
    fetch_wait = fetch_wait_for(settings, consumer)
    while not stop.is_set():
        batches = await consumer.getmany(timeout_ms=300)
        fetch_wait.observed(sum(len(records) for records in batches.values()))
        for partition, records in batches.items():
            current = [
                record
                for record in records
                if not published_for_another_life(record.headers, broker_life)
            ]
            for subscription in subscriptions:
                handle = subscription.handlers.get(partition.topic)
                if handle is None:
                    continue
                look_ahead = subscription.look_ahead.get(partition.topic)
                if look_ahead is not None:
                    await look_ahead(current)
                for record in current:
                    await handle(record)
                # Handled or passed over, the whole batch is consumed.
                subscription.tracker.consumed(partition, records[-1].offset)
        due = {
            partition: offset
            for partition, offset in committable(subscriptions).items()
            if committed.get(partition) != offset
        }
        if not due:
            continue
        try:
            await consumer.commit(due)
        except KafkaError as error:
            # A rebalance or an outage: the next round commits again; at worst some messages are
            # read twice, which the simulators (and Unitrail) tolerate.
            log.warning("offset commit failed", partitions=len(due), error=str(error))
        else:
            committed.update(due)


def committable(subscriptions: Iterable[Subscription]) -> dict[TopicPartition, int]:
    """Partition → offset every subscription reading it may have committed: the lowest."""
    positions: dict[TopicPartition, int] = {}
    for subscription in subscriptions:
        for partition, offset in subscription.tracker.committable().items():
            assert isinstance(partition, TopicPartition), "a group's trackers name topics"
            positions[partition] = min(positions.get(partition, offset), offset)
    return positions


async def run_in_group(
    settings: KafkaSettings,
    group_id: str,
    parts: Sequence[GroupPart],
    stop: asyncio.Event,
    *,
    followers: Sequence[TopicFollower] = (),
    broker_life: str | None = None,
) -> None:
    """Run `parts` as one consumer group until `stop`: their followers (and `followers`) on one
    consumer without a group, their subscriptions on one group consumer; with `broker_life`, on
    what relays published for that life of the broker alone (see `consume_group`)."""
    following = [*followers, *(follower for part in parts for follower in part.followers)]
    follow = (
        asyncio.get_running_loop().create_task(
            follow_topics(settings, following, group_id, broker_life)
        )
        if following
        else None
    )
    started: list[GroupPart] = []
    try:
        for part in parts:
            await part.start()
            started.append(part)
        topics = sorted({topic for part in parts for topic in part.subscription.handlers})
        consumer = group_consumer_for(settings, topics, group_id)
        await consumer.start()
        log.info("consuming", topics=topics, group=group_id)
        try:
            await consume_group(
                consumer, [part.subscription for part in parts], stop, settings, broker_life
            )
        finally:
            await consumer.stop()
    finally:
        for part in reversed(started):
            await part.stop()
        if follow is not None:
            await cancel_and_wait([follow])


class TopicFollower:
    """A topic read whole from its beginning, without a consumer group, kept up with.

    For knowledge rebuilt at every start (a 3PL's shelves from inventory's events); `caught_up`
    is set once everything that was on the topic at start has been read. `follow_topics` reads
    every follower of a process with one consumer.
    """

    def __init__(self, topic: str, handle: Callable[[Record], None]) -> None:
        self.topic = topic
        self.handle = handle
        self.caught_up = asyncio.Event()


async def follow_topics(
    settings: KafkaSettings,
    followers: Sequence[TopicFollower],
    client_id: str,
    broker_life: str | None = None,
) -> None:
    """Follow every follower's topic with one consumer until cancelled (with `broker_life`, as
    `consume_group` does)."""
    by_topic = {follower.topic: follower for follower in followers}
    assert len(by_topic) == len(followers), "one follower per topic"
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=None,
        client_id=f"{client_id}-followers",
        enable_auto_commit=False,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        **client_security(),
    )
    await consumer.start()
    try:
        partitions = [tp for topic in by_topic for tp in await topic_partitions(consumer, topic)]
        consumer.assign(partitions)
        starts: dict[Any, int] = await consumer.beginning_offsets(partitions)
        targets = await partition_ends(consumer, starts)
        for partition, start in starts.items():
            consumer.seek(partition, start)
        pending = {tp: end for tp, end in targets.items() if end > starts[tp]}
        for follower in followers:
            catch_up_if_done(follower, pending)
        fetch_wait = fetch_wait_for(settings, consumer)
        while True:
            batches = await consumer.getmany(timeout_ms=300)
            fetch_wait.observed(sum(len(records) for records in batches.values()))
            for partition, records in batches.items():
                follower = by_topic[partition.topic]
                for record in records:
                    if not published_for_another_life(record.headers, broker_life):
                        follower.handle(record)
                if records and records[-1].offset + 1 >= pending.get(partition, 0):
                    pending.pop(partition, None)
                    catch_up_if_done(follower, pending)
    finally:
        await consumer.stop()


def catch_up_if_done(follower: TopicFollower, pending: Iterable[TopicPartition]) -> None:
    """Set the follower's `caught_up` once none of its topic's partitions is pending."""
    if not follower.caught_up.is_set() and all(tp.topic != follower.topic for tp in pending):
        log.info("caught up", topic=follower.topic)
        follower.caught_up.set()


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The topic's partitions, once the broker knows the topic."""
    while True:
        await consumer.topics()  # refreshes the metadata
        found = consumer.partitions_for_topic(topic)
        if found:
            return [TopicPartition(topic, partition) for partition in sorted(found)]
        log.warning("topic not found yet", topic=topic)
        await asyncio.sleep(1)


async def cancel_and_wait(tasks: Iterable[asyncio.Task[None]]) -> None:
    """Cancel background work (journeys, returns on their way) and wait until it has stopped; its
    messages stay uncommitted, so the next start does it again."""
    pending = list(tasks)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
