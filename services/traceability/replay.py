"""Rebuilding the read models from scratch, from the topics or from the services' event stores.

A replay writes a fresh copy of the read models beside the live one and swaps it in at the end
(`TraceabilityApplication.begin_rebuild` / `finish_rebuild`); queries and live consumption go on
meanwhile. Its progress is kept in memory for `GET /replays/latest`.

- **From the topics**: a consumer without a group reads every service's `<service>.events.v1`
  from its first offset up to the end offsets captured when the replay starts.
- **From the stores**: each service's own database, its stored events in notification order,
  decoded and translated with the service's own `translators.to_contract` and wrapped the way its
  relay wraps them (`services.runtime.relay.envelope_for`), so an event is the same event either
  way. This reads other services' databases and imports their translators: an operator's
  recovery tool (the topics may have lost what the stores still have), the only place where
  traceability knows more than the contracts.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import psycopg
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from eventsourcing.persistence import Mapper, StoredEvent
from pydantic import ValidationError

from contracts.envelope import Envelope
from contracts.registry import UnknownEventType, model_for
from contracts.topics import SERVICES, events_topic
from services.runtime.database import PostgresLocation
from services.runtime.eventstore import ServiceApplication
from services.runtime.relay import Translator, envelope_for
from services.runtime.service import ServiceRuntime
from services.traceability.application import Projected, TraceabilityApplication
from services.traceability.config import TraceabilitySettings

log = structlog.get_logger(__name__)

Source = Literal["topics", "stores"]


@dataclass
class ReplayProgress:
    """How far a replay got; `total` is known once the source has been sized up."""

    replay_id: str
    source: Source
    state: Literal["starting", "reading", "swapping", "done", "failed"] = "starting"
    total: int = 0
    read: int = 0
    skipped: int = 0
    """Messages that are not events of a known contract (the live consumer dead-letters them)."""
    merged_from_live: int = 0
    """Events the live read models consumed during the replay, projected into the copy."""
    notes: list[str] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    error: str | None = None

    @property
    def running(self) -> bool:
        return self.state not in ("done", "failed")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ReplayRunning(RuntimeError):
    """A replay is already running."""


class Replays:
    """Starts replays in the background of the service process, one at a time."""

    def __init__(self, runtime: ServiceRuntime[TraceabilityApplication]) -> None:
        self.runtime = runtime
        self.latest: ReplayProgress | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self, source: Source) -> ReplayProgress:
        if self.latest is not None and self.latest.running:
            raise ReplayRunning(f"replay {self.latest.replay_id} is running")
        progress = ReplayProgress(replay_id=str(uuid.uuid4()), source=source)
        self.latest = progress
        self._task = asyncio.create_task(self._run(progress))
        return progress

    async def _run(self, progress: ReplayProgress) -> None:
        runner = self.runtime.runner
        application = self.runtime.application
        settings = self.runtime.settings
        assert isinstance(settings, TraceabilitySettings)
        log.info("replay started", replay_id=progress.replay_id, source=progress.source)
        try:
            await runner.run(application.begin_rebuild)
            progress.state = "reading"

            async def apply(events: list[Projected]) -> None:
                await runner.run(application.rebuild_batch, events)

            if progress.source == "topics":
                await read_topics(settings, progress, apply)
            else:
                await runner.run(read_stores, settings, progress, application.rebuild_batch)
            progress.state = "swapping"
            progress.merged_from_live = await runner.run(application.finish_rebuild)
            progress.state = "done"
            log.info("replay done", **_loggable(progress))
        except Exception as error:
            progress.state = "failed"
            progress.error = repr(error)
            log.exception("replay failed", replay_id=progress.replay_id)
            await runner.run(application.abandon_rebuild)
        finally:
            progress.finished_at = datetime.now(UTC)


def _loggable(progress: ReplayProgress) -> dict[str, Any]:
    return {
        key: progress.as_dict()[key]
        for key in ("replay_id", "source", "total", "read", "skipped", "merged_from_live")
    }


def decode(value: bytes | None) -> Projected | None:
    """The event a topic message carries, read as the live consumer reads it; None for anything
    the consumer would dead-letter."""
    try:
        envelope = Envelope.model_validate_json(value or b"")
        model = model_for(envelope.event_type, envelope.schema_version)
        return envelope, model.model_validate(envelope.payload)
    except (ValidationError, UnknownEventType):
        return None


# -- from the topics -------------------------------------------------------------------------


async def read_topics(
    settings: TraceabilitySettings,
    progress: ReplayProgress,
    apply: Callable[[list[Projected]], Awaitable[None]],
) -> None:
    """Every event on every service's events topic, up to the end offsets at the start."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=None,  # no group: nothing is committed, nobody else's partitions are touched
        client_id=f"unitrail-{settings.service_name}-replay",
        enable_auto_commit=False,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
    )
    await consumer.start()
    try:
        topics = [events_topic(service).name for service in SERVICES]
        await consumer.topics()  # refreshes the metadata
        partitions = []
        for topic in topics:
            found = consumer.partitions_for_topic(topic)
            if not found:
                progress.notes.append(f"{topic}: no such topic")
            partitions += [TopicPartition(topic, partition) for partition in sorted(found or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        starts: dict[TopicPartition, int] = await consumer.beginning_offsets(partitions)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        pending = {tp: end for tp, end in ends.items() if end > starts[tp]}
        progress.total = sum(end - starts[tp] for tp, end in pending.items())
        batch: list[Projected] = []
        while pending:
            fetched = await consumer.getmany(
                *pending, timeout_ms=500, max_records=settings.replay_batch_size
            )
            for tp, records in fetched.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        continue  # arrived after the start: the live consumer has it
                    progress.read += 1
                    event = decode(record.value)
                    if event is None:
                        progress.skipped += 1
                    else:
                        batch.append(event)
                    if record.offset + 1 >= ends[tp]:
                        pending.pop(tp, None)
            if len(batch) >= settings.replay_batch_size or (batch and not pending):
                await apply(batch)
                batch = []
    finally:
        await consumer.stop()


# -- from the event stores -------------------------------------------------------------------


@dataclass
class EventStore:
    """One service's event store, read the way its relay reads it."""

    service: str
    location: PostgresLocation
    table: str
    mapper: Mapper[uuid.UUID]
    translate: Translator

    last: int = 0
    """The last notification when the replay started: it reads up to there."""

    def size_up(self) -> int:
        """How many events there are to read; fixes where reading stops."""
        with psycopg.connect(self.location.dsn()) as connection:
            row = connection.execute(
                f"SELECT count(*), coalesce(max(notification_id), 0) FROM {self.table}".encode()
            ).fetchone()
        count, self.last = (int(row[0]), int(row[1])) if row else (0, 0)
        return count

    def events(self, page: int) -> Iterator[list[Projected]]:
        """Every stored event in notification order, translated and enveloped, page by page."""
        position = 0
        with psycopg.connect(self.location.dsn()) as connection:
            while True:
                rows = connection.execute(
                    f"SELECT notification_id, originator_id, originator_version, topic, state"
                    f" FROM {self.table} WHERE notification_id > %s AND notification_id <= %s"
                    f" ORDER BY notification_id LIMIT %s".encode(),
                    (position, self.last, page),
                ).fetchall()
                if not rows:
                    return
                yield [self._projected(row) for row in rows]
                position = rows[-1][0]

    def _projected(self, row: tuple[Any, ...]) -> Projected:
        _, originator_id, originator_version, topic, state = row
        domain_event = self.mapper.to_domain_event(
            StoredEvent(
                originator_id=originator_id,
                originator_version=originator_version,
                topic=topic,
                state=bytes(state),
            )
        )
        payload = self.translate(domain_event)
        return envelope_for(self.service, domain_event, payload), payload


def open_store(settings: TraceabilitySettings, service: str) -> EventStore | str:
    """The event store of `service`, or why there is none to read."""
    try:
        translators = importlib.import_module(f"services.{service}.translators")
        application_module = importlib.import_module(f"services.{service}.application")
    except ModuleNotFoundError:
        return f"{service}: publishes no events (no translators)"
    classes = [
        value
        for value in vars(application_module).values()
        if inspect.isclass(value)
        and issubclass(value, ServiceApplication)
        and value.__module__ == application_module.__name__
    ]
    if len(classes) != 1:
        return f"{service}: no single application class to decode its events with"
    # In memory: only its mapper (the service's transcodings) is wanted, not its database.
    decoder = classes[0](None)
    location = PostgresLocation.from_dsn(settings.postgres_dsn).with_database(
        f"{settings.database_prefix}_{service}"
    )
    # The library names a process recorder's table after the application.
    table = f"{decoder.name.lower()}_events"
    try:
        with psycopg.connect(location.dsn()) as connection:
            found = connection.execute("SELECT to_regclass(%s)", (table,)).fetchone()
    except psycopg.OperationalError:
        return f"{service}: no database {location.dbname}"
    if not found or found[0] is None:
        return f"{service}: no event store in {location.dbname} yet"
    return EventStore(service, location, table, decoder.mapper, translators.to_contract)


def read_stores(
    settings: TraceabilitySettings,
    progress: ReplayProgress,
    apply: Callable[[list[Projected]], None],
) -> None:
    """Every event in every service's store (blocking: runs on a worker thread)."""
    stores: list[EventStore] = []
    for service in SERVICES:
        if service == settings.service_name:
            continue
        store = open_store(settings, service)
        if isinstance(store, str):
            progress.notes.append(store)
        else:
            stores.append(store)
    progress.total = sum(store.size_up() for store in stores)
    for store in stores:
        for batch in store.events(settings.replay_batch_size):
            apply(batch)
            progress.read += len(batch)
