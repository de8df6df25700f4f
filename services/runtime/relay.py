"""The transactional outbox: the event store's notification log, published to Kafka.

Events are committed to the store first; the relay then publishes every notification, in order, to the
service's events topic, keyed by aggregate id, and records how far it got. It wakes on the store's
LISTEN/NOTIFY signal. After a crash it resumes from the last recorded position, so an event may be
published twice, never lost; consumers recognise the repeat by (producer, aggregate id, version).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from eventsourcing.persistence import Notification

from contracts.base import IntegrationEvent
from contracts.envelope import Envelope
from contracts.topics import Topic
from services.runtime.eventstore import ServiceApplication
from services.runtime.idempotency import is_bookkeeping

Translator = Callable[[Any], IntegrationEvent]
"""Maps a domain event of the service to its public contract (a pure function, `translators.py`)."""

FeedTranslator = Callable[[Any], IntegrationEvent | None]
"""Maps a domain event to what a feed publishes of it; None: nothing (the event is skipped)."""


@dataclass(frozen=True)
class Feed:
    """Another topic the service's stored events are published on, translated for other readers
    (e.g. inventory's movements for finance): a relay of its own, with the same guarantees as the
    events topic (after commit, in store order, resumable from its own position, at least once).

    Its envelopes' event ids name the feed, so they differ from the same events' on the events
    topic; aggregate id and version are the stored event's (not consecutive when events are
    skipped)."""

    topic: Topic
    translate: FeedTranslator
    key: Callable[[Any], str] | None = None
    """The message key of a translated event, when the topic's readers key by something else than
    the aggregate id (the default); it must keep one aggregate's events on one partition."""


log = structlog.get_logger(__name__)

POSITION_TABLE = """
CREATE TABLE IF NOT EXISTS relay_position (
    topic text PRIMARY KEY,
    notification_id bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
)
"""


def envelope_for(
    producer: str, domain_event: Any, payload: IntegrationEvent, feed: str | None = None
) -> Envelope:
    """Wrap a translated domain event in the envelope consumers rely on (for `feed`, if not the
    events topic)."""
    return Envelope.of(
        payload,
        producer=producer,
        aggregate_id=domain_event.originator_id,
        aggregate_version=domain_event.originator_version,
        occurred_at=domain_event.timestamp,
        correlation_id=domain_event.correlation_id,
        causation_id=domain_event.causation_id,
        feed=feed,
    )


async def create_relay_table(pool: asyncpg.Pool) -> None:
    await pool.execute(POSITION_TABLE)


async def load_position(pool: asyncpg.Pool, topic: str) -> int:
    value = await pool.fetchval(
        "SELECT notification_id FROM relay_position WHERE topic = $1", topic
    )
    return int(value or 0)


async def save_position(pool: asyncpg.Pool, topic: str, notification_id: int) -> None:
    await pool.execute(
        "INSERT INTO relay_position (topic, notification_id) VALUES ($1, $2) "
        "ON CONFLICT (topic) DO UPDATE SET notification_id = excluded.notification_id, "
        "updated_at = now()",
        topic,
        notification_id,
    )


class Relay:
    """Publishes a service's recorded events to its topic, resuming where it stopped."""

    def __init__(
        self,
        *,
        producer_name: str,
        application: ServiceApplication,
        translate: FeedTranslator,
        producer: AIOKafkaProducer,
        pool: asyncpg.Pool,
        topic: str,
        batch_size: int,
        feed: bool = False,
        key: Callable[[Any], str] | None = None,
    ) -> None:
        """`feed`: the topic is a feed (`Feed`), not the events topic: its envelopes' event ids
        name it, and events translated to None are skipped (the position still moves past them).
        """
        self._producer_name = producer_name
        self._application = application
        self._translate = translate
        self._producer = producer
        self._pool = pool
        self._topic = topic
        self._batch_size = batch_size
        self._feed = topic if feed else None
        self._key = key
        self.published = 0

    async def run(self) -> None:
        """Publish until cancelled."""
        position = await load_position(self._pool, self._topic)
        log.info("relay started", topic=self._topic, position=position)
        # The library's subscription blocks while it waits for NOTIFY, so it runs on a thread of its
        # own and hands notifications over through a bounded queue; the publisher takes whatever
        # has accumulated as one batch.
        handover: queue.Queue[Notification | BaseException | None] = queue.Queue(
            maxsize=self._batch_size * 4
        )
        subscription = self._application.recorder.subscribe(gt=position)
        stopping = threading.Event()

        def pump() -> None:
            try:
                for notification in subscription:
                    if not _put(handover, notification, stopping):
                        return
            except BaseException as error:  # the publisher must learn why the pump stopped
                _put(handover, error, stopping)

        pump_thread = threading.Thread(target=pump, name=f"relay-{self._topic}", daemon=True)
        pump_thread.start()
        try:
            while True:
                batch = [await asyncio.to_thread(handover.get)]
                while len(batch) < self._batch_size:
                    try:
                        batch.append(handover.get_nowait())
                    except queue.Empty:
                        break
                notifications = [item for item in batch if isinstance(item, Notification)]
                if notifications:
                    await self._publish(notifications)
                    await save_position(self._pool, self._topic, notifications[-1].id)
                    self.published += len(notifications)
                for item in batch:
                    if isinstance(item, BaseException):
                        raise item
        finally:
            stopping.set()
            subscription.stop()
            with contextlib.suppress(queue.Full):
                handover.put_nowait(None)  # wakes a publisher thread still waiting in get()
            await asyncio.to_thread(pump_thread.join, 5)

    async def _publish(self, notifications: list[Notification]) -> None:
        deliveries = []
        for notification in notifications:
            domain_event = self._application.mapper.to_domain_event(notification)
            if is_bookkeeping(domain_event):
                continue
            payload = self._translate(domain_event)
            if payload is None:
                continue
            envelope = envelope_for(self._producer_name, domain_event, payload, self._feed)
            deliveries.append(
                await self._producer.send(
                    self._topic,
                    value=envelope.model_dump_json().encode(),
                    key=(self._key(payload) if self._key else str(envelope.aggregate_id)).encode(),
                    headers=[
                        ("event_type", envelope.event_type.encode()),
                        ("correlation_id", envelope.correlation_id.encode()),
                    ],
                )
            )
        await asyncio.gather(*deliveries)
        log.debug("relay published", topic=self._topic, count=len(notifications))


def _put(
    handover: queue.Queue[Notification | BaseException | None],
    item: Notification | BaseException,
    stopping: threading.Event,
) -> bool:
    """Wait for room in the queue unless the relay is stopping; False when it is."""
    while not stopping.is_set():
        try:
            handover.put(item, timeout=0.5)
            return True
        except queue.Full:
            continue
    return False
