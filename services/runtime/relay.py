"""The transactional outbox: the event store's notification log, published to Kafka.

Events are committed to the store first; the relay then publishes every notification, in order, to the
service's events topic, keyed by aggregate id, and records how far it got. It wakes on the store's
LISTEN/NOTIFY signal. After a crash it resumes from the last recorded position, so an event may be
published twice, never lost; consumers recognise the repeat by (producer, aggregate id, version).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata
from asyncpg.pool import PoolConnectionProxy
from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.utils import resolve_topic

from contracts.base import IntegrationEvent
from contracts.envelope import Envelope
from contracts.topics import Topic
from services.runtime import tracing
from services.runtime.eventstore import ServiceApplication
from services.runtime.faults import crash_point
from services.runtime.idempotency import is_bookkeeping_class
from services.runtime.leadership import Leadership, Lease
from services.runtime.outages import asked_to_stop
from services.runtime.relay_messages import (
    KeyPartitioner,
    MessageWriter,
    OutgoingMessage,
    PartitionBatches,
    event_id_number,
    from_outbox,
    message_of,
)
from services.runtime.topics import BROKER_INCARNATION_HEADER, BrokerIncarnation

Translator = Callable[[Any], IntegrationEvent]
"""Maps a domain event of the service to its public contract (a pure function, `translators.py`)."""

FeedTranslator = Callable[[Any], IntegrationEvent | None]
"""Maps a domain event to what a feed publishes of it; None: nothing (the event is skipped). One
with an async `prepare(events)` is awaited with each batch's events before they are translated."""


def translates(translate: FeedTranslator, cls: type[Any]) -> bool:
    """Whether a feed's translator may publish something for events of class `cls`: false only
    for a `functools.singledispatch` translator without a function registered for it (its base,
    by the feed's contract, says "nothing")."""
    registry = getattr(translate, "registry", None)
    dispatch = getattr(translate, "dispatch", None)
    if registry is None or dispatch is None:
        return True
    return bool(dispatch(cls) is not registry[object])


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
POSITION_INCARNATION_COLUMN = "ALTER TABLE relay_position ADD COLUMN IF NOT EXISTS incarnation text"
"""The broker incarnation the position was reached on (`services.runtime.topics`); a position
recorded before the column existed has none, so its store is published again once."""

RESTART_DELAY_SECONDS = 1.0
IN_FLIGHT = 3
"""Batches handed to the producer and not yet acknowledged, at most."""
POSITION_SAVED_EVERY_SECONDS = 0.2
"""A relay records its position at most this often, and this long after its last batch at the
latest: a position only says where to resume, and one per batch was a statement and a commit
per batch (five per order in the full flow). A crash publishes again what it published since
the last record, which consumers recognise as repeats, as they do after any crash of a relay."""


def envelope_for(
    producer: str, domain_event: Any, payload: IntegrationEvent, feed: str | None = None
) -> Envelope:
    """Wrap a translated domain event in the envelope consumers rely on (for `feed`, if not the
    events topic): `Envelope.of`, with the event id computed without uuid objects."""
    aggregate_id: uuid.UUID = domain_event.originator_id
    aggregate_version: int = domain_event.originator_version
    return Envelope(
        event_id=uuid.UUID(int=event_id_number(str(aggregate_id), aggregate_version, feed)),
        event_type=payload.event_type,
        schema_version=payload.schema_version,
        occurred_at=domain_event.timestamp,
        producer=producer,
        aggregate_type=payload.aggregate_type,
        aggregate_id=aggregate_id,
        aggregate_version=aggregate_version,
        correlation_id=domain_event.correlation_id,
        causation_id=domain_event.causation_id,
        payload=payload.model_dump(mode="json"),
    )


async def create_relay_table(pool: asyncpg.Pool) -> None:
    await pool.execute(POSITION_TABLE)
    await pool.execute(POSITION_INCARNATION_COLUMN)


@dataclass(frozen=True)
class Position:
    """How far a relay published, and on which broker incarnation (None: not recorded)."""

    notification_id: int
    incarnation: str | None


async def load_position(connection: asyncpg.Connection | asyncpg.Pool, topic: str) -> Position:
    row = await connection.fetchrow(
        "SELECT notification_id, incarnation FROM relay_position WHERE topic = $1", topic
    )
    if row is None:
        return Position(0, None)
    return Position(int(row["notification_id"]), row["incarnation"])


async def save_position(
    connection: asyncpg.Connection | asyncpg.Pool, topic: str, position: Position
) -> None:
    await connection.execute(
        "INSERT INTO relay_position (topic, notification_id, incarnation) VALUES ($1, $2, $3) "
        "ON CONFLICT (topic) DO UPDATE SET notification_id = excluded.notification_id, "
        "incarnation = excluded.incarnation, updated_at = now()",
        topic,
        position.notification_id,
        position.incarnation,
    )


def resume_from(recorded: Position, incarnation: str) -> int:
    """Where a relay starts on the broker `incarnation`: after what it recorded there, or from the
    start when the position was recorded on another (the broker lost it) or on none (unknown)."""
    return recorded.notification_id if recorded.incarnation == incarnation else 0


class StoredNotification(NamedTuple):
    """A row of the store's notification log, as the mapper reads a stored event (lighter than
    the library's `Notification`, which the relay makes hundreds of per batch)."""

    id: int
    originator_id: uuid.UUID
    originator_version: int
    topic: str
    state: bytes | None
    """Read only when the message is not kept beside it (a feed's relay reads it always)."""
    message_key: bytes | None = None
    message_value: bytes | None = None
    message_headers: bytes | None = None
    """The message kept beside the event (`relay_messages.OutboxRow`), if it was."""


@dataclass(frozen=True)
class InFlight:
    """A batch handed to the producer: the acknowledgements to wait for, and the position (the
    last notification id) to record once they came."""

    acknowledgements: list[asyncio.Future[RecordMetadata]]
    last: int
    count: int


class _SettledPosition:
    """How far a relay's batches are acknowledged, recorded on the leader's session at most
    every `POSITION_SAVED_EVERY_SECONDS`: at once when the last record is that old, else when
    `save` is called (the relay calls it once that much time has passed without anything more
    to publish, and as it stops)."""

    def __init__(self, lease: Lease, topic: str) -> None:
        self._lease = lease
        self._topic = topic
        self._unsaved: Position | None = None
        self._due = 0.0

    @property
    def unsaved(self) -> bool:
        return self._unsaved is not None

    def seconds_until_due(self) -> float:
        return max(0.0, self._due - asyncio.get_running_loop().time())

    async def reached(self, position: Position) -> None:
        self._unsaved = position
        if asyncio.get_running_loop().time() >= self._due:
            await self.save()

    async def save(self) -> None:
        position, self._unsaved = self._unsaved, None
        if position is None:
            return
        await save_position(self._lease.connection, self._topic, position)
        self._due = asyncio.get_running_loop().time() + POSITION_SAVED_EVERY_SECONDS


class BrokerChanged(Exception):
    """The broker is not the incarnation the relay was publishing to: publish again from the
    recorded position of the new one (the start)."""


class Relay:
    """Publishes a service's recorded events to its topic, resuming where it stopped.

    Whatever the number of processes of the service, one relay per topic publishes: the leader of
    `relay:<topic>` on the service's database (`services.runtime.leadership`); the others wait to
    take over. The position is saved on the leader's own session, so a relay that lost leadership
    cannot record a position: its successor resumes from the last one recorded.
    """

    def __init__(
        self,
        *,
        producer_name: str,
        application: ServiceApplication,
        translate: FeedTranslator,
        producer: AIOKafkaProducer,
        pool: asyncpg.Pool,
        leadership: Leadership,
        incarnation: BrokerIncarnation,
        topic: str,
        batch_size: int,
        feed: bool = False,
        key: Callable[[Any], str] | None = None,
    ) -> None:
        """`feed`: the topic is a feed (`Feed`), not the events topic: its envelopes' event ids
        name it, and events translated to None are skipped (the position still moves past them).
        """
        self._application = application
        self._translate = translate
        self._producer = producer
        self._pool = pool
        self._leadership = leadership
        self._incarnation = incarnation
        self._topic = topic
        self._batch_size = batch_size
        self._feed = topic if feed else None
        self._partitioner = KeyPartitioner()
        self._write = MessageWriter(producer_name, feed=self._feed, key=key)
        self._may_publish_topic: dict[str, bool] = {}
        self._highest_offsets: dict[int, int] = {}
        self._log_was_lost = False
        self._stamp: tuple[str, bytes] = (BROKER_INCARNATION_HEADER, b"")
        """The header every record gets: the broker life the relay publishes for."""
        self.alive = False
        self.published = 0
        """Notifications published and recorded since the process started."""
        self.batches = 0

    @property
    def topic(self) -> str:
        return self._topic

    @property
    def publishing_for(self) -> str | None:
        """The broker life this relay publishes for; None while it does not publish (it waits
        to lead, or has not started)."""
        if not self._leadership.is_leader or not self._stamp[1]:
            return None
        return self._stamp[1].decode()

    async def status(self) -> dict[str, Any]:
        """What /health shows of this relay: `alive` (its loop runs), `leader` (this process
        publishes; the others wait), `lag` (notifications stored after the recorded position: at
        most that many events wait to be published; 0 when caught up) and
        `oldest_unpublished_seconds` (age of the first of them; 0 when caught up). One query on
        the notification index, whichever process leads."""
        row = await self._pool.fetchrow(self._status_query(), self._topic)
        assert row is not None
        head = int(row["head"] or 0)
        position = int(row["position"] or 0)
        oldest = 0.0
        if row["state"] is not None:
            first: Any = self._application.mapper.to_domain_event(
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
            )
            oldest = max(0.0, (datetime.now(UTC) - first.timestamp).total_seconds())
        return {
            "alive": self.alive,
            "leader": self._leadership.is_leader,
            "lag": max(0, head - position),
            "oldest_unpublished_seconds": round(oldest, 3),
        }

    def _status_query(self) -> str:
        table = self._events_table()
        return f"""
            WITH recorded AS (SELECT notification_id FROM relay_position WHERE topic = $1)
            SELECT (SELECT max(notification_id) FROM {table}) AS head,
                   (SELECT notification_id FROM recorded) AS position,
                   first.originator_id, first.originator_version, first.topic, first.state
            FROM (SELECT 1) AS one
            LEFT JOIN LATERAL (
                SELECT originator_id, originator_version, topic, state FROM {table}
                WHERE notification_id > coalesce((SELECT notification_id FROM recorded), 0)
                ORDER BY notification_id LIMIT 1
            ) AS first ON true
        """

    async def keep_running(self) -> None:
        """Publish (or wait to lead) until cancelled, starting again after any failure."""
        self.alive = True
        try:
            while True:
                try:
                    await self.run()
                except (Exception, asyncio.CancelledError) as error:
                    if asked_to_stop():
                        raise
                    log.warning("relay stopped, restarting", topic=self._topic, error=repr(error))
                    await asyncio.sleep(RESTART_DELAY_SECONDS)
        finally:
            self.alive = False

    async def run(self) -> None:
        """Lead, then publish until cancelled or until something fails."""
        async with self._leadership.lead() as lease:
            while True:
                try:
                    await self._publish_from_recorded_position(lease)
                except BrokerChanged as change:
                    log.warning(
                        "the broker lost what was published: publishing the store again",
                        topic=self._topic,
                        reason=str(change),
                    )

    async def _publish_from_recorded_position(self, lease: Lease) -> None:
        """Publish from the position recorded for the broker's current incarnation; raise
        BrokerChanged when the broker turns out to be another one."""
        incarnation = await self._incarnation.current(fresh=True)
        recorded = await load_position(lease.connection, self._topic)
        position = resume_from(recorded, incarnation)
        if recorded.notification_id > 0 and position == 0:
            log.warning(
                "the position was recorded on another broker: publishing the store from the start",
                topic=self._topic,
                recorded=recorded.notification_id,
                recorded_on=recorded.incarnation,
                broker=incarnation,
            )
        if recorded.incarnation != incarnation:
            await save_position(lease.connection, self._topic, Position(position, incarnation))
        self._highest_offsets = {}
        self._stamp = (BROKER_INCARNATION_HEADER, incarnation.encode())
        log.info("relay started", topic=self._topic, position=position, incarnation=incarnation)
        # Woken by the store's NOTIFY after each commit; between wake-ups it reads what is stored
        # after its position, a page at a time, so a backlog goes out in batches of that size.
        # A short page was all there was when read: what commits after it notifies, so the relay
        # reads again only then (or after a full page, or when idle for a while), not once more
        # per wake-up to find nothing.
        stored = asyncio.Event()
        channel = self._notify_channel()

        def on_notify(*_: object) -> None:
            stored.set()

        await lease.connection.add_listener(channel, on_notify)
        # The position is only where to resume: a commit of it lost with a crash of the database
        # means publishing again from the one before, which consumers recognise as repeats. So
        # its commits do not wait for the disk.
        await lease.connection.execute("SET synchronous_commit = off")
        # Batches go out while the next ones are read and encoded, so the broker always has work
        # and the relay's turns overlap with its; positions are still saved in order, each once its
        # batch and every one before it are acknowledged.
        in_flight: collections.deque[InFlight] = collections.deque()
        settled = _SettledPosition(lease, self._topic)
        # Pages are read on a connection of their own, held while leading (the lease's session
        # saves positions meanwhile; one taken from the pool for each read would be reset on
        # every return). Through a backlog the next page is read while this one is decoded and
        # published. What a page misses was committed after its read began, and notified since:
        # the signal is cleared as each read begins, never after.
        reader: PoolConnectionProxy | None = None
        next_page: asyncio.Task[list[StoredNotification]] | None = None
        read = position
        may_have_more = True
        try:
            reader = await self._pool.acquire()
            while True:
                if (may_have_more or stored.is_set()) and len(in_flight) < IN_FLIGHT:
                    if next_page is None:
                        stored.clear()
                        notifications = await self._stored_after(reader, read)
                    else:
                        notifications = await next_page
                        next_page = None
                    may_have_more = len(notifications) >= self._batch_size
                    if may_have_more:
                        stored.clear()
                        next_page = asyncio.create_task(
                            self._stored_after(reader, notifications[-1].id)
                        )
                        await asyncio.sleep(0)  # its query goes out before this page's work
                    if notifications:
                        await self._check_broker(incarnation)
                        in_flight.append(await self._publish(notifications))
                        read = notifications[-1].id
                        continue
                if in_flight:
                    await self._settle(settled, in_flight.popleft(), incarnation)
                    continue
                if settled.unsaved:
                    # Recorded once the last record is old enough, unless more comes first.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stored.wait(), settled.seconds_until_due())
                    if not stored.is_set():
                        await settled.save()
                    continue
                try:
                    await asyncio.wait_for(stored.wait(), self._incarnation.check_seconds)
                except TimeoutError:
                    # Idle: the broker may have restarted empty meanwhile, and the lock's
                    # session may have ended (Postgres restarted): neither would otherwise be
                    # noticed before the next event is stored. The store is read once more too.
                    await lease.confirm()
                    await self._check_broker(incarnation)
                    may_have_more = True
        finally:
            if next_page is not None:
                next_page.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await next_page
            if reader is not None:
                # A connection the database dropped is closed by the pool, which raises it again.
                with contextlib.suppress(Exception):
                    await self._pool.release(reader)
            # What is still in flight has no position saved: its outcome no longer matters.
            for unsettled in in_flight:
                await asyncio.gather(*unsettled.acknowledgements, return_exceptions=True)
            # What was acknowledged is recorded if the leader's session still can; if not, the
            # next leader publishes it again.
            with contextlib.suppress(Exception):
                await settled.save()
            with contextlib.suppress(Exception):
                await lease.connection.remove_listener(channel, on_notify)

    async def _settle(
        self, settled: _SettledPosition, in_flight: InFlight, incarnation: str
    ) -> None:
        """Wait until the broker acknowledged a batch, make sure it is the broker published to so
        far, then note the position after the batch (recorded on the leader's session, at most
        every `POSITION_SAVED_EVERY_SECONDS` while batches keep coming)."""
        self._log_was_lost = False
        try:
            for metadata in await asyncio.gather(*in_flight.acknowledgements):
                self._acknowledged(metadata)
        except KafkaError:
            await self._check_broker(incarnation, fresh=True)
            raise
        if self._log_was_lost:
            await self._check_broker(incarnation, fresh=True)
        crash_point("relay.after-publish")
        await settled.reached(Position(in_flight.last, incarnation))
        self.published += in_flight.count
        self.batches += 1

    def _notify_channel(self) -> str:
        recorder: Any = self._application.recorder
        return str(recorder.channel_name)

    def _events_table(self) -> str:
        recorder: Any = self._application.recorder
        return f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'

    async def _stored_after(
        self, reader: PoolConnectionProxy, position: int
    ) -> list[StoredNotification]:
        """A page of what is stored after `position`, in notification order."""
        rows = await reader.fetch(self._page_query, position, self._batch_size)
        return [StoredNotification(*row) for row in rows]

    @functools.cached_property
    def _page_query(self) -> str:
        # The events topic's relay sends the message kept beside an event as it is, and decodes
        # the event only when none was kept; a feed's relay translates every event its own way.
        if self._feed is not None:
            return (
                "SELECT notification_id, originator_id, originator_version, topic, state "
                f"FROM {self._events_table()} WHERE notification_id > $1 "
                "ORDER BY notification_id LIMIT $2"
            )
        recorder: Any = self._application.recorder
        messages = f'"{recorder.datastore.schema}"."{recorder.messages_table_name}"'
        return (
            "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, "
            "CASE WHEN m.message_value IS NULL THEN e.state END, "
            "m.message_key, m.message_value, m.message_headers "
            f"FROM {self._events_table()} AS e LEFT JOIN {messages} AS m "
            # The bound on both sides: a prepared statement's generic plan merge-joins, and
            # would otherwise read the kept messages from the first one on every page.
            "ON m.notification_id = e.notification_id AND m.notification_id > $1 "
            "WHERE e.notification_id > $1 ORDER BY e.notification_id LIMIT $2"
        )

    async def _check_broker(self, incarnation: str, *, fresh: bool = False) -> None:
        """Raise BrokerChanged when the broker is no longer the incarnation `incarnation` (read
        at most every few seconds unless `fresh`)."""
        current = await self._incarnation.current(fresh=fresh)
        if current != incarnation:
            raise BrokerChanged(f"broker incarnation {current}, published on {incarnation}")

    def _may_publish(self, topic: str) -> bool:
        """Whether a stored event of this topic can make a message, known from its class without
        decoding it: idempotency bookkeeping never does, nor does an event a feed's translator
        has no function for (a feed's base translation is "nothing"). A feed reads every event
        of the store for the few it publishes."""
        known = self._may_publish_topic.get(topic)
        if known is None:
            cls = resolve_topic(topic)
            known = not is_bookkeeping_class(cls) and (
                self._feed is None or translates(self._translate, cls)
            )
            self._may_publish_topic[topic] = known
        return known

    def _acknowledged(self, metadata: RecordMetadata) -> None:
        highest = self._highest_offsets.get(metadata.partition, -1)
        if metadata.offset <= highest:
            self._log_was_lost = True
        else:
            self._highest_offsets[metadata.partition] = metadata.offset

    async def _publish(
        self, notifications: Sequence[StoredNotification | Notification]
    ) -> InFlight:
        """Hand the notifications' messages to the producer in record batches (in a span of its
        own when tracing is on)."""
        messages = await self._messages(notifications)
        if tracing.enabled():
            messages = list(messages)
            with tracing.relay_batch(
                self._topic,
                (_traceparent(message) for message in messages),
                len(messages),
            ):
                return await self._hand_over(notifications, messages)
        return await self._hand_over(notifications, messages)

    async def _hand_over(
        self,
        notifications: Sequence[StoredNotification | Notification],
        messages: Iterable[OutgoingMessage],
    ) -> InFlight:
        partitions = sorted(await self._producer.partitions_for(self._topic))
        batches = PartitionBatches(self._producer, self._topic)
        stamp = self._stamp
        for message in messages:
            message.headers.append(stamp)  # made for this batch alone
            batches.add(self._partitioner(message.key, partitions), message)
        return InFlight(await batches.flush(), last=notifications[-1].id, count=len(notifications))

    async def _messages(
        self, notifications: Sequence[StoredNotification | Notification]
    ) -> Iterable[OutgoingMessage]:
        """The messages of the notifications that make one."""
        prepare = getattr(self._translate, "prepare", None)
        if prepare is None:
            # Made one at a time as they are published: what decoding makes is freed before the
            # next is decoded, so a page leaves nothing for the garbage collector to trace (a
            # page held whole cost a full collection every few pages in a large process).
            return self._made(
                (notification, self._decoded(notification)) for notification in notifications
            )
        # A feed that looks things up for the batch first, asynchronously.
        decoded = [(notification, self._decoded(notification)) for notification in notifications]
        await prepare([domain_event for _, domain_event in decoded if domain_event is not None])
        return self._made(decoded)

    def _decoded(self, notification: StoredNotification | Notification) -> Any | None:
        """The domain event of a notification whose message is not kept beside it, when it may
        make one (see `_may_publish`)."""
        if getattr(notification, "message_value", None) is not None:
            return None
        if not self._may_publish(notification.topic):
            return None
        return self._application.mapper.to_domain_event(cast(Any, notification))

    def _made(
        self, decoded: Iterable[tuple[StoredNotification | Notification, Any | None]]
    ) -> Iterator[OutgoingMessage]:
        for notification, domain_event in decoded:
            if domain_event is not None:
                made = message_of(self._write, self._translate, domain_event, notification.id)
                if made is not None:
                    yield made
                continue
            if getattr(notification, "message_value", None) is not None:
                kept = cast(StoredNotification, notification)  # written with key and headers
                yield from_outbox(
                    cast(bytes, kept.message_key),
                    cast(bytes, kept.message_value),
                    cast(bytes, kept.message_headers),
                    kept.id,
                )


def _traceparent(message: OutgoingMessage) -> str | None:
    for name, value in message.headers:
        if name == tracing.TRACEPARENT:
            return value.decode()
    return None
