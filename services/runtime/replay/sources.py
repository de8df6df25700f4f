"""What a replay reads: the topics from their first offsets, or the event stores.

- **Topics**: a consumer without a group reads the producers' `<service>.events.v1` from their
  first offsets up to the end offsets captured when sized up; nothing is committed and no live
  consumer's partitions move. A repeat of an event already read (a re-published one) is skipped
  by its identity, as the live consumer skips it.
- **Stores**: a service's own database, its stored events in notification order (which is commit
  order: the store locks its table while inserting). Another service's events are decoded and
  translated as its `StoredEvents` declaration says (`producers.py`: its application class and its
  `translators.to_contract`, listed in `services/stored_events.py`) and wrapped as its relay wraps
  them (`envelope_for`), so an event is the same event either way; a service's own events are
  decoded with its own application and handed over as domain events, for the read models derived
  from them.

Each source reads up to where it was sized up; `verify` then refuses the replay when the source
does not hold the whole history, and `catch_up` reads what arrived since (the replay calls it at
the swap, with the live read models locked against writes).

**Whether the topics hold the whole history.** A broker may have lost what it had (the embedded
one keeps everything in memory: a restart empties it), or deleted old segments (retention). A copy
built from what is left would silently lack facts the live read models have, so a replay from the
topics is refused, with the reasons, when:

- a partition's first offset is above 0: messages were deleted from its start;
- an aggregate's first event on the topic is not version 1, or a version is missing between two
  (every stored event but bookkeeping is published, with consecutive versions per aggregate);
- the topic holds fewer distinct events of a producer than its store held when the replay started
  (counted in the store, bookkeeping left out). A relay that is merely behind gets a few seconds to
  publish the rest (`COMPLETENESS_WAIT`) before the replay gives up.

A producer whose store cannot be opened here is compared by the first two checks only (a note
says so). The stores themselves are the record: a replay from them needs no such check.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic
from pydantic import ValidationError

from contracts.base import IntegrationEvent
from contracts.envelope import Envelope
from contracts.registry import UnknownEventType, read_event
from contracts.topics import SERVICES, events_topic
from services.runtime.aggregate import module_path_topic
from services.runtime.config import ServiceSettings
from services.runtime.database import PostgresLocation, WarmConnections
from services.runtime.eventstore import BlockingRunner, ServiceApplication
from services.runtime.idempotency import IdempotencyRecord, is_bookkeeping
from services.runtime.kafka import client_security, partition_ends
from services.runtime.relay import Translator
from services.runtime.relay_messages import event_id_number
from services.runtime.replay.producers import events_table
from services.runtime.replay.progress import ReplayProgress, ReplayRefused
from services.runtime.topics import BrokerIncarnation, published_for_another_life

Projected = tuple[Envelope, IntegrationEvent]
"""A public event with its envelope, ready to project; the envelope's payload is the event's JSON
form (`event.model_dump(mode="json")`), whichever the source, so a projection needs no dump of
its own."""

Apply = Callable[[list[Any]], Awaitable[None]]
"""Where a source hands a batch: public events (`Projected`) or the service's own domain events."""

COMPLETENESS_WAIT = 10.0
"""How long a replay from the topics waits for relays to publish what their stores held when it
started, before it refuses to swap."""
BOOKKEEPING_TOPICS = (
    get_topic(IdempotencyRecord) + ".",
    module_path_topic(IdempotencyRecord) + ".",  # stored before stable names
)
"""What the stored topic of every bookkeeping event starts with: never published."""


CopyMessages = Callable[[bytes], None]
"""Writes a block of messages into a rebuild's copy, in a transaction of its own (blocking): one
message per line, each an event's message as its producer's relay publishes it (the envelope's
compact JSON in UTF-8, which has no line break of its own). How a rebuild takes the messages producers
keep beside their events (`relay_messages.OutboxRow`) without decoding them in Python."""


class Source(Protocol):
    """One thing a replay reads, sized up first, then read, then caught up at the swap."""

    holds_all_consumed: bool
    """Once sized up: whether what it reads holds every event the live read models had taken in
    when the replay began. The stores do, every one of them read: an event reaches a consumer
    only after its store committed it. The topics need not: a broker that came back empty is
    refilled from the stores, and until the relays are through, its topics lack events the live
    read models already have."""

    async def size_up(self, progress: ReplayProgress) -> int:
        """How many events there are to read (notes go to `progress`); fixes where reading
        stops."""
        ...

    async def read(self, progress: ReplayProgress) -> int:
        """Read up to where it was sized up, handing batches over; returns how many were read."""
        ...

    async def verify(self, progress: ReplayProgress) -> None:
        """Raise `ReplayRefused` when what was read is not the whole history."""
        ...

    async def catch_up(self, progress: ReplayProgress) -> int:
        """Read what arrived since it was sized up; returns how many were read."""
        ...

    async def close(self) -> None: ...


class Overlapped:
    """Hands batches to `apply` one after the other, in order, each while the next is being read
    and decoded: Postgres works on one batch while Python works on the next. On the way out it
    waits for the last batch, or, after an error, stops waiting for it."""

    def __init__(self, apply: Apply) -> None:
        self._apply = apply
        self._writing: asyncio.Future[None] | None = None

    async def __aenter__(self) -> Callable[[list[Any]], Awaitable[None]]:
        return self.put

    async def put(self, batch: list[Any]) -> None:
        if self._writing is not None:
            await self._writing
        self._writing = asyncio.ensure_future(self._apply(batch))

    async def __aexit__(self, error_type: type[BaseException] | None, *_: object) -> None:
        writing, self._writing = self._writing, None
        if writing is None:
            return
        if error_type is None:
            await writing
        else:
            writing.cancel()
            await asyncio.gather(writing, return_exceptions=True)


# -- decoding topic messages -----------------------------------------------------------------


def read_envelope(value: bytes | None) -> Envelope | None:
    """The envelope of a topic message; None for anything the live consumer would dead-letter."""
    try:
        return Envelope.model_validate_json(value or b"")
    except ValidationError:
        return None


def payload_of(envelope: Envelope) -> IntegrationEvent | None:
    """The event an envelope carries, as a consumer reads it; None for an unknown type or an
    invalid payload."""
    try:
        return read_event(envelope.event_type, envelope.schema_version, envelope.payload)
    except (ValidationError, UnknownEventType):
        return None


def decode(value: bytes | None) -> Projected | None:
    """The event a topic message carries, read as the live consumer reads it; None for anything
    the consumer would dead-letter."""
    envelope = read_envelope(value)
    event = payload_of(envelope) if envelope is not None else None
    return projected(envelope, event) if envelope is not None and event is not None else None


def projected(envelope: Envelope, event: IntegrationEvent) -> Projected:
    """A consumed event and its envelope, the envelope's payload as the event's JSON form (what
    the live consumer projects: defaults filled in, as the model reads them)."""
    return envelope.model_copy(update={"payload": event.model_dump(mode="json")}), event


# -- the topics ------------------------------------------------------------------------------


class TopicsSource:
    """The producers' events topics, from their first offsets, read without a consumer group."""

    def __init__(
        self,
        settings: ServiceSettings,
        producers: Sequence[str],
        apply: Apply,
        wanted: Callable[[str, str], bool] | None = None,
    ) -> None:
        """`wanted(producer, event_type)`: whether to decode an event at all (the rest is read
        and counted, never validated)."""
        self._settings = settings
        self._topics = [events_topic(producer).name for producer in producers]
        self._apply = apply
        self._wanted = wanted
        self._consumer: AIOKafkaConsumer | None = None
        self._positions: dict[TopicPartition, int] = {}
        """The next offset to read, per partition."""
        self._ends: dict[TopicPartition, int] = {}
        self._producers = list(producers)
        self.holds_all_consumed = False
        """Never: a broker refilled from the stores may lack what the live read models have."""
        self._versions: dict[tuple[str, uuid.UUID], int] = {}
        """The last version read per (producer, aggregate): a repeat is skipped."""
        self._distinct: Counter[str] = Counter()
        """Distinct events read per producer (repeats left out)."""
        self._stored: dict[str, int] = {}
        """Per producer, the events its store held when sized up (what the topic must hold)."""
        self._refusals: list[str] = []
        self._gapped: set[tuple[str, uuid.UUID]] = set()
        """Aggregates whose versions on the topic do not start at 1 or skip one."""
        self._broker_life: str | None = None
        """The broker's life when sized up: what relays published for another is read again."""

    async def size_up(self, progress: ReplayProgress) -> int:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._settings.kafka_bootstrap_servers,
            group_id=None,  # no group: nothing is committed, nobody else's partitions are touched
            client_id=f"unitrail-{self._settings.service_name}-replay",
            enable_auto_commit=False,
            fetch_max_wait_ms=self._settings.kafka_fetch_max_wait_ms,
            **client_security(),
        )
        await consumer.start()
        self._consumer = consumer
        self._broker_life = await BrokerIncarnation(
            self._settings.kafka_bootstrap_servers,
            client_id=f"unitrail-{self._settings.service_name}-replay",
        ).marked()
        await consumer.topics()  # refreshes the metadata
        partitions = []
        for topic in self._topics:
            found = consumer.partitions_for_topic(topic)
            if not found:
                progress.notes.append(f"{topic}: no such topic")
            partitions += [TopicPartition(topic, partition) for partition in sorted(found or ())]
        consumer.assign(partitions)
        # Counted before the ends are looked up: whatever the stores held then, a caught-up
        # relay has published by the time the ends are read.
        self._stored = await asyncio.to_thread(self._count_stored, progress)
        if not partitions:
            return 0
        self._positions = dict(await consumer.beginning_offsets(partitions))
        for tp, first in sorted(self._positions.items()):
            if first > 0:
                self._refusals.append(
                    f"{tp.topic} partition {tp.partition} starts at offset {first}: the messages"
                    " before it were deleted"
                )
        if self._refusals:
            raise ReplayRefused(self._refusals)
        self._ends = await self._ends_now()
        return sum(end - self._positions[tp] for tp, end in self._ends.items())

    async def verify(self, progress: ReplayProgress) -> None:
        deadline = time.monotonic() + COMPLETENESS_WAIT
        while not self._gapped and self._ends and self._short() and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            await self.catch_up(progress)  # a relay behind: what it published meanwhile
        reasons = list(self._refusals)
        gapped = Counter(producer for producer, _ in self._gapped)
        for producer, count in sorted(gapped.items()):
            reasons.append(
                f"{events_topic(producer).name}: {count} aggregates' events do not start at"
                " version 1 or skip versions (the topic lost earlier messages)"
            )
        for producer, stored in sorted(self._short().items()):
            reasons.append(
                f"{events_topic(producer).name} holds {self._distinct[producer]} events,"
                f" {producer}'s store {stored} (the broker lost messages, or the relay is behind)"
            )
        if reasons:
            raise ReplayRefused(reasons)

    def _short(self) -> dict[str, int]:
        """Producers whose topic holds fewer events than their store held: their store's count."""
        return {
            producer: stored
            for producer, stored in self._stored.items()
            if self._distinct[producer] < stored
        }

    def _count_stored(self, progress: ReplayProgress) -> dict[str, int]:
        counts = {}
        for producer in self._producers:
            store = open_store(self._settings, producer)
            if isinstance(store, str):
                progress.notes.append(f"not compared with a store: {store}")
                continue
            try:
                counts[producer] = store.published()
            finally:
                store.close()
        return counts

    async def read(self, progress: ReplayProgress) -> int:
        consumer = self._consumer
        assert consumer is not None, "size the topics up first"
        pending = {tp for tp, end in self._ends.items() if self._positions[tp] < end}
        for tp in pending:
            consumer.seek(tp, self._positions[tp])
        batch_size = self._settings.replay_batch_size
        batch: list[Projected] = []
        count = 0
        async with Overlapped(self._apply) as apply:
            while pending:
                count += await self._read_some(consumer, pending, progress, batch)
                if len(batch) >= batch_size or (batch and not pending):
                    await apply(batch)
                    batch = []
        return count

    async def _read_some(
        self,
        consumer: AIOKafkaConsumer,
        pending: set[TopicPartition],
        progress: ReplayProgress,
        batch: list[Projected],
    ) -> int:
        """Fetch what the broker has, adding the events to `batch` and taking partitions read to
        their ends out of `pending`; returns how many messages were read."""
        count = 0
        if pending:
            fetched = await consumer.getmany(
                *pending, timeout_ms=500, max_records=self._settings.replay_batch_size
            )
            for tp, records in fetched.items():
                for record in records:
                    if tp not in pending or not (
                        self._positions[tp] <= record.offset < self._ends[tp]
                    ):
                        continue  # arrived after sizing up: read by the catch-up
                    self._positions[tp] = record.offset + 1
                    count += 1
                    progress.read += 1
                    # What a relay published for another life of the broker stands ahead of its
                    # store published again, where it comes again: read there, in its place.
                    if not published_for_another_life(record.headers, self._broker_life):
                        event = self._decode(record.value, progress)
                        if event is not None:
                            batch.append(event)
                    if self._positions[tp] >= self._ends[tp]:
                        pending.discard(tp)
            if not fetched:
                # Offsets that hold no message (none on these topics, but Kafka allows them)
                # must not keep the replay waiting.
                for tp in list(pending):
                    if await consumer.position(tp) >= self._ends[tp]:
                        self._positions[tp] = self._ends[tp]
                        pending.discard(tp)
        return count

    async def catch_up(self, progress: ReplayProgress) -> int:
        if self._consumer is None or not self._ends:
            return 0
        self._ends = await self._ends_now()
        progress.total += sum(end - self._positions[tp] for tp, end in self._ends.items())
        return await self.read(progress)

    async def _ends_now(self) -> dict[TopicPartition, int]:
        assert self._consumer is not None
        return await partition_ends(self._consumer, self._positions)

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    def _decode(self, value: bytes | None, progress: ReplayProgress) -> Projected | None:
        envelope = read_envelope(value)
        if envelope is None:
            progress.skipped += 1
            return None
        source = (envelope.producer, envelope.aggregate_id)
        last = self._versions.get(source, 0)
        if envelope.aggregate_version <= last:
            return None  # re-published: the live consumer skips it too
        if envelope.aggregate_version != last + 1:
            self._gapped.add(source)
        self._versions[source] = envelope.aggregate_version
        self._distinct[envelope.producer] += 1
        if self._wanted is not None and not self._wanted(envelope.producer, envelope.event_type):
            return None
        event = payload_of(envelope)
        if event is None:
            progress.skipped += 1
            return None
        return projected(envelope, event)


# -- the event stores ------------------------------------------------------------------------

_new_object = object.__new__
_set = object.__setattr__
_ENVELOPE_FIELDS = frozenset(Envelope.model_fields)


def stored_envelope(producer: str, domain_event: Any, payload: IntegrationEvent) -> Envelope:
    """`relay.envelope_for` (the envelope the relay publishes for a stored event), built without
    validating it again: every field is taken as it is from a stored event the store accepted
    (its id, a version from 1, its moment, its ids as text) and from a payload its model has
    validated, so validation would only copy them (a third of a replay's enveloping). Tests hold
    the two equal."""
    aggregate_id: uuid.UUID = domain_event.originator_id
    aggregate_version: int = domain_event.originator_version
    event_id: uuid.UUID = _new_object(uuid.UUID)
    _set(event_id, "int", event_id_number(str(aggregate_id), aggregate_version))
    _set(event_id, "is_safe", uuid.SafeUUID.unknown)
    envelope: Envelope = _new_object(Envelope)
    _set(
        envelope,
        "__dict__",
        {
            "event_id": event_id,
            "event_type": payload.event_type,
            "schema_version": payload.schema_version,
            "occurred_at": domain_event.timestamp,
            "producer": producer,
            "aggregate_type": payload.aggregate_type,
            "aggregate_id": aggregate_id,
            "aggregate_version": aggregate_version,
            "correlation_id": domain_event.correlation_id,
            "causation_id": domain_event.causation_id,
            "payload": payload.model_dump(mode="json"),
        },
    )
    # What pydantic's own `model_construct` sets beside the fields: all of them were given.
    _set(envelope, "__pydantic_fields_set__", set(_ENVELOPE_FIELDS))
    _set(envelope, "__pydantic_extra__", None)
    _set(envelope, "__pydantic_private__", None)
    return envelope


@dataclass
class EventStore:
    """One service's event store, read in notification order, the way its relay reads it."""

    service: str
    location: PostgresLocation
    table: str
    mapper: Mapper[uuid.UUID]
    translate: Translator | None = None
    """The service's `translators.to_contract`: its events as the public events on its topic."""

    messages: str | None = None
    """The table of the messages kept beside its events, if it has one (events stored before
    it, or never published, have none)."""
    unkept_only: bool = False
    """Read only the events that have no kept message (the rest are copied: `read_kept`)."""

    position: int = 0
    """The last notification read."""
    last: int = 0
    """Where reading stops: the last notification when the store was last sized up."""
    _connection: psycopg.Connection[Any] | None = field(default=None, init=False, repr=False)
    _copying: WarmConnections = field(init=False, repr=False)
    """The connections reads of kept messages take turns on (`read_kept`, on several threads)."""

    def __post_init__(self) -> None:
        self._copying = WarmConnections(self.location.dsn())

    def size_up(self) -> int:
        """How many events there are to read beyond the position; fixes where reading stops."""
        row = (
            self._connect()
            .execute(
                f"SELECT count(*), coalesce(max(notification_id), 0) FROM {self.table}"
                f" WHERE notification_id > %s".encode(),
                (self.position,),
            )
            .fetchone()
        )
        count, last = (int(row[0]), int(row[1])) if row else (0, 0)
        self.last = max(self.last, last)
        return count

    def published(self) -> int:
        """How many of its events its relay publishes: all but bookkeeping."""
        row = (
            self._connect()
            .execute(
                f"SELECT count(*) FROM {self.table}"
                " WHERE left(topic, %s) <> %s AND left(topic, %s) <> %s".encode(),
                tuple(part for topic in BOOKKEEPING_TOPICS for part in (len(topic), topic)),
            )
            .fetchone()
        )
        return int(row[0]) if row else 0

    def unkept(self) -> int:
        """How many of its events up to where reading stops its relay publishes but no message
        was kept for (a store that keeps messages).

        A message is only ever kept in its event's transaction, under its notification id, so
        when a range holds as many messages as events, every event in it has one: two counts
        from the keys' indexes. Only a store where they differ (bookkeeping, events from before
        messages were kept) is searched event by event."""
        assert self.messages is not None, f"{self.service}: no kept messages"
        in_range = "WHERE notification_id > %s AND notification_id <= %s"
        connection = self._connect()
        counted = connection.execute(
            f"SELECT (SELECT count(*) FROM {self.table} {in_range})"
            f" = (SELECT count(*) FROM {self.messages} {in_range})".encode(),
            (self.position, self.last) * 2,
        ).fetchone()
        if counted and counted[0]:
            return 0
        row = connection.execute(
            f"SELECT count(*) FROM {self.table} AS stored {in_range} AND {self._unkept}"
            " AND left(topic, %s) <> %s AND left(topic, %s) <> %s".encode(),
            (
                self.position,
                self.last,
                *(part for topic in BOOKKEEPING_TOPICS for part in (len(topic), topic)),
            ),
        ).fetchone()
        return int(row[0]) if row else 0

    def read_kept(self, after: int, upto: int) -> tuple[bytes, int]:
        """The messages kept for the events after `after` up to `upto`, as they are, one per line
        (`CopyMessages`), and how many: their bytes are passed on, never decoded (blocking; on a
        connection of its own, so reads of several ranges run side by side)."""
        assert self.messages is not None, f"{self.service}: no kept messages"
        kept = f"{self.messages} WHERE notification_id > {int(after)} AND notification_id <= {int(upto)}"
        # The values as they are stored (binary), joined here: one `string_agg` value of the
        # whole range cost its server process three times the reading of the rows, and this
        # process less than it saves there (a `COPY` in between costs the writer a fifth of its
        # time; text, a decoding and an encoding).
        with self._copying.connection() as connection:
            rows = connection.execute(
                f"SELECT message_value FROM {kept}".encode(), binary=True
            ).fetchall()
        return b"\n".join(row[0] for row in rows), len(rows)

    @property
    def _unkept(self) -> str:
        """Whether the stored event (`stored`) has no kept message."""
        if self.messages is None:
            return "TRUE"
        return (
            f"NOT EXISTS (SELECT 1 FROM {self.messages} AS kept"
            " WHERE kept.notification_id = stored.notification_id)"
        )

    def next_page(self, size: int) -> list[Any]:
        """The next stored events up to where reading stops, decoded (empty at the end); an
        idempotency record's events are bookkeeping, skipped. With `unkept_only`, only those
        without a kept message."""
        unkept = f" AND {self._unkept}" if self.unkept_only else ""
        while self.position < self.last:
            rows = (
                self._connect()
                .execute(
                    f"SELECT notification_id, originator_id, originator_version, topic, state"
                    f" FROM {self.table} AS stored"
                    f" WHERE notification_id > %s AND notification_id <= %s{unkept}"
                    f" ORDER BY notification_id LIMIT %s".encode(),
                    (self.position, self.last, size),
                    # The states as they are stored, not as hex text to parse: a third of the
                    # client's time per row.
                    binary=True,
                )
                .fetchall()
            )
            self.position = rows[-1][0] if rows else self.last
            events = [self._domain_event(row) for row in rows]
            if kept := [event for event in events if not is_bookkeeping(event)]:
                return kept
        return []

    def projected(self, domain_event: Any) -> Projected:
        """A stored event as its relay publishes it: translated and enveloped."""
        assert self.translate is not None, f"{self.service}: no translators"
        payload = self.translate(domain_event)
        return stored_envelope(self.service, domain_event, payload), payload

    def events(self, page: int) -> Iterator[list[Projected]]:
        """Every stored event up to where reading stops, translated and enveloped, page by page."""
        while batch := self.next_page(page):
            yield [self.projected(event) for event in batch]

    def boundaries(self, size: int) -> list[int]:
        """Every `size`-th notification from the position up to where reading stops: the ends
        of ranges of `size` events."""
        rows = (
            self._connect()
            .execute(
                f"SELECT notification_id FROM (SELECT notification_id,"
                f" row_number() OVER (ORDER BY notification_id) AS number FROM {self.table}"
                f" WHERE notification_id > %s AND notification_id <= %s) AS numbered"
                f" WHERE number %% %s = 0 ORDER BY notification_id".encode(),
                (self.position, self.last, size),
            )
            .fetchall()
        )
        return [int(row[0]) for row in rows]

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._copying.close()
        self._copying = WarmConnections(self.location.dsn())  # a later copy opens its own

    def _connect(self) -> psycopg.Connection[Any]:
        if self._connection is None:
            self._connection = psycopg.connect(self.location.dsn(), autocommit=True)
            # What a replay asks a store runs beside the copies and the workers, which take the
            # cores: a parallel plan would only start more processes for the same work (the
            # check for events without a kept message took three times the CPU).
            self._connection.execute(b"SET max_parallel_workers_per_gather = 0")
        return self._connection

    def _domain_event(self, row: tuple[Any, ...]) -> Any:
        _, originator_id, originator_version, topic, state = row
        return self.mapper.to_domain_event(
            StoredEvent(
                originator_id=originator_id,
                originator_version=originator_version,
                topic=topic,
                state=bytes(state),
            )
        )


def open_store(settings: ServiceSettings, service: str) -> EventStore | str:
    """The event store of another `service` (`<prefix>_<service>` on the same server), read and
    translated as its `StoredEvents` declares, or why there is none to read."""
    # Here, not at the top: the declarations import the services, which import the runtime.
    from services.stored_events import PRODUCERS

    declared = PRODUCERS.get(service)
    if declared is None:
        return f"{service}: publishes no events (no stored events declared)"
    location = declared.location(settings)
    try:
        connection = psycopg.connect(location.dsn())
    except psycopg.OperationalError:
        return f"{service}: no database {location.dbname}"
    with connection:
        found = connection.execute("SELECT to_regclass(%s)", (declared.table,)).fetchone()
        if not found or found[0] is None:
            return f"{service}: no event store in {location.dbname} yet"
        messages = f"{declared.table}_messages"  # as `ReadModelRecorder` names it
        kept = connection.execute("SELECT to_regclass(%s)", (messages,)).fetchone()
    return EventStore(
        service,
        location,
        declared.table,
        declared.mapper(),
        declared.translate,
        messages=messages if kept and kept[0] is not None else None,
    )


def open_stores(settings: ServiceSettings, services: Sequence[str]) -> list[EventStore | str]:
    """`open_store` of each of `services`, side by side (blocking): each is a database of its
    own, and opening one is mostly a connection's start."""
    with ThreadPoolExecutor(max_workers=max(1, len(services))) as opening:
        return list(opening.map(lambda service: open_store(settings, service), services))


def own_store(application: ServiceApplication, settings: ServiceSettings) -> EventStore:
    """The service's own store, read with its own mapper: its domain events, not translated."""
    return EventStore(
        settings.service_name,
        settings.database,
        events_table(application.name),
        application.mapper,
    )


class StoresSource:
    """Event stores read one after the other, each in notification order."""

    def __init__(
        self,
        stores: Sequence[EventStore | str] | Callable[[], Sequence[EventStore | str]],
        runner: BlockingRunner,
        batch_size: int,
        apply: Apply,
        *,
        translated: bool,
    ) -> None:
        """`stores`, or how to open them (blocking: done when sized up); a string says why a
        store cannot be read. `translated`: hand over public events, else domain events."""
        self._open = stores if callable(stores) else (lambda: stores)
        self._stores: list[EventStore] = []
        self._runner = runner
        self._size = batch_size
        self._apply = apply
        self._translated = translated
        self.holds_all_consumed = False

    @classmethod
    def of_producers(
        cls,
        settings: ServiceSettings,
        producers: Sequence[str],
        runner: BlockingRunner,
        apply: Apply,
    ) -> StoresSource:
        """The producers' stores, their events translated and enveloped as on their topics."""
        return cls(
            lambda: open_stores(settings, producers),
            runner,
            settings.replay_batch_size,
            apply,
            translated=True,
        )

    async def size_up(self, progress: ReplayProgress) -> int:
        unreadable = 0
        for store in await self._runner.run(self._open):
            if isinstance(store, str):
                progress.notes.append(store)
                unreadable += 1
            else:
                self._stores.append(store)
        self.holds_all_consumed = unreadable == 0
        # Side by side: each store is a database of its own, and a connection's start is most
        # of what sizing it up takes.
        counts = await asyncio.gather(*(self._runner.run(store.size_up) for store in self._stores))
        return sum(counts)

    async def read(self, progress: ReplayProgress) -> int:
        count = 0
        async with Overlapped(self._apply) as apply:
            for store in self._stores:
                while batch := await self._runner.run(self._page, store):
                    await apply(batch)
                    count += len(batch)
                    progress.read += len(batch)
        return count

    async def verify(self, progress: ReplayProgress) -> None:
        """The stores are the record: what they hold is the whole history."""

    async def catch_up(self, progress: ReplayProgress) -> int:
        progress.total += await self._runner.run(
            lambda: sum(store.size_up() for store in self._stores)
        )
        return await self.read(progress)

    async def close(self) -> None:
        for store in self._stores:
            await self._runner.run(store.close)

    def _page(self, store: EventStore) -> list[Any]:
        events = store.next_page(self._size)
        return [store.projected(event) for event in events] if self._translated else events


def read_stores(
    settings: ServiceSettings,
    progress: ReplayProgress,
    apply: Callable[[list[Projected]], None],
    services: Sequence[str] = SERVICES,
) -> None:
    """Every event in the stores of `services` but this one, translated and enveloped, handed to
    `apply` batch by batch (blocking: on a worker thread, or in a script)."""
    stores: list[EventStore] = []
    for service in services:
        if service == settings.service_name:
            continue
        store = open_store(settings, service)
        if isinstance(store, str):
            progress.notes.append(store)
        else:
            stores.append(store)
    try:
        progress.total = sum(store.size_up() for store in stores)
        for store in stores:
            for batch in store.events(settings.replay_batch_size):
                apply(batch)
                progress.read += len(batch)
    finally:
        for store in stores:
            store.close()
