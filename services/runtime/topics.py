"""The broker's topics as the registry declares them, and which broker incarnation holds them.

Kafka is transport derived from the stores. The embedded broker keeps everything in memory, so a
restart brings it back empty: its topics gone (a client looking one up must not create it with the
broker's own partition count, see `services.runtime.kafka`), and everything the relays had
published gone with them, while their recorded positions say it was delivered.

The incarnation marker tells one broker life from the next: a one-partition topic whose record at
offset 0 is an id written by whoever first finds the topic missing or empty, after creating every
topic of the registry. Everyone takes the record at offset 0 as the incarnation, so two services
racing to write it agree on the first. A relay records the incarnation it published under beside
its position; finding another one, it publishes its store again from the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.structs import TopicPartition

import services.runtime.kafka  # noqa: F401  (no client of this process auto-creates a topic)
from contracts.topics import BROKER_INCARNATION, Topic, all_topics
from services.runtime.config import TopicSettings
from services.runtime.kafka import client_security, header_value

log = structlog.get_logger(__name__)

MARKER_READ_TIMEOUT_SECONDS = 10.0

BROKER_INCARNATION_HEADER = "broker_incarnation"
"""The header naming the broker life a relay published a record for (`BrokerIncarnation`). A relay
learns that the broker was replaced by an empty one only some time after, and what it publishes
meanwhile lands at the head of the new broker's topics, ahead of the store it then publishes again
from the start: a record whose stamp is not the broker's current life comes again in its place."""


def published_for_another_life(headers: Any, broker_life: str | None) -> bool:
    """Whether a relay published the record with `headers` for another life of the broker than
    `broker_life`, the one the reader reads (None: any). Read where it stands, ahead of the store
    published again, it would make a reader that follows positions (`notification_id`, an
    aggregate's versions) believe the topic had come further than it has; it comes again in its
    place."""
    if broker_life is None:
        return False
    stamp = header_value(headers, BROKER_INCARNATION_HEADER)
    return stamp is not None and stamp != broker_life


def new_topic(topic: Topic, topic_settings: TopicSettings) -> NewTopic:
    """The registry's topic, partitioned and replicated as `topic_settings` says; one carrying
    personal data in clear keeps messages no longer than its `personal_data_retention_ms`."""
    configs: dict[str, str] = {}
    if topic_settings.min_insync_replicas > 1:
        configs["min.insync.replicas"] = str(topic_settings.min_insync_replicas)
    if topic.personal_data:
        configs["retention.ms"] = str(topic_settings.personal_data_retention_ms)
    return NewTopic(
        topic.name,
        topic_settings.partitions_of(topic),
        topic_settings.replication_factor,
        topic_configs=configs or None,
    )


async def ensure_topics(
    bootstrap_servers: str,
    topics: list[Topic] | None = None,
    *,
    client_id: str = "unitrail-setup",
    topic_settings: TopicSettings = TopicSettings(),  # noqa: B008 (frozen: safe to share)
) -> list[str]:
    """Create every missing topic of `topics` (default: the registry) as `topic_settings` says;
    return the names created. A topic found with another partition count is
    logged, not changed: partitions cannot be removed, and adding some moves keys to other
    partitions."""
    wanted = topics if topics is not None else all_topics()
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, client_id=client_id, **client_security()
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [topic for topic in wanted if topic.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # created meanwhile by another
                await admin.create_topics([new_topic(topic, topic_settings) for topic in missing])
        present = [topic for topic in wanted if topic.name in existing]
        if present:
            await _warn_of_partition_counts(admin, present, topic_settings)
        return [topic.name for topic in missing]
    finally:
        await admin.close()


async def _warn_of_partition_counts(
    admin: AIOKafkaAdminClient, topics: list[Topic], topic_settings: TopicSettings
) -> None:
    described = await admin.describe_topics([topic.name for topic in topics])
    counts = {entry["topic"]: len(entry["partitions"]) for entry in described}
    for topic in topics:
        found = counts.get(topic.name)
        wanted = topic_settings.partitions_of(topic)
        if found is not None and found != wanted:
            log.error(
                "topic has another partition count than configured (UNITRAIL_KAFKA_PARTITIONS)",
                topic=topic.name,
                partitions=found,
                configured=wanted,
            )


class BrokerIncarnation:
    """The id of the broker's current life, read from the marker topic and checked at most every
    `check_seconds` (one per process: every relay of the service asks the same one)."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str,
        check_seconds: float = 5.0,
        topic_settings: TopicSettings = TopicSettings(),  # noqa: B008 (frozen: safe to share)
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._client_id = client_id
        self._topic_settings = topic_settings
        self.check_seconds = check_seconds
        self._value: str | None = None
        self._checked_at = -float("inf")
        self._lock = asyncio.Lock()

    async def current(self, *, fresh: bool = False) -> str:
        """The broker's incarnation id; read again when the last read is older than
        `check_seconds`, or when `fresh` (e.g. after a publish failed). A broker without one (new,
        or restarted empty) gets every registry topic and then a new id."""
        async with self._lock:
            age = time.monotonic() - self._checked_at
            if self._value is not None and not fresh and age < self.check_seconds:
                return self._value
            value = await self._read()
            if value is None:
                created = await ensure_topics(
                    self._bootstrap_servers,
                    client_id=self._client_id,
                    topic_settings=self._topic_settings,
                )
                await self._write(uuid.uuid4().hex)
                value = await self._read()
                log.warning("broker incarnation marked", incarnation=value, created=created)
                if value is None:
                    raise KafkaError("the broker incarnation marker was written but not read back")
            elif self._value is not None and value != self._value:
                # Another service marked the new life first; it created the topics then, but a
                # topic deleted since is created again here all the same.
                await ensure_topics(
                    self._bootstrap_servers,
                    client_id=self._client_id,
                    topic_settings=self._topic_settings,
                )
            if value != self._value:
                log.info("broker incarnation", incarnation=value, previous=self._value)
            self._value = value
            self._checked_at = time.monotonic()
            return value

    async def marked(self) -> str | None:
        """The id the broker carries now, read afresh; None without one. Creates nothing: for a
        process that only follows the broker's lives (the simulated partners)."""
        return await self._read()

    async def _read(self) -> str | None:
        """The record at offset 0 of the marker topic; None when the topic is missing or empty."""
        partition = TopicPartition(BROKER_INCARNATION.name, 0)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap_servers,
            client_id=self._client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=10,
            **client_security(),
        )
        await consumer.start()
        try:
            if BROKER_INCARNATION.name not in await consumer.topics():
                return None
            consumer.assign([partition])
            end = (await consumer.end_offsets([partition]))[partition]
            if end == 0:
                return None
            consumer.seek(partition, 0)
            record = await asyncio.wait_for(consumer.getone(partition), MARKER_READ_TIMEOUT_SECONDS)
            assert record.value is not None
            return bytes(record.value).decode()
        finally:
            await consumer.stop()

    async def _write(self, value: str) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap_servers,
            client_id=self._client_id,
            acks="all",
            **client_security(),
        )
        await producer.start()
        try:
            await producer.send_and_wait(BROKER_INCARNATION.name, value.encode(), partition=0)
        finally:
            await producer.stop()
