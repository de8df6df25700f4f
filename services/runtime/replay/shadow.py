"""The rebuild of a service's declared read models (`ServiceApplication.read_models`): a fresh copy
of their tables in a shadow schema, filled by a replay while the live tables keep answering and
consuming, then swapped in.

- **Begin**: one replay at a time (a Postgres advisory lock, across the service's processes); what
  a crashed replay left behind is dropped; the tables are created from the same `CREATE ... IF NOT
  EXISTS` statements as the live ones (`ReadModels.ddl`), in the shadow schema.
- **Fill**: public events are projected with `ReadModels.project`, the service's own events with
  `OwnEventReplay`, a batch per transaction, rendered against the shadow schema as set statements
  (`SqlRenderer`: a few statements per table and batch, not one per row).
- **Swap**: the copy is analyzed (fresh tables have no statistics, and the planner would guess);
  then, in one transaction, the live tables are locked against writes (reads go on), what arrived
  since the sources were sized up is read and projected into the copy (changes are upserts keyed
  naturally, so what the copy already had is harmless to apply again), the live tables are moved
  to a retired schema and the copy's into their place. A writer waiting on the lock then writes
  into the new tables: Postgres looks a table name up again once it gets the lock. The retired
  tables are dropped once the replay is reported done (`retire`). The swap's transaction also
  records the declaration the new tables were built from (`declared.py`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import errors

from services.runtime.config import ServiceSettings
from services.runtime.database import PostgresLocation
from services.runtime.eventstore import BlockingRunner, ServiceApplication
from services.runtime.projections import OwnEventReplay, ReadModelChange, ReadModels
from services.runtime.replay.declared import (
    create_statement,
    declaration_digest,
    record_statement,
)
from services.runtime.replay.progress import ReplayRunning
from services.runtime.replay.sources import CopyMessages, EventStore, Projected, own_store

if TYPE_CHECKING:
    from services.runtime.service import ServiceRuntime

SHADOW = "read_model_rebuild"
"""Where a replay builds the copy, until its tables move into the live schema."""
RETIRED = "read_model_retired"
"""Where the previous live tables go at the swap; dropped right after."""

REPLAY_LOCK = 0x7265706C6179  # advisory lock key: one replay per database, across processes
LOCK_TIMEOUT = "2s"
LOCK_ATTEMPTS = 15
"""The swap's lock waits this long for writers in flight, this many times, before it gives up
(a writer holding one live table and waiting for another would otherwise deadlock with it)."""


class ShadowRebuild:
    """Rebuilds the read models an application declares, beside its live tables."""

    def __init__(
        self,
        application: ServiceApplication,
        settings: ServiceSettings,
        runner: BlockingRunner,
    ) -> None:
        read_models = application.read_models
        assert read_models is not None, f"{type(application).__name__} declares no read models"
        self.read_models: ReadModels = read_models
        self.producers: Sequence[str] = read_models.producers
        self.own_store: EventStore | None = (
            own_store(application, settings) if read_models.follows_own_events else None
        )
        self._own = OwnEventReplay(
            read_models,
            lambda aggregate_id, version: application.repository.get(aggregate_id, version=version),
        )
        self._location: PostgresLocation = settings.database
        self._runner = runner
        self._connection: psycopg.Connection[Any] | None = None
        self._live = "public"
        self._tables: list[str] = []
        self._swapping = False

    @classmethod
    def of(cls, runtime: ServiceRuntime[Any]) -> ShadowRebuild:
        """The rebuild of the running service's read models."""
        return cls(runtime.application, runtime.settings, runtime.runner)

    prepare = None  # the declared projections are applied in the service's process
    copy_messages: CopyMessages | None = None  # they take decoded events

    def wants(self, producer: str, event_type: str) -> bool:
        return self.read_models.projects(producer, event_type)

    # -- the replay's steps -------------------------------------------------------------------

    async def begin(self) -> None:
        await self._runner.run(self._begin)

    async def apply(self, events: list[Projected]) -> None:
        # The batch's changes as set statements: a few per table, not one per row.
        changes = [
            change
            for envelope, event in events
            for change in self.read_models.project(event, envelope)
        ]
        await self._runner.run(self._execute, self.read_models.render(changes, SHADOW))

    async def apply_own(self, events: list[Any]) -> None:
        # Projecting loads aggregates from the store: on the worker thread too.
        def project() -> None:
            groups = self._own.changes(events)
            self._execute([s for group in groups for s in self.read_models.render(group, SHADOW)])

        await self._runner.run(project)

    async def apply_prepared(self, prepared: Any) -> None:
        raise TypeError("the declared read models are not prepared apart")

    async def swap(self, catch_up: Callable[[], Awaitable[int]], *, complete: bool) -> int:
        """Swap the copy in; returns how many events `catch_up` read into it under the lock
        (whether the sources were `complete` or not: it has nothing else to catch up from)."""
        await self._runner.run(self._analyze)
        await self._runner.run(self._lock_live_tables)
        self._swapping = True
        try:
            caught_up = await catch_up()
            await self._runner.run(self._move_tables)
        finally:
            self._swapping = False
        return caught_up

    async def retire(self) -> None:
        await self._runner.run(self._drop_leftovers)

    async def abandon(self) -> None:
        """Drop the copy; the live read models are untouched."""
        await self._runner.run(self._abandon)

    async def counts(self) -> dict[str, int]:
        """Rows per live read-model table."""
        return await self._runner.run(self._counts)

    # -- on the worker thread -----------------------------------------------------------------

    def _begin(self) -> None:
        connection = psycopg.connect(self._location.dsn())
        locked = connection.execute("SELECT pg_try_advisory_lock(%s)", (REPLAY_LOCK,)).fetchone()
        connection.commit()
        if not locked or not locked[0]:
            connection.close()
            raise ReplayRunning(f"a replay of the read models of {self._location.dbname} runs")
        self._connection = connection
        row = connection.execute("SELECT current_schema()").fetchone()
        self._live = str(row[0]) if row else "public"
        connection.execute(create_statement(self._live).encode())
        # What a crashed replay left behind is of no use: start from nothing.
        connection.execute(f"DROP SCHEMA IF EXISTS {SHADOW} CASCADE".encode())
        connection.execute(f"DROP SCHEMA IF EXISTS {RETIRED} CASCADE".encode())
        connection.execute(f"CREATE SCHEMA {SHADOW}".encode())
        # For the session: every unqualified name from now on is the copy's.
        connection.execute(f"SET search_path TO {SHADOW}".encode())
        for statement in self.read_models.ddl(SHADOW):
            connection.execute(statement.encode())
        self._tables = [
            str(name)
            for (name,) in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename",
                (SHADOW,),
            ).fetchall()
        ]
        connection.commit()

    def _execute(self, changes: Sequence[ReadModelChange]) -> None:
        connection = self._open()
        with connection.cursor() as cursor:
            for statement, parameters in _runs(changes):
                cursor.executemany(statement.encode(), parameters)
        if not self._swapping:
            connection.commit()

    def _analyze(self) -> None:
        connection = self._open()
        for table in self._tables:
            connection.execute(f"ANALYZE {SHADOW}.{table}".encode())
        connection.commit()

    def _lock_live_tables(self) -> None:
        connection = self._open()
        tables = ", ".join(f"{self._live}.{table}" for table in self._tables)
        for attempt in range(1, LOCK_ATTEMPTS + 1):
            try:
                connection.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'".encode())
                connection.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE".encode())
                # Moving the tables waits for queries still reading them, however long.
                connection.execute(b"SET LOCAL lock_timeout = 0")
                return
            except (errors.LockNotAvailable, errors.DeadlockDetected):
                connection.rollback()
                if attempt == LOCK_ATTEMPTS:
                    raise
                time.sleep(0.05 * attempt)

    def _move_tables(self) -> None:
        connection = self._open()
        connection.execute(f"CREATE SCHEMA {RETIRED}".encode())
        for table in self._tables:
            connection.execute(f"ALTER TABLE {self._live}.{table} SET SCHEMA {RETIRED}".encode())
            connection.execute(f"ALTER TABLE {SHADOW}.{table} SET SCHEMA {self._live}".encode())
        connection.execute(
            record_statement(self._live, parameter="%s").encode(),
            (declaration_digest(self.read_models),),
        )
        connection.commit()

    def _drop_leftovers(self) -> None:
        # Separately from the swap: dropping waits for queries still reading the old tables.
        try:
            connection = self._open()
            connection.execute(f"DROP SCHEMA IF EXISTS {RETIRED} CASCADE".encode())
            connection.execute(f"DROP SCHEMA IF EXISTS {SHADOW} CASCADE".encode())
            connection.commit()
        finally:
            self._close()

    def _abandon(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.rollback()
            self._connection.execute(f"DROP SCHEMA IF EXISTS {SHADOW} CASCADE".encode())
            self._connection.commit()
        finally:
            self._close()

    def _counts(self) -> dict[str, int]:
        with psycopg.connect(self._location.dsn()) as connection:
            counts = {}
            for table in self._tables:
                row = connection.execute(
                    f"SELECT count(*) FROM {self._live}.{table}".encode()
                ).fetchone()
                counts[table] = int(row[0]) if row else 0
            return counts

    def _open(self) -> psycopg.Connection[Any]:
        assert self._connection is not None, "the rebuild has not begun"
        return self._connection

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()  # the session's advisory lock goes with it
            self._connection = None


def _runs(
    changes: Sequence[ReadModelChange],
) -> Iterator[tuple[str, list[Sequence[Any]]]]:
    """Consecutive changes with the same statement, as (statement, parameter lists): executed
    together (pipelined) and in order, since a later change may depend on an earlier one."""
    run: list[Sequence[Any]] = []
    current: str | None = None
    for statement, parameters in changes:
        if statement != current and current is not None:
            yield current, run
            run = []
        current = statement
        run.append(parameters)
    if current is not None:
        yield current, run
