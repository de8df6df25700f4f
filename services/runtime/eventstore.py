"""A service's event-sourced application on its own Postgres database.

The `eventsourcing` library's calls block; `BlockingRunner` runs them on a small pool of worker
threads so the event loop keeps serving Kafka and HTTP meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import functools
import itertools
import pickle
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, ParamSpec, TypeVar, cast

import psycopg
from eventsourcing import persistence
from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    Repository,
    project_aggregate,
)
from eventsourcing.domain import BaseAggregate
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    ProcessRecorder,
    Recording,
    StoredEvent,
    Tracking,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
    PostgresProcessRecorder,
)
from eventsourcing.utils import get_topic, register_topic, retry
from psycopg import Connection, Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composable, Identifier

from services.runtime.aggregate import (
    Aggregate,
    DateAsISO,
    ValueObjectTranscoding,
    module_path_name,
    service_of,
)
from services.runtime.context import current_message
from services.runtime.database import PostgresLocation, bound_store_retries
from services.runtime.decoding import FastJSONTranscoder, FastMapper
from services.runtime.idempotency import KeyInUse, keyed_request_to_record
from services.runtime.metrics import APPEND_SECONDS
from services.runtime.outages import OUTAGE_ERRORS
from services.runtime.relay_messages import OutboxRow

if TYPE_CHECKING:
    from contracts.base import IntegrationEvent
    from contracts.envelope import Envelope
    from services.runtime.projections import Change, InMemoryReadModels, ReadModels, Select

P = ParamSpec("P")
R = TypeVar("R")


ReadModelChange = tuple[str, Sequence[Any]]
"""An SQL statement and its parameters that update a read model table."""


class SavepointsNeeded(Exception):
    """A unit of work run without savepoints met an error that one would have undone, and went
    on after it: it was rolled back, to be run again with savepoints."""


@dataclass
class _OpenUnitOfWork:
    datastore: PostgresDatastore
    connection: Connection[DictRow]
    savepoints: bool = True
    """Whether its blocks open savepoints (`ServiceApplication.unit_of_work`)."""
    spoilt_by: BaseException | None = None
    """Without savepoints: the first error that left a block, whose writes stand."""
    store_locked: bool = False
    """The store's table lock (and its lock timeout) is taken: it is held until the end."""
    notified: bool = False
    """The store's channel is notified: Postgres sends one notification at commit anyway."""
    guarded: int = 0
    """How many `all_or_nothing` savepoints are open around the current statement."""
    aggregates: dict[uuid.UUID, tuple[Any, int, bool]] = field(default_factory=dict)
    """The aggregates loaded or saved in it, each with the version it had then and whether the
    store's lock was held by then: what the next load of one in this unit of work starts from,
    and what is kept as committed when it commits."""
    touched: list[uuid.UUID] = field(default_factory=list)
    """The ids of `aggregates` in the order they were loaded or saved, so that a savepoint rolled
    back forgets those it touched."""
    recorded: list[Recording[uuid.UUID]] = field(default_factory=list)
    """The events recorded in it whose messages are to be kept, made in one go at its end."""
    committed: CommittedAggregates | None = None
    """The process's committed aggregates, brought up to date with the store as a batch takes the
    store's lock (`ReadModelRecorder.tracked_versions`), so that what it keeps as current can be
    loaded with no query."""
    locked_at: int | None = None
    """The store's last notification id as its lock found it, when `committed` was brought up to
    date then; None before, or when the lock was released with a savepoint rolled back."""
    position: int | None = None
    """With `locked_at`: the store's last notification id now, its own inserts included (no one
    else inserts while it holds the lock)."""
    locked_before_loading: bool = False
    """With `locked_at`: the lock was taken as a consumer's batch began, by `tracked_versions`
    before any aggregate was loaded or saved, so every one loaded in it is what the store
    holds."""
    deferred: list[StoredEvent] = field(default_factory=list)
    """Events saved while it held the store's lock without savepoints, not yet inserted: they
    go in together (`ReadModelRecorder.insert_deferred`), before any other insert and at its
    end. Their recordings carry placeholder notification ids until then (`placeholder_id`)."""
    inserted_deferred: int = 0
    """How many deferred events were inserted already: the next placeholders follow theirs."""
    deferred_by: Any = None
    """The recorder whose events `deferred` holds: its reads of them include them."""
    assigned: dict[int, int] = field(default_factory=dict)
    """Placeholder notification id → the id the event got when it was inserted."""
    reads: dict[tuple[str, Any], tuple[frozenset[str], list[dict[str, Any]]]] = field(
        default_factory=dict
    )
    """Read-model rows it read (`ServiceApplication.read`), by query and parameters, with the
    tables they came from: the same read again is answered from here until it writes to one of
    those tables (`forget_reads`) or a savepoint of it is rolled back."""

    changes_waiting: list[ReadModelChange] = field(default_factory=list)
    """Without savepoints: the read-model changes of its saves, not sent yet. They go together
    (`send_changes`) before a read of a table they write, before a `write`, and at its end: a
    batch of a hundred orders sent each order's five status rows one round trip at a time."""
    tables_waiting: set[str | None] = field(default_factory=set)
    """The tables `changes_waiting` write (None: a statement whose table is not known)."""

    def wait_to_send(self, changes: Sequence[ReadModelChange]) -> None:
        """Keep a save's read-model changes for `send_changes`, forgetting the rows read from
        the tables they write."""
        for statement, _ in changes:
            table = table_written(statement)
            self.tables_waiting.add(table)
            if self.reads:
                self.forget_reads(table)
        self.changes_waiting.extend(changes)

    def send_changes_before_reading(self, tables: frozenset[str] | None) -> None:
        """Send the changes waiting if a read of `tables` (None: not known) could see one."""
        if self.changes_waiting and (
            tables is None
            or None in self.tables_waiting
            or not self.tables_waiting.isdisjoint(tables)
        ):
            self.send_changes()

    def send_changes(self) -> None:
        """Send every change waiting, in the order they were saved: one alone, more in one
        pipeline (a run of one statement as one `executemany`). A pipeline waits on the server
        three times, which for one change cost more CPU than its own round trip, and less for
        two or more (measured: 130 µs / 175 µs for one, 240 µs / 190 µs for two, client and
        server together). A change that fails spoils the unit of work, as an error after which
        it went on: it is rolled back and run again with savepoints, where each change goes with
        its save and fails there, in the message it belongs to."""
        if not self.changes_waiting:
            return
        changes, self.changes_waiting = self.changes_waiting, []
        self.tables_waiting.clear()
        try:
            with self.datastore.get_connection() as connection, connection.cursor() as cursor:
                # Statements are the service's own constants; psycopg takes them as bytes.
                if len(changes) < PIPELINED_FROM:
                    for statement, parameters in changes:
                        cursor.execute(statement.encode(), parameters)
                    return
                with connection.pipeline():
                    for statement, run in itertools.groupby(changes, key=lambda change: change[0]):
                        cursor.executemany(
                            statement.encode(), [parameters for _, parameters in run]
                        )
        except OUTAGE_ERRORS:
            raise
        except Exception as error:
            if self.spoilt_by is None:
                self.spoilt_by = error
            raise SavepointsNeeded(f"a read-model change failed: {error!r}") from error

    def forget_reads(self, table: str | None) -> None:
        """Forget the rows read from `table` (None: from any table)."""
        if table is None:
            self.reads.clear()
            return
        for key in [key for key, (tables, _) in self.reads.items() if table in tables]:
            del self.reads[key]

    def touch(self, aggregate: Any) -> None:
        """Note an aggregate as this unit of work has it now (loaded, or just saved)."""
        self.aggregates[aggregate.id] = (aggregate, aggregate.version, self.store_locked)
        self.touched.append(aggregate.id)

    def stored(self, notification_ids: Sequence[int] | None) -> None:
        """Note the ids of events it inserted: `position` follows them."""
        if notification_ids and self.position is not None:
            self.position = max(self.position, *notification_ids)

    def current(self, aggregate_id: uuid.UUID) -> tuple[Any, bool] | None:
        """The aggregate as this unit of work last loaded or saved it, and whether it is known to
        be what the store holds (the store's lock was held since, so no other writer stored an
        event after it); None when it has not, or when it was changed since without being
        saved."""
        entry = self.aggregates.get(aggregate_id)
        if entry is None or not _unchanged(entry[0], entry[1]):
            return None
        return entry[0], entry[2]

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """A savepoint; when it is rolled back, so are the lock and the notification taken in
        it (Postgres releases a lock taken after a savepoint rolled back to), and the aggregates
        loaded or saved in it are forgotten (they may hold what was undone)."""
        locked, notified, touched = self.store_locked, self.notified, len(self.touched)
        recorded, locked_at, position = len(self.recorded), self.locked_at, self.position
        deferred, changes = len(self.deferred), len(self.changes_waiting)
        try:
            with self.connection.transaction() if self.savepoints else contextlib.nullcontext():
                yield
        except BaseException as error:
            if not self.savepoints and self.spoilt_by is None:
                self.spoilt_by = error
            self.store_locked, self.notified = locked, notified
            self.locked_at, self.position = locked_at, position
            self.reads.clear()  # some may hold what was undone
            del self.deferred[deferred:]
            del self.changes_waiting[changes:]
            for aggregate_id in self.touched[touched:]:
                self.aggregates.pop(aggregate_id, None)
            del self.touched[touched:]
            del self.recorded[recorded:]
            raise


def placeholder_id(index: int) -> int:
    """The notification id a deferred event's recording carries until it is inserted: negative,
    by its place in `_OpenUnitOfWork.deferred`."""
    return -1 - index


_TABLE_NAME = r"(?:\w+\.)?\"?(\w+)\"?"
_TABLES_READ = re.compile(rf"\b(?:FROM|JOIN)\s+(?:ONLY\s+)?{_TABLE_NAME}(\s*\()?", re.IGNORECASE)
_COMMA_JOIN = re.compile(rf"\bFROM\s+{_TABLE_NAME}(?:\s+(?:AS\s+)?\w+)?\s*,", re.IGNORECASE)
_TABLE_WRITTEN = re.compile(
    rf"\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+{_TABLE_NAME}", re.IGNORECASE
)
_WRITES = re.compile(r"\b(?:INSERT|UPDATE|DELETE|TRUNCATE|MERGE|COPY)\b", re.IGNORECASE)


@functools.lru_cache(maxsize=1024)
def tables_named(query: str) -> frozenset[str] | None:
    """The names a query reads from (tables, and the names of its own subqueries); None when
    that is not known: a function read from, a comma join (the names after the first are not
    looked for), a statement that may write."""
    if _COMMA_JOIN.search(query) or _WRITES.search(query):
        return None
    tables = set()
    for name, call in _TABLES_READ.findall(query):
        if call:
            return None
        tables.add(name)
    return frozenset(tables)


@functools.lru_cache(maxsize=1024)
def tables_read(query: str, read_model_tables: frozenset[str]) -> frozenset[str] | None:
    """The tables a query reads, when they are all read-model tables of `read_model_tables`;
    None otherwise (a function, a subquery's alias or any other name: not known to be one)."""
    tables = tables_named(query)
    if not tables or not tables <= read_model_tables:
        return None
    return tables


def table_written(statement: str) -> str | None:
    """The table an `INSERT`, `UPDATE` or `DELETE` writes to (None: not one of those)."""
    found = _TABLE_WRITTEN.match(statement)
    return found.group(1) if found else None


_MUTABLE = (dict, list)
"""What a column's value may be that a caller could change in place (JSON, arrays): rows holding
one are not kept for the next read."""


def _hashable(parameters: Sequence[Any]) -> Any:
    """Query parameters as a key (lists, as `= ANY(%s)` takes them, as tuples)."""
    return tuple(tuple(value) if isinstance(value, list) else value for value in parameters)


def _unchanged(aggregate: Any, version: int) -> bool:
    """Whether an aggregate is still as it was at `version`: no event since, saved or not."""
    return aggregate.version == version and not getattr(aggregate, "pending_events", None)


_unit_of_work: contextvars.ContextVar[_OpenUnitOfWork | None] = contextvars.ContextVar(
    "unitrail_unit_of_work", default=None
)

_STORE_ERRORS: tuple[tuple[type[psycopg.Error], type[persistence.PersistenceError]], ...] = (
    (psycopg.InterfaceError, persistence.InterfaceError),
    (psycopg.OperationalError, persistence.OperationalError),
    (psycopg.IntegrityError, persistence.IntegrityError),
    (psycopg.DataError, persistence.DataError),
    (psycopg.Error, persistence.PersistenceError),
)


class UnitOfWorkDatastore(PostgresDatastore):
    """The library's datastore, except that while a unit of work is open on the current thread
    every statement runs on its connection, inside its one transaction.

    The library opens a transaction of its own around each write; inside a unit of work that
    becomes a savepoint, so many saves (their events, tracking rows, read-model changes, and the
    store's table lock) commit together, once.
    """

    @contextlib.contextmanager
    def get_connection(self) -> Iterator[Connection[DictRow]]:
        work = _unit_of_work.get()
        if work is None or work.datastore is not self:
            with super().get_connection() as connection:
                yield connection
            return
        try:
            yield work.connection
        except psycopg.Error as error:
            # The same exceptions the library raises outside a unit of work.
            for driver_error, store_error in _STORE_ERRORS:
                if isinstance(error, driver_error):
                    raise store_error(str(error)) from error
            raise


PIPELINED_FROM = 2
"""A batch's read-model changes waiting go in one pipeline when there are at least this many
(`_OpenUnitOfWork.send_changes`); fewer, one round trip each."""

INSERTED_AS_ROWS = 8
"""A save of at most this many events inserts them as rows of values; more, as four arrays."""

STORED_SINCE_LISTED = 1_000
"""A batch taking the store's lock reads at most this many events stored since the
process's committed aggregates were last known current (`CommittedAggregates.through`); when
there are more, none is known current any longer."""


class _StatementsComposedOnce(PostgresAggregateRecorder):
    """The library's recorder, with its statements composed to bytes once. The library keeps
    them as composable SQL objects, which psycopg turns into bytes again on every execution,
    and `select_events` composes its statement anew on every call (twice per aggregate loaded:
    snapshot and events); together that was 2-3% of a consuming service's CPU."""

    _COMPOSED = (
        "insert_events_statement",
        "select_events_statement",
        "max_notification_id_statement",
        "insert_tracking_statement",
        "max_tracking_id_statement",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in self._COMPOSED:
            statement = getattr(self, name, None)
            if isinstance(statement, Composable):
                setattr(self, name, statement.as_bytes(None))
        self._select_events_statements: dict[tuple[bool, bool, bool, bool], bytes] = {}
        notified = isinstance(self, PostgresApplicationRecorder)  # the relay reads these ids
        returning = SQL(" RETURNING notification_id") if notified else SQL("")
        self.events_table = SQL("{0}.{1}").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name)
        )
        """The events table's qualified name, for the statements composed here and below."""
        self._insert_columns_statement = (
            SQL(
                "INSERT INTO {table} (originator_id, originator_version, topic, state) "
                "SELECT * FROM unnest(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[])"
                "{returning}"
            )
            .format(
                table=self.events_table,
                id_type=Identifier(self.datastore.originator_id_type),
                returning=returning,
            )
            .as_bytes(None)
        )
        self._insert_rows_prefix = (
            SQL("INSERT INTO {0} (originator_id, originator_version, topic, state) ")
            .format(self.events_table)
            .as_bytes(None)
        )
        self._insert_rows_suffix = returning.as_bytes(None)
        self._insert_rows_statements: dict[int, bytes] = {}

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        """The events as four arrays, one per column, sent in binary. The library sends one
        array of a composite type as text, which psycopg builds in Python, escaping every
        event's state twice (the bytes as hex inside the composite, then inside the array):
        10-15% of a consuming service's CPU in a burst of orders.

        A save of a few events, most saves, sends their values row by row instead, in a
        statement prepared once per number of rows: psycopg inspects every array it sends to
        choose how to send it, which for one or two elements was most of the insert's client
        CPU (7% of a consuming service's in a burst of orders; 64 → 37 µs per insert of one
        event, 78 → 48 µs of two)."""
        if 0 < len(stored_events) <= INSERTED_AS_ROWS:
            curs.execute(
                self._insert_rows_statement(len(stored_events)),
                [
                    value
                    for event in stored_events
                    for value in (
                        event.originator_id,
                        event.originator_version,
                        event.topic,
                        event.state,
                    )
                ],
                prepare=True,
            )
            return
        curs.execute(
            self._insert_columns_statement,
            (
                [event.originator_id for event in stored_events],
                [event.originator_version for event in stored_events],
                [event.topic for event in stored_events],
                [event.state for event in stored_events],
            ),
        )

    def _insert_rows_statement(self, rows: int) -> bytes:
        statement = self._insert_rows_statements.get(rows)
        if statement is None:
            values = b", ".join([b"(%b, %b, %b, %b)"] * rows)
            statement = b"".join((self._insert_rows_prefix, b"VALUES ", values))
            statement = self._insert_rows_statements[rows] = statement + self._insert_rows_suffix
        return statement

    @retry((persistence.InterfaceError, persistence.OperationalError), max_attempts=10, wait=0.2)
    def select_events(
        self,
        originator_id: uuid.UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """The library's query, its statement composed once per shape."""
        shape = (gt is not None, lte is not None, desc, limit is not None)
        statement = self._select_events_statements.get(shape)
        if statement is None:
            statement = self._select_events_statements[shape] = b"".join(
                (
                    cast(bytes, self.select_events_statement),
                    b" AND originator_version > %s" if gt is not None else b"",
                    b" AND originator_version <= %s" if lte is not None else b"",
                    b" ORDER BY originator_version",
                    b" DESC" if desc else b" ASC",
                    b" LIMIT %s" if limit is not None else b"",
                )
            )
        params = [value for value in (originator_id, gt, lte, limit) if value is not None]
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params, prepare=True)
            stored = [
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in curs.fetchall()
            ]
        work = _unit_of_work.get()
        if work is None or work.deferred_by is not self or not work.deferred:
            return stored
        # Its own events not inserted yet are as much what the store holds for this unit of work.
        deferred = [
            event
            for event in work.deferred
            if event.originator_id == originator_id
            and (gt is None or event.originator_version > gt)
            and (lte is None or event.originator_version <= lte)
        ]
        if not deferred:
            return stored
        stored.extend(deferred)
        stored.sort(key=lambda event: event.originator_version, reverse=desc)
        return stored[:limit] if limit is not None else stored


class SnapshotRecorder(_StatementsComposedOnce):
    """The library's recorder of snapshots, its statements composed once."""


class UnitOfWorkPostgresFactory(PostgresFactory):
    """The library's Postgres infrastructure, on a datastore that can share one transaction."""

    aggregate_recorder_class = SnapshotRecorder

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        # The library builds its datastore inline; the subclass adds behaviour, no state.
        self.datastore.__class__ = UnitOfWorkDatastore


class ReadModelRecorder(_StatementsComposedOnce, PostgresProcessRecorder):
    """Records events and the consumed message's tracking, and applies read model changes, all in
    one transaction: a read model is never ahead of or behind what the service consumed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Each event's message as its relay sends it, written in the event's transaction
        # (`relay_messages.OutboxRow`): the relay reads it and sends it, where it decoded,
        # translated and wrote every event again. Events stored without one (from before, or
        # never published) have no row.
        self.messages_table_name = f"{self.events_table_name}_messages"
        messages = SQL("{0}.{1}").format(
            Identifier(self.datastore.schema), Identifier(self.messages_table_name)
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (notification_id bigint PRIMARY KEY, "
                "message_key bytea NOT NULL, message_value bytea NOT NULL, "
                "message_headers bytea NOT NULL)"
            ).format(messages)
        )
        self._insert_messages_statement = (
            SQL(
                "INSERT INTO {0} (notification_id, message_key, message_value, message_headers) "
                "SELECT * FROM unnest(%b::bigint[], %b::bytea[], %b::bytea[], %b::bytea[])"
            )
            .format(messages)
            .as_bytes(None)
        )
        table = SQL("{0}.{1}").format(
            Identifier(self.datastore.schema), Identifier(self.tracking_table_name)
        )
        events = self.events_table
        self._tracked_versions_statement = (
            SQL(
                "SELECT application_name, notification_id FROM {0} "
                "WHERE application_name = ANY(%s::text[]) "
                "UNION ALL SELECT NULL, max(notification_id) FROM {1}"
            )
            .format(table, events)
            .as_bytes(None)
        )
        self._stored_since_statement = (
            SQL("SELECT originator_id FROM {0} WHERE notification_id > %s LIMIT %s")
            .format(events)
            .as_bytes(None)
        )
        self._insert_trackings_statement = (
            SQL(
                "INSERT INTO {0} (application_name, notification_id) "
                "SELECT * FROM unnest(%s::text[], %s::bigint[]) "
                "ON CONFLICT (application_name) DO UPDATE "
                "SET notification_id = excluded.notification_id "
                "WHERE {0}.notification_id < excluded.notification_id"
            )
            .format(table)
            .as_bytes(None)
        )

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's, and the unit of work's; `outbox=[...]` (one `OutboxRow` or None per
        stored event) keeps each event's message beside it."""
        work = _unit_of_work.get()
        if work is None:
            inserted: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return inserted
        # Inside a unit of work the library's transaction would be a savepoint. Its pipelined
        # insert holds a failed statement's error until the block has ended normally, and
        # releasing a savepoint of a failed transaction fails in turn, hiding the real error (a
        # conflict to decide again, most often). Unpipelined, the error ends the block and undoes
        # what it wrote, and the caller sees what really went wrong. Inside `all_or_nothing`
        # that savepoint is already there: a second one per save would only cost round trips.
        with (
            self.datastore.get_connection() as connection,  # raises the library's errors
            self._savepoint_unless_guarded(work),
            connection.cursor() as cursor,
        ):
            self._insert_events(cursor, stored_events, **kwargs)
            if not stored_events:
                return None
            if self._defers(work, kwargs):
                first = work.inserted_deferred + len(work.deferred)
                work.deferred.extend(stored_events)
                work.deferred_by = self
                return [placeholder_id(first + n) for n in range(len(stored_events))]
            self._insert_deferred(cursor, work)  # what was saved before goes in first
            self._insert_stored_events(cursor, stored_events, **kwargs)
            ids = self._fetch_ids_after_insert_events(cursor, stored_events, **kwargs)
            work.stored(ids)
            return ids

    @staticmethod
    def _defers(work: _OpenUnitOfWork, kwargs: Mapping[str, Any]) -> bool:
        """Whether a save's events wait to be inserted with the unit of work's others: in a batch
        run without savepoints that read the store under its lock (`locked_at`) before it loaded
        anything, where every aggregate it loads is current and nothing else can be stored, so
        a save cannot conflict with anyone else's (a conflict among its own saves fails the
        insert at its end, and the batch runs again with savepoints, inserting each save as it
        is made). Not a save that records the consumed message's tracking, nor one that asked
        for its insert at once (a keyed request, which must see its key taken when it is)."""
        return (
            work.locked_at is not None
            and work.locked_before_loading
            and not work.savepoints
            and bool(kwargs.get("deferrable"))
            and kwargs.get("tracking") is None
            and kwargs.get("outbox") is None
        )

    def insert_deferred(self) -> None:
        """Insert the events the open unit of work deferred (`_defers`), in one statement."""
        work = _unit_of_work.get()
        if work is None or work.deferred_by is not self or not work.deferred:
            return
        with self.datastore.get_connection() as connection, connection.cursor() as cursor:
            self._insert_deferred(cursor, work)

    def _insert_deferred(self, cursor: Cursor[DictRow], work: _OpenUnitOfWork) -> None:
        if work.deferred_by is not self or not work.deferred:
            return
        self._insert_stored_events(cursor, work.deferred)
        ids = self._fetch_ids_after_insert_events(cursor, work.deferred) or []
        first = work.inserted_deferred
        work.assigned.update(
            (placeholder_id(first + index), notification_id)
            for index, notification_id in enumerate(ids)
        )
        work.stored(ids)
        work.inserted_deferred += len(ids)
        work.deferred = []

    def insert_tracking(self, tracking: Tracking) -> None:
        work = _unit_of_work.get()
        if work is None:
            super().insert_tracking(tracking)
            return
        # A single-row tracking insert that conflicts changes no row and fails no statement: it
        # needs no savepoint to keep the unit of work usable.
        isolated = not self.datastore.single_row_tracking
        with (
            self.datastore.get_connection() as connection,
            self._savepoint_unless_guarded(work) if isolated else contextlib.nullcontext(),
            connection.cursor() as cursor,
        ):
            self._prepare_to_write(cursor, notify=False)
            self._insert_tracking(cursor, tracking)

    def tracked_versions(self, sources: Collection[str], *, notify: bool = False) -> dict[str, int]:
        """The last version tracked of each source (0 when none), in one query: a consumer's
        batch asks once for every source it holds, instead of once per source.

        Inside a unit of work the store's lock is taken first, even when there is no source to
        read: every tracking write takes it, so what is read here, and any tracking row read
        later in the unit of work, stays true until it commits. That is what lets a batch write
        its tracking rows at its end (`insert_trackings`). `notify`: the relays' signal goes in
        the same round trip as the lock, for a unit of work that expects to store events (it
        would otherwise be one more before its first event).

        The same query reads the store's last notification id, with which the unit of work
        brings the process's committed aggregates up to date (`CommittedAggregates`): a second
        query lists what was stored since they were, only when something was."""
        work = _unit_of_work.get()
        if not sources and work is None:
            return {}
        with self.datastore.get_connection() as connection, connection.cursor() as cursor:
            committed = None
            if work is not None:
                loaded = bool(work.touched) or work.store_locked
                self._prepare_to_write(cursor, notify=notify)
                if work.committed is not None and work.datastore is self.datastore:
                    committed = work.committed
            if not sources and committed is None:
                return {}
            # Where the store stands comes with the tracking rows: the row without a source.
            cursor.execute(self._tracked_versions_statement, (list(sources),), prepare=True)
            found = {row["application_name"]: row["notification_id"] for row in cursor.fetchall()}
            if work is not None and committed is not None:
                position = int(found.pop(None, None) or 0)
                committed.bring_up_to_date(
                    position, self._stored_since(cursor, committed, position)
                )
                work.locked_at = work.position = position
                work.locked_before_loading = not loaded
        return {source: int(found.get(source) or 0) for source in sources}

    def _stored_since(
        self, cursor: Cursor[DictRow], committed: CommittedAggregates, position: int
    ) -> list[uuid.UUID] | None:
        """The aggregates with events stored after `committed.through`, up to the store's last
        notification id `position`: none when it is `through` (mostly: the process's own units of
        work are the only writers), None when unknown (never read, or more than
        `STORED_SINCE_LISTED`)."""
        through = committed.through
        if through is None or position < through:
            return None
        if position == through:
            return []
        cursor.execute(self._stored_since_statement, (through, STORED_SINCE_LISTED), prepare=True)
        changed = [row["originator_id"] for row in cursor.fetchall()]
        return changed if len(changed) < STORED_SINCE_LISTED else None

    def insert_trackings(self, versions: Mapping[str, int]) -> None:
        """Move each source's tracking up to its version in one statement (inside a unit of
        work, after `tracked_versions` took the store's lock): a batch's tracking rows wait for
        its end, one per source rather than one per event. A row already at or past its version
        is left as it is (a parked event applied later in the batch recorded a higher one with
        its save)."""
        if not versions:
            return
        assert self.datastore.single_row_tracking, "tracking rows are kept one per source"
        with self.datastore.get_connection() as connection, connection.cursor() as cursor:
            self._prepare_to_write(cursor, notify=False)
            sources = sorted(versions)  # one locking order for every writer
            cursor.execute(
                self._insert_trackings_statement,
                (sources, [versions[source] for source in sources]),
                prepare=True,
            )

    @staticmethod
    def _savepoint_unless_guarded(work: _OpenUnitOfWork) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext() if work.guarded else work.savepoint()

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        self._prepare_to_write(curs, notify=bool(stored_events))
        super()._insert_events(curs, stored_events, **kwargs)
        changes: Sequence[ReadModelChange] = kwargs.get("read_model_changes", ())
        work = _unit_of_work.get() if changes else None
        if work is not None and not work.savepoints:
            work.wait_to_send(changes)
            return
        for statement, parameters in changes:
            if work is not None and work.reads:
                work.forget_reads(table_written(statement))
            # Statements are the service's own constants; psycopg takes them as bytes.
            curs.execute(statement.encode(), parameters)

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        # The library locks the table and notifies here, again; `_prepare_to_write` did both.
        _StatementsComposedOnce._insert_stored_events(self, curs, stored_events, **kwargs)

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        outbox: Sequence[OutboxRow | None] | None = kwargs.get("outbox")
        if outbox is not None and ids:
            self.insert_messages(curs, zip(ids, outbox, strict=True))
        return ids

    def insert_messages(
        self, cursor: Cursor[DictRow], messages: Iterable[tuple[int, OutboxRow | None]]
    ) -> None:
        """Keep the messages of stored events (by notification id) beside them, in the current
        transaction; an event without one (None) has nothing kept."""
        kept = [(notification_id, row) for notification_id, row in messages if row is not None]
        if kept:
            cursor.execute(
                self._insert_messages_statement,
                (
                    [notification_id for notification_id, _ in kept],
                    [row.key for _, row in kept],
                    [row.value for _, row in kept],
                    [row.headers for _, row in kept],
                ),
            )

    def _prepare_to_write(self, curs: Cursor[DictRow], *, notify: bool) -> None:
        """The store's table lock first, before any tracking or read-model row: every writer then
        takes its locks in one order, and a long unit of work (a consumer's batch) cannot
        deadlock with a writer that holds a row it needs while waiting for the table. The lock
        is held until commit, so notification ids commit in the order they were issued (the
        relay reads them without gaps).

        A unit of work takes the lock, and notifies the relays, once: in one round trip, before
        its first write, and again only after a savepoint that took them was rolled back."""
        work = _unit_of_work.get()
        if work is None:
            self._lock_table(curs)
            if notify:
                self._notify_channel(curs)
            return
        statements: list[Any] = []  # the library types its statements loosely
        if not work.store_locked:
            statements.extend(self.lock_table_statements)
        if notify and not work.notified:
            statements.append(SQL("NOTIFY {0}").format(Identifier(self.channel_name)))
        if not statements:
            return
        # Without parameters psycopg sends the statements as one simple query: one round trip.
        curs.execute(SQL("; ").join(statements))
        work.store_locked = True
        work.notified = work.notified or notify


def _mutate_in_turn(aggregate: Any, domain_events: Iterable[Any]) -> Any:
    for domain_event in domain_events:
        aggregate = domain_event.mutate(aggregate)
    return aggregate


class _Repository(Repository[uuid.UUID]):
    """The library's repository, without the check its projector makes of every event it
    replays: an `isinstance` against a runtime-checkable protocol, which Python 3.11 answers by
    collecting the protocol's attributes each time (more CPU than the mutation itself). The
    events are the service's own, read from its own store."""

    def _reconstruct_aggregate(
        self, aggregate_id: uuid.UUID, version: int | None, projector_func: Any
    ) -> Any:
        if projector_func is project_aggregate:
            projector_func = _mutate_in_turn
        return super()._reconstruct_aggregate(aggregate_id, version, projector_func)


class _ProcessingEvent(ProcessingEvent[uuid.UUID]):
    """The library's, except that a saved aggregate of the service is known by its class: the
    library asks of every saved object whether it is a domain event, then whether it can collect
    events, each an `isinstance` against a runtime-checkable protocol, which Python 3.11 answers
    by collecting the protocol's attributes every time (about 1% of a consuming service's CPU)."""

    def collect_events(self, *objs: Any, **kwargs: Any) -> None:
        for obj in objs:
            if isinstance(obj, BaseAggregate):
                self.events.extend(obj.collect_events())
                self.aggregates[obj.id] = obj
            elif obj is not None:
                super().collect_events(obj)
        self.saved_kwargs.update(kwargs)


class CommittedAggregates:
    """The aggregates this process saved or loaded, as committed, by id: a load starts from the
    one kept and reads only the events stored after it (another process's, say), instead of a
    snapshot and up to 49 events replayed.

    Only what committed is kept. A unit of work takes the aggregates it loads out (`take`): they
    are its own until it commits, and nothing else can see what it changes in them; when it
    commits it gives back (`keep_committed`) those it loaded or saved and did not change
    afterwards, as they are, with no copy. When it is rolled back nothing is given back, so
    nothing it undid is ever loaded. A save outside a unit of work keeps a copy (its caller still
    holds the aggregate), and a load outside one gets a copy.

    Most loads need no query at all. The aggregates are known current up to a position of the
    store (`through`, a notification id): a consumer's batch, as it takes the store's lock, reads
    which aggregates have events after it (none, mostly, and then it is one more row of the query
    it makes anyway), and forgets those (`bring_up_to_date`); every other one it takes while it
    holds the lock is what the store holds, since nothing can be stored meanwhile.
    A unit of work that committed under the lock moves the position on past its own events, the
    only ones stored since. An aggregate kept with what it was current at behind that position
    (a slower thread's, a copy) is marked not known current, and is loaded with the events after
    it as before.
    """

    def __init__(self, most: int) -> None:
        self._most = most
        self._kept: OrderedDict[uuid.UUID, tuple[int, Any, bytes | None, bool]] = OrderedDict()
        """By id: the version, the aggregate itself (nothing else holds it) or a copy of it as
        pickled bytes, and whether it is known current up to `_through`."""
        self._through: int | None = None
        self._lock = threading.Lock()

    @property
    def through(self) -> int | None:
        """The store position up to which the aggregates kept as current hold every event of
        theirs; None before the store was first read."""
        return self._through

    def bring_up_to_date(self, position: int, changed: Iterable[uuid.UUID] | None) -> None:
        """What the store holds, read under its lock: its last notification id, and the
        aggregates with events after `through` (None: too many to list, or never read before).
        Those are forgotten (all are no longer known current, for None); the rest are current up
        to `position`."""
        with self._lock:
            if changed is None:
                for aggregate_id, (version, aggregate, state, _) in self._kept.items():
                    self._kept[aggregate_id] = (version, aggregate, state, False)
            else:
                for aggregate_id in changed:
                    self._kept.pop(aggregate_id, None)
            self._through = position

    def take(self, aggregate_id: uuid.UUID) -> tuple[Any, bool] | None:
        """The aggregate kept, for a unit of work to change: no longer kept until it is given
        back; with whether it is known current up to `through`. None when none is kept."""
        with self._lock:
            kept = self._kept.pop(aggregate_id, None)
        if kept is None:
            return None
        _, aggregate, state, current = kept
        return (aggregate if state is None else pickle.loads(state)), current

    def copy_of(self, aggregate_id: uuid.UUID) -> Any | None:
        """A copy of the aggregate as last kept, or None."""
        with self._lock:
            kept = self._kept.get(aggregate_id)
            if kept is None:
                return None
            self._kept.move_to_end(aggregate_id)
            _, aggregate, state, _ = kept
            if state is None:
                state = pickle.dumps(aggregate, protocol=pickle.HIGHEST_PROTOCOL)
        return pickle.loads(state)

    def keep_committed(
        self,
        aggregates: Iterable[tuple[Any, int, bool]],
        *,
        locked_at: int | None = None,
        position: int | None = None,
    ) -> None:
        """Keep, as they are, the aggregates a unit of work committed, each with the version it
        had when the unit of work last loaded or saved it, and whether the store's lock was held
        by then; one changed since is forgotten. A unit of work that brought the aggregates up to
        date at `locked_at` under the lock and committed at `position` moves `through` on to
        it, if no one brought them up to date since."""
        if self._most <= 0:
            return
        with self._lock:
            if locked_at is not None and self._through == locked_at:
                self._through = position
            for aggregate, version, locked in aggregates:
                if not _unchanged(aggregate, version):
                    self._kept.pop(aggregate.id, None)
                    continue
                current = (
                    locked
                    and position is not None
                    and self._through is not None
                    and position >= self._through
                )
                self._keep_locked(aggregate.id, (version, aggregate, None, current))

    def keep_copies(self, aggregates: Iterable[Any]) -> None:
        """Keep copies of aggregates saved outside a unit of work (their caller still has them),
        not known current; any with events not yet saved are left out."""
        if self._most <= 0:
            return
        for aggregate in aggregates:
            if getattr(aggregate, "pending_events", None):
                continue  # changed since it was saved: not what is stored
            try:
                state = pickle.dumps(aggregate, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # an aggregate that cannot be pickled is loaded from the store
                continue
            with self._lock:
                self._keep_locked(aggregate.id, (aggregate.version, None, state, False))

    def _keep_locked(
        self, aggregate_id: uuid.UUID, entry: tuple[int, Any, bytes | None, bool]
    ) -> None:
        kept = self._kept.pop(aggregate_id, None)
        if kept is not None and kept[0] > entry[0]:
            self._kept[aggregate_id] = kept  # a later version was kept meanwhile
            return
        self._kept[aggregate_id] = entry
        while len(self._kept) > self._most:
            self._kept.popitem(last=False)

    def forget(self, aggregate_id: uuid.UUID) -> None:
        with self._lock:
            self._kept.pop(aggregate_id, None)


class ServiceApplication(Application[uuid.UUID]):
    """The write side of a service: aggregates in an append-only store with optimistic concurrency.

    When the current unit of work consumes a message, saving records that consumption in the same
    transaction as the new events, so a redelivered message is recognised and never applied twice.
    """

    value_objects: ClassVar[Sequence[type[Any]]] = ()
    """Frozen dataclasses that domain events carry; registered for storage."""

    moved_since_module_paths: ClassVar[Mapping[type[Any], str]] = {}
    """Aggregates and value objects moved to another module since events were stored under
    module paths (before stable names, see `services.runtime.aggregate`), each with the module it
    was in then: what was stored under the old path still reads."""

    pool_size: ClassVar[int] = 5

    committed_aggregates_kept: ClassVar[int] = 2_000
    """How many committed aggregates a process keeps to load from (`CommittedAggregates`), the
    least recently used left out first; 0 keeps none."""

    read_models: ClassVar[ReadModels | None] = None
    """The service's read models and their projections (its `projections.py`): their tables are
    created at start, `project` and `save_projected` apply them live (rendered to SQL and saved in
    the same transaction as the events and the tracking of the message being consumed), and a
    replay rebuilds them."""

    def __init__(self, location: PostgresLocation | None) -> None:
        """Store events in the database at `location`; `None` keeps them in memory (the library's
        own in-memory recorders, for component tests)."""
        self._location = location
        self.keep_message: Callable[[Any], OutboxRow | None] | None = None
        """What the store keeps beside each event it records: its message for the events topic
        (`relay_messages.outbox_writer`; set by the runtime); None keeps nothing, and the relay
        makes the message from the stored event."""
        for moved, module in self.moved_since_module_paths.items():
            if not dataclasses.is_dataclass(moved):  # an aggregate: its events resolve through it
                register_topic(f"{module}:{moved.__qualname__}", moved)
        self.committed = CommittedAggregates(self.committed_aggregates_kept)
        self._append_seconds = APPEND_SECONDS.labels(service_of(type(self)) or type(self).__name__)
        if location is None:
            env = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        else:
            env = location.eventsourcing_env() | {
                "SINGLE_ROW_TRACKING": "y",
                "POSTGRES_POOL_SIZE": str(self.pool_size),
                "POSTGRES_MAX_OVERFLOW": "5",
                "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
                "CREATE_TABLE": "y",
                "PROCESS_RECORDER_TOPIC": f"{__name__}:{ReadModelRecorder.__qualname__}",
                "PERSISTENCE_MODULE": f"{__name__}:{UnitOfWorkPostgresFactory.__qualname__}",
            }
        # Stored events decode to the same objects, with less Python (`decoding`).
        env["TRANSCODER_TOPIC"] = get_topic(FastJSONTranscoder)
        env["MAPPER_TOPIC"] = get_topic(FastMapper)
        super().__init__(env=env)
        if location is not None:
            for recorder in (self.recorder, self.snapshots and self.snapshots.recorder):
                bound_store_retries(recorder, location.timeouts.pool)
        self.read_models_in_memory: InMemoryReadModels | None = (
            self.read_models.in_memory()
            if location is None and self.read_models is not None
            else None
        )
        """The read models of an in-memory store: changed by `save_projected`, read by `query`."""
        tables = self.read_models.ddl() if self.read_models is not None else []
        if location is not None and tables:
            with self._datastore().transaction(commit=True) as cursor:
                for statement in tables:
                    cursor.execute(statement.encode())

    @contextlib.contextmanager
    def unit_of_work(self, *, savepoints: bool = True) -> Iterator[None]:
        """Everything saved in the block (by any number of use cases) commits in one transaction
        at its end, or not at all. Reads in the block see what it saved so far.

        For a batch of consumed messages: one commit and one store lock instead of one per message.
        An in-memory store commits each save at once (component tests).

        Without `savepoints`, its blocks (`all_or_nothing`, each save's own) open none: a
        savepoint released costs two round trips and changes nothing, and one is rolled back
        only when an error leaves its block. An error that leaves a block and then the unit of
        work rolls everything back either way. If anything goes on after such an error (the
        block's writes would have been undone, or the transaction failed with it), the unit of
        work raises `SavepointsNeeded` instead of committing: the caller runs it again with
        savepoints, and gets what that run gives.
        """
        if not self.has_read_models or _unit_of_work.get() is not None:
            yield
            return
        datastore = self._datastore()
        with datastore.get_connection() as connection, connection.transaction():
            work = _OpenUnitOfWork(
                datastore, connection, savepoints=savepoints, committed=self.committed
            )
            token = _unit_of_work.set(work)
            try:
                yield
                if work.spoilt_by is not None:
                    raise SavepointsNeeded(f"went on after {work.spoilt_by!r}")
                work.send_changes()
                self._recorder.insert_deferred()
                self._keep_messages(work)
            except Exception as error:
                spoilt_by = work.spoilt_by
                if spoilt_by is None or error is spoilt_by or isinstance(error, SavepointsNeeded):
                    raise
                raise SavepointsNeeded(f"{error!r} after {spoilt_by!r}") from error
            finally:
                _unit_of_work.reset(token)
        self.committed.keep_committed(
            work.aggregates.values(), locked_at=work.locked_at, position=work.position
        )

    def without_savepoints(self) -> bool:
        """Whether the unit of work under way opens no savepoints (see `unit_of_work`)."""
        work = _unit_of_work.get()
        return work is not None and not work.savepoints

    def _keep_messages(self, work: _OpenUnitOfWork) -> None:
        """The messages of every event the unit of work recorded, made in one pass and kept in
        one statement before it commits: made one save at a time, between a batch's other work,
        each cost about four times as much CPU."""
        if self.keep_message is None or not work.recorded:
            return
        make = self.keep_message
        with work.connection.cursor() as cursor:
            self._recorder.insert_messages(
                cursor,
                [
                    (
                        work.assigned.get(recording.notification.id, recording.notification.id),
                        make(recording.domain_event),
                    )
                    for recording in work.recorded
                ],
            )

    @contextlib.contextmanager
    def all_or_nothing(self) -> Iterator[None]:
        """Inside a unit of work, a savepoint: if the block raises, what it saved is undone and the
        rest of the unit of work stands. Outside one, each save is its own transaction already.

        Saves inside the block share its savepoint rather than opening one each: a save that
        fails (a conflict) leaves the block unusable, so let its error out of the block, and
        decide again in a new one."""
        work = _unit_of_work.get()
        if work is None:
            yield
            return
        with work.savepoint():
            work.guarded += 1
            try:
                yield
            finally:
                work.guarded -= 1

    def construct_repository(self) -> Repository[uuid.UUID]:
        repository = super().construct_repository()
        # The library builds it inline; the subclass changes behaviour, not state.
        repository.__class__ = _Repository
        return repository

    def construct_recorder(self) -> ProcessRecorder:
        if self._location is not None:
            # The library's settings take whole seconds and know no connect or statement timeout;
            # its pool is not open yet, so its connections all get ours.
            pool = self.factory.datastore.pool  # type: ignore[attr-defined]
            self._location.configure_psycopg_pool(pool)
        return self.factory.process_recorder()

    @property
    def _recorder(self) -> ReadModelRecorder:
        assert isinstance(self.recorder, ReadModelRecorder)
        return self.recorder

    @property
    def process_recorder(self) -> ProcessRecorder:
        assert isinstance(self.recorder, ProcessRecorder)
        return self.recorder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
        for value_object in self.value_objects:
            # Read what was stored under the module path before stable names; write (and read)
            # the stable name, registered last.
            transcoder.register(
                ValueObjectTranscoding(value_object, name=module_path_name(value_object))
            )
            if former_module := self.moved_since_module_paths.get(value_object):
                transcoder.register(
                    ValueObjectTranscoding(
                        value_object, name=f"{former_module}.{value_object.__qualname__}"
                    )
                )
            transcoder.register(ValueObjectTranscoding(value_object))

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[uuid.UUID]]:
        """The library's save (collect, record, snapshot), collecting with `_ProcessingEvent`."""
        processing_event = _ProcessingEvent()
        processing_event.collect_events(*objs, **kwargs)
        try:
            recordings = self._record(processing_event)
        except BaseException:
            for aggregate_id in processing_event.aggregates:
                self.committed.forget(aggregate_id)  # someone else wrote: what was kept is old
            raise
        work = self._own_unit_of_work()
        if work is not None:
            for aggregate in processing_event.aggregates.values():
                work.touch(aggregate)
            if self.keep_message is not None:
                work.recorded.extend(recordings)
        else:
            self.committed.keep_copies(processing_event.aggregates.values())
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings

    def _record(self, processing_event: ProcessingEvent[uuid.UUID]) -> list[Recording[uuid.UUID]]:
        # The library's save() collects, records, snapshots and notifies; only the recording step
        # needs to know about the message being consumed or the keyed request being served, so
        # only this step is extended.
        keyed = keyed_request_to_record()
        if keyed is None:
            processing_event.saved_kwargs["deferrable"] = True
            return self._record_consumed(processing_event)
        processing_event.collect_events(keyed.new_record())
        work = _unit_of_work.get()
        try:
            # A savepoint of its own: after a failed insert the transaction must still be usable
            # to read whose record holds the key.
            with work.savepoint() if work is not None else contextlib.nullcontext():
                recordings = self._record_consumed(processing_event)
        except IntegrityError:
            if keyed.saved_record(self) is not None:
                raise KeyInUse(f"a request with idempotency key {keyed.key!r} is running") from None
            raise
        keyed.recorded = True
        return recordings

    def _record_consumed(
        self, processing_event: ProcessingEvent[uuid.UUID]
    ) -> list[Recording[uuid.UUID]]:
        started = time.perf_counter()
        try:
            return self._record_tracked(processing_event)
        finally:
            self._append_seconds.observe(time.perf_counter() - started)

    def _record_tracked(
        self, processing_event: ProcessingEvent[uuid.UUID]
    ) -> list[Recording[uuid.UUID]]:
        keep = self.keep_message
        if keep is not None and self._location is not None and not self._own_unit_of_work():
            # Alone in its transaction: the messages go in with the events. A unit of work makes
            # them for all its events at its end (`_keep_messages`).
            processing_event.saved_kwargs["outbox"] = [
                keep(domain_event) for domain_event in processing_event.events
            ]
        message = current_message()
        if (
            processing_event.tracking is None
            and message is not None
            and message.tracking is not None
            and not message.tracking_recorded
        ):
            processing_event.tracking = message.tracking
            recordings = super()._record(processing_event)
            message.tracking_recorded = True
            return recordings
        return super()._record(processing_event)

    def project(self, event: IntegrationEvent, envelope: Envelope) -> None:
        """Apply a consumed public event to the read models, in the transaction that records its
        consumption (a repeat is skipped by the consumer). What the consumer calls for an event
        the read models project and no handler of the service handles (`subscribe_read_models`)."""
        self.save_projected(read_model_changes=self.projected(event, envelope))

    def projected(self, event: IntegrationEvent, envelope: Envelope) -> list[Change]:
        """The read-model changes of a public event, for a use case that saves them with what it
        decides (`save_projected(..., read_model_changes=...)`)."""
        return self._declared_read_models().project(event, envelope)

    def save_projected(self, *objects: Any, read_model_changes: Sequence[Change] = ()) -> Any:
        """Save aggregates with the read-model changes their new events and state make (the
        service's own projections), after any given ones, in one transaction."""
        read_models = self._declared_read_models()
        changes = [*read_model_changes, *read_models.project_saved(*objects)]
        memory = self.read_models_in_memory
        if memory is None:
            return self.save(*objects, read_model_changes=read_models.render(changes))
        saved = self.save(*objects)  # only a save that stands changes them
        memory.apply(changes)
        return saved

    def _declared_read_models(self) -> ReadModels:
        assert self.read_models is not None, f"{type(self).__name__} declares no read models"
        return self.read_models

    @property
    def has_read_models(self) -> bool:
        """Read models live in Postgres beside the events (an in-memory store keeps them in
        memory instead: `read_models_in_memory`)."""
        return isinstance(self.recorder, PostgresProcessRecorder)

    def has_history(self) -> bool:
        """Whether the store holds any event or has consumed any message (so read models may
        hold rows of them)."""
        recorder = self._recorder
        schema = Identifier(recorder.datastore.schema)
        # The library marks a tracking table it created with a row of its own.
        query = SQL(
            "SELECT EXISTS (SELECT FROM {0}.{1}) "
            "OR EXISTS (SELECT FROM {0}.{2} WHERE application_name <> %s) AS found"
        ).format(
            schema,
            Identifier(recorder.events_table_name),
            Identifier(recorder.tracking_table_name),
        )
        with self._datastore().get_connection() as connection, connection.cursor() as cursor:
            cursor.execute(query, (recorder.table_migration_identifier,))
            row = cursor.fetchone()
        return bool(row and row["found"])

    def read(self, query: str, *parameters: Any) -> list[dict[str, Any]]:
        """Rows of a read model query (the service's own database).

        Inside a unit of work (a consumer's batch), a query of the declared read-model tables
        alone is made once per parameters: read again, the rows come from the unit of work,
        until it writes to one of the tables the query reads (`_OpenUnitOfWork.reads`). A batch
        of a hundred orders for a few products asked for the same kits, product facts and
        listings a hundred times, each a round trip. Other reads go to the database every time:
        tables written other than by the read models' changes (dead letters, customer keys).
        Changes the unit of work keeps waiting (`_OpenUnitOfWork.changes_waiting`) go first when
        the query could see one: it reads what the unit of work saved so far."""
        work = self._own_unit_of_work()
        tables = None
        if work is not None:
            work.send_changes_before_reading(tables_named(query))
        if work is not None and self.read_models is not None:
            tables = tables_read(query, self._read_model_tables)
        if work is None or tables is None:
            return self._read_from_database(query, parameters)
        key = (query, _hashable(parameters))
        try:
            known = work.reads.get(key)
        except TypeError:  # a parameter that is no key (a JSON value): read, not kept
            return self._read_from_database(query, parameters)
        if known is None:
            rows = self._read_from_database(query, parameters)
            if any(type(value) in _MUTABLE for row in rows for value in row.values()):
                return rows  # a JSON value or an array: the caller may change it in place
            known = tables, rows
            work.reads[key] = known
        return [dict(row) for row in known[1]]  # the caller's own, as from the database

    @functools.cached_property
    def _read_model_tables(self) -> frozenset[str]:
        return frozenset(table.name for table in self._declared_read_models().tables)

    def _read_from_database(self, query: str, parameters: Sequence[Any]) -> list[dict[str, Any]]:
        with self._datastore().get_connection() as connection, connection.cursor() as cursor:
            cursor.execute(query.encode(), parameters)
            return [dict(row) for row in cursor.fetchall()]

    def query(self, select: Select, *parameters: Any) -> list[dict[str, Any]]:
        """Rows of a declared read-model query: from the database, or from the read models in
        memory on an in-memory store (the same rows)."""
        memory = self.read_models_in_memory
        if memory is not None:
            return memory.select(select, parameters)
        return self.read(select.sql(self._declared_read_models().schema), *parameters)

    def write(self, statement: str, *parameters: Any) -> None:
        """Run a statement on the service's own database (inside a unit of work: in its
        transaction, which then reads every read model again)."""
        work = self._own_unit_of_work()
        if work is not None:
            work.send_changes()
            work.forget_reads(None)
        with self._datastore().transaction(commit=True) as cursor:
            cursor.execute(statement.encode(), parameters)

    def _datastore(self) -> Any:
        recorder = self.recorder
        assert isinstance(recorder, PostgresProcessRecorder), "read models need Postgres"
        return recorder.datastore

    def _own_unit_of_work(self) -> _OpenUnitOfWork | None:
        work = _unit_of_work.get()
        if work is None or not self.has_read_models or work.datastore is not self._datastore():
            return None
        return work

    def get(self, aggregate_id: Any, kind: type[Any] = Aggregate) -> Any:
        """Load an aggregate, checking that it is of the expected kind: from the one this unit of
        work loaded or saved last, or else the one kept as committed, if any, and the events
        stored after it.

        Inside a unit of work the aggregate loaded is the unit of work's own (see
        `CommittedAggregates`): a use case that loads it again in the same unit of work gets
        the same object, so change it only to save it."""
        work = self._own_unit_of_work()
        aggregate: Any = None
        current = False
        if work is not None:
            found = work.current(aggregate_id)
            if found is not None:
                aggregate, current = found
            else:
                taken = self.committed.take(aggregate_id)
                if taken is not None:
                    aggregate, kept_current = taken
                    # Current up to where the store stood when this unit of work took its lock,
                    # which it still holds: nothing was stored since but its own saves.
                    current = kept_current and work.store_locked and work.locked_at is not None
        else:
            aggregate = self.committed.copy_of(aggregate_id)
        if aggregate is None:
            aggregate = self._load_from_store(aggregate_id, kind)
        elif not current:
            newer = self.repository.event_store.get(aggregate_id, gt=aggregate.version)
            aggregate = _mutate_in_turn(aggregate, newer)
        if not isinstance(aggregate, kind):
            raise TypeError(f"{aggregate_id} is a {type(aggregate).__name__}, not {kind.__name__}")
        if work is not None:
            work.touch(aggregate)
        return aggregate

    def _load_from_store(self, aggregate_id: uuid.UUID, kind: type[Any]) -> Any:
        """An aggregate as its stored events make it: from its last snapshot when it may have
        one, else from its first event. No snapshot is ever taken of a kind that neither it nor a
        kind below it has a snapshotting interval for, and looking for one first cost a query a
        load: inventory looked for a snapshot of each order's new reservation."""
        intervals = self.snapshotting_intervals or {}
        if self.snapshots is not None and any(issubclass(kept, kind) for kept in intervals):
            return self.repository.get(aggregate_id)
        aggregate = _mutate_in_turn(None, self.repository.event_store.get(aggregate_id))
        if aggregate is None:
            raise AggregateNotFoundError(f"Aggregate {aggregate_id!r} version None not found.")
        return aggregate


class BlockingRunner:
    """Runs blocking calls on worker threads, carrying the caller's context variables along."""

    def __init__(self, workers: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="store")

    async def run(self, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, lambda: context.run(function, *args, **kwargs)
        )

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
