"""Kafka plumbing the simulators share: settings, clients, reading envelopes, committing offsets.

The simulators commit an offset only when everything a message started is finished (a parcel's
last tracking scan published, a shipment shipped or cancelled). A crash therefore loses nothing: the
unfinished messages are read again and their work is done again, which Unitrail tolerates because
every confirmation and scan may be repeated.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Container, Hashable, Iterable
from typing import Any, Literal, TypeAlias

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.envelope import Envelope
from services.runtime.fetch_wait import FetchWait
from services.runtime.kafka import client_security, header_value, partition_ends

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
        default=50,
        ge=0,
        validation_alias=AliasChoices("UNITRAIL_KAFKA_FETCH_MAX_WAIT_MS"),
        description="Longest wait of a fetch for new messages.",
    )
    kafka_idle_fetch_max_wait_ms: int = Field(
        default=3_000,
        ge=0,
        validation_alias=AliasChoices("UNITRAIL_KAFKA_IDLE_FETCH_MAX_WAIT_MS"),
        description="Fetch wait after a quiet spell (see services/runtime/fetch_wait.py).",
    )
    kafka_quiet_after_seconds: float = Field(
        default=5.0,
        gt=0,
        validation_alias=AliasChoices("UNITRAIL_KAFKA_QUIET_AFTER_SECONDS"),
        description="How long without a message before a consumer fetches with the idle wait.",
    )
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
        **client_security(),
    )


def group_consumer_for(settings: KafkaSettings, topic: str, group_id: str) -> AIOKafkaConsumer:
    """A member of `group_id` reading `topic` from the committed offsets (else the beginning);
    offsets are committed by the caller, when the work a message started is done."""
    return AIOKafkaConsumer(
        topic,
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
    messages whose work was not finished.
    """

    def __init__(self) -> None:
        self._open: dict[Hashable, tuple[int, int]] = {}
        self._next: dict[int, int] = {}

    def consumed(self, partition: int, offset: int) -> None:
        """A message was handled (whatever it started may still be open)."""
        self._next[partition] = max(self._next.get(partition, 0), offset + 1)

    def opened(self, key: Hashable, partition: int, offset: int) -> None:
        """Work `key` started with this message; a repeat keeps the first offset."""
        self._open.setdefault(key, (partition, offset))

    def closed(self, key: Hashable) -> None:
        """Work `key` is finished (unknown keys are ignored)."""
        self._open.pop(key, None)

    def is_open(self, key: Hashable) -> bool:
        return key in self._open

    def committable(self) -> dict[int, int]:
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


async def consume_group(
    consumer: AIOKafkaConsumer,
    topic: str,
    handle: Callable[[Record], Awaitable[None]],
    tracker: OffsetTracker,
    stop: asyncio.Event,
    settings: KafkaSettings,
    look_ahead: Callable[[list[Record]], Awaitable[None]] | None = None,
) -> None:
    """Hand every record to `handle`, in order, and commit what `tracker` allows, until `stop`.
    `look_ahead`, if given, sees each fetched batch before its records are handled (to learn,
    say, that work a record asks for was finished further on)."""
    committed: dict[int, int] = {}
    fetch_wait = fetch_wait_for(settings, consumer)
    while not stop.is_set():
        batches = await consumer.getmany(timeout_ms=300)
        fetch_wait.observed(sum(len(records) for records in batches.values()))
        for records in batches.values():
            if look_ahead is not None:
                await look_ahead(records)
            for record in records:
                await handle(record)
                tracker.consumed(record.partition, record.offset)
        due = {p: o for p, o in tracker.committable().items() if committed.get(p) != o}
        if not due:
            continue
        try:
            await consumer.commit({TopicPartition(topic, p): o for p, o in due.items()})
        except KafkaError as error:
            # A rebalance or an outage: the next round commits again; at worst some messages are
            # read twice, which the simulators (and Unitrail) tolerate.
            log.warning("offset commit failed", topic=topic, error=str(error))
        else:
            committed.update(due)


class TopicFollower:
    """Reads a whole topic from its beginning, without a consumer group, and keeps up with it.

    For knowledge rebuilt at every start (a 3PL's shelves from inventory's events); `caught_up`
    is set once everything that was on the topic at start has been read.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        topic: str,
        handle: Callable[[Record], None],
        *,
        client_id: str,
    ) -> None:
        self._settings = settings
        self._topic = topic
        self._handle = handle
        self._client_id = client_id
        self.caught_up = asyncio.Event()

    async def run(self) -> None:
        """Follow the topic until cancelled."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._settings.kafka_bootstrap_servers,
            group_id=None,
            client_id=self._client_id,
            enable_auto_commit=False,
            fetch_max_wait_ms=self._settings.kafka_fetch_max_wait_ms,
            **client_security(),
        )
        await consumer.start()
        try:
            partitions = await self._partitions(consumer)
            consumer.assign(partitions)
            starts: dict[Any, int] = await consumer.beginning_offsets(partitions)
            targets = await partition_ends(consumer, starts)
            for partition, start in starts.items():
                consumer.seek(partition, start)
            pending = {tp.partition: end for tp, end in targets.items() if end > starts[tp]}
            if not pending:
                self.caught_up.set()
            fetch_wait = fetch_wait_for(self._settings, consumer)
            while True:
                batches = await consumer.getmany(timeout_ms=300)
                fetch_wait.observed(sum(len(records) for records in batches.values()))
                for records in batches.values():
                    for record in records:
                        self._handle(record)
                        if record.offset + 1 >= pending.get(record.partition, 0):
                            pending.pop(record.partition, None)
                if not pending and not self.caught_up.is_set():
                    log.info("caught up", topic=self._topic)
                    self.caught_up.set()
        finally:
            await consumer.stop()

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        while True:
            await consumer.topics()  # refreshes the metadata
            found = consumer.partitions_for_topic(self._topic)
            if found:
                return [TopicPartition(self._topic, partition) for partition in sorted(found)]
            log.warning("topic not found yet", topic=self._topic)
            await asyncio.sleep(1)


async def cancel_and_wait(tasks: Iterable[asyncio.Task[None]]) -> None:
    """Cancel background work (journeys, returns on their way) and wait until it has stopped; its
    messages stay uncommitted, so the next start does it again."""
    pending = list(tasks)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
