"""Where a service's Postgres database is, in the forms each driver wants, with the timeouts that
make an unreachable or stuck database an error in seconds instead of a hang."""

from __future__ import annotations

import contextlib
import functools
import math
import threading
import time
import types
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import asyncpg
import psycopg.errors
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from psycopg import conninfo
from psycopg.errors import LockNotAvailable
from psycopg_pool import PoolTimeout

R = TypeVar("R")


@dataclass(frozen=True)
class PostgresTimeouts:
    """How long a service waits for Postgres before it gives up, in seconds.

    An HTTP request that cannot get a connection fails after about `connect` (a new connection)
    or `pool` (a pooled one), so the client gets a quick 503 rather than its own timeout, and
    the service works again, without a restart, as soon as the database answers.
    """

    connect: float = 2.0
    """Opening a connection (libpq rounds anything below 2 s up to 2 s)."""
    pool: float = 1.5
    """Waiting for a pooled connection when none is free or none can be opened."""
    statement: float = 30.0
    """One statement, enforced by the server (and by asyncpg on the client side too)."""
    lock: float = 10.0
    """Waiting for a lock held by another transaction."""
    idle_in_transaction: float = 10.0
    """A transaction left open without a statement (its client is stuck or gone)."""

    def server_settings(self) -> dict[str, str]:
        """Session settings the server enforces, in milliseconds."""
        return {
            "statement_timeout": str(_milliseconds(self.statement)),
            "lock_timeout": str(_milliseconds(self.lock)),
            "idle_in_transaction_session_timeout": str(_milliseconds(self.idle_in_transaction)),
        }

    def libpq_options(self) -> str:
        """The server settings as a libpq `options` string."""
        return " ".join(f"-c {name}={value}" for name, value in self.server_settings().items())

    def libpq_connect_timeout(self) -> int:
        return max(2, math.ceil(self.connect))


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


RECONNECT_BACKOFF_LIMIT = 5.0
"""Seconds a psycopg pool retries a lost connection with growing pauses before it lets go."""


@dataclass(frozen=True)
class PostgresLocation:
    """Host (or unix socket directory), port, credentials and database name."""

    host: str
    port: int
    user: str
    password: str
    dbname: str
    timeouts: PostgresTimeouts = field(default_factory=PostgresTimeouts)

    @classmethod
    def from_dsn(cls, dsn: str) -> PostgresLocation:
        """Parse a libpq DSN, URI or key=value, including `?host=/socket/dir` URIs."""
        params = conninfo.conninfo_to_dict(dsn)
        return cls(
            host=str(params.get("host") or "127.0.0.1"),
            port=int(params.get("port") or 5432),
            user=str(params.get("user") or "postgres"),
            password=str(params.get("password") or ""),
            dbname=str(params.get("dbname") or "postgres"),
        )

    def with_database(self, dbname: str) -> PostgresLocation:
        return replace(self, dbname=dbname)

    def with_timeouts(self, timeouts: PostgresTimeouts) -> PostgresLocation:
        return replace(self, timeouts=timeouts)

    def asyncpg_kwargs(self) -> dict[str, Any]:
        """For `asyncpg.connect`: connect timeout only, as tools and locks need long statements."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password or None,
            "database": self.dbname,
            "timeout": self.timeouts.connect,
        }

    def asyncpg_pool_kwargs(self) -> dict[str, Any]:
        """For a service's `asyncpg.create_pool`: every timeout, on the server and the client."""
        return self.asyncpg_kwargs() | {
            "command_timeout": self.timeouts.statement,
            "server_settings": self.timeouts.server_settings(),
        }

    def configure_psycopg_pool(self, pool: Any) -> None:
        """Give the event store's psycopg pool (not open yet) our timeouts: how long a request
        waits for a connection, libpq's connect timeout and the server settings, and how long
        the pool keeps backing off from a failed reconnection (then the next request starts a
        fresh attempt at once, so the service is back within seconds of the database, not after
        a backoff grown to minutes during a long outage)."""
        pool.timeout = self.timeouts.pool
        pool.reconnect_timeout = RECONNECT_BACKOFF_LIMIT
        pool.kwargs.update(
            connect_timeout=self.timeouts.libpq_connect_timeout(),
            options=self.timeouts.libpq_options(),
        )

    def eventsourcing_env(self) -> dict[str, str]:
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": self.dbname,
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
            # The library sets this one itself on every connection, over libpq's `options`.
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": str(
                math.ceil(self.timeouts.idle_in_transaction)
            ),
        }

    def dsn(self) -> str:
        return conninfo.make_conninfo(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            dbname=self.dbname,
            connect_timeout=self.timeouts.libpq_connect_timeout(),
        )


async def ensure_database(location: PostgresLocation) -> None:
    """Create the database if it does not exist yet (services own their databases)."""
    connection = await asyncpg.connect(**location.with_database("postgres").asyncpg_kwargs())
    try:
        exists = await connection.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", location.dbname
        )
        if not exists:
            # Another process of the same service may create it first; Postgres reports that as
            # either error, depending on how far the other CREATE got.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                await connection.execute(f'CREATE DATABASE "{location.dbname}"')
    finally:
        await connection.close()


SCHEMA_LOCK_KEY = (
    0x756E697472616C  # any constant: one lock per database, held while creating tables
)


@contextlib.asynccontextmanager
async def schema_lock(location: PostgresLocation) -> AsyncIterator[None]:
    """Hold the database's schema lock: processes of one service create its tables one at a time.

    `CREATE TABLE IF NOT EXISTS` is not safe against itself: two processes starting together can
    both pass the check and one of them fails.
    """
    connection = await asyncpg.connect(**location.asyncpg_kwargs())
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", SCHEMA_LOCK_KEY)
        yield
    finally:
        await connection.close()  # closing the session releases the lock


def gives_up_at_once(error: BaseException) -> bool:
    """Whether a failed store call is not worth repeating: the pool already waited its timeout,
    or the server cancelled the statement (statement or lock timeout). A connection found dead
    (the server restarted since it was pooled) is worth another try on a fresh one."""
    cause = error.__cause__ or error
    return isinstance(cause, (PoolTimeout, psycopg.errors.QueryCanceled, LockNotAvailable))


RETRIED_STORE_CALLS = (
    "insert_events",
    "select_events",
    "select_notifications",
    "max_notification_id",
    "insert_tracking",
    "max_tracking_id",
    "has_tracking_id",
)
LOST_CONNECTION_PAUSE = 0.05


def bound_store_retries(recorder: object, budget: float) -> None:
    """Retry the recorder's store calls on lost connections for at most `budget` seconds.

    Replaces the event store library's retry (ten attempts, each waiting up to the pool timeout:
    about 17 s while Postgres is down, past an HTTP client's patience). Pooled connections that
    died with a restarted server are still replaced at once, one per quick attempt.
    """
    for name in RETRIED_STORE_CALLS:
        undecorated = getattr(getattr(type(recorder), name, None), "__wrapped__", None)
        if undecorated is not None:
            setattr(recorder, name, types.MethodType(retried_within(undecorated, budget), recorder))


def retried_within(undecorated: Callable[..., R], budget: float) -> Callable[..., R]:
    """A store call retried on lost connections for at most `budget` seconds."""

    @functools.wraps(undecorated)
    def call(self: Any, *args: Any, **kwargs: Any) -> R:
        deadline = time.monotonic() + budget
        while True:
            try:
                return undecorated(self, *args, **kwargs)
            except (StoreInterfaceError, StoreOperationalError) as error:
                if gives_up_at_once(error) or time.monotonic() >= deadline:
                    raise
                time.sleep(LOST_CONNECTION_PAUSE)

    return call


class WarmConnections:
    """Connections to one database for an operator's long job (a replay), opened as they are
    needed and handed out most recently returned first, in autocommit mode.

    A server process keeps the memory a large statement made it map; a fresh or long-idle one
    maps and zeroes it again, page by page (a replay's batch of ten thousand messages: about
    60 ms of a core). A pool hands its connections out in turn, so every batch would find a
    cold one; here a few do all the work. `settings`: the job's own, for each connection's
    session (set once, when it is opened)."""

    def __init__(self, dsn: str, settings: Mapping[str, str] | None = None) -> None:
        self._dsn = dsn
        self._settings = dict(settings or {})
        self._idle: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection of its own for the caller (blocking); one that failed is closed."""
        with self._lock:
            connection = self._idle.pop() if self._idle else None
        if connection is None or connection.closed:
            connection = psycopg.connect(self._dsn, autocommit=True)
            for name, value in self._settings.items():
                connection.execute("SELECT set_config(%s, %s, false)", (name, value))
        try:
            yield connection
        except BaseException:
            connection.close()
            raise
        with self._lock:
            if not self._closed:
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        """Close the idle connections, and those in use as they come back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
