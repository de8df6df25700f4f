"""Where a service's Postgres database is, in the forms each driver wants."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
from psycopg import conninfo


@dataclass(frozen=True)
class PostgresLocation:
    """Host (or unix socket directory), port, credentials and database name."""

    host: str
    port: int
    user: str
    password: str
    dbname: str

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

    def asyncpg_kwargs(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password or None,
            "database": self.dbname,
        }

    def eventsourcing_env(self) -> dict[str, str]:
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": self.dbname,
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
        }

    def dsn(self) -> str:
        return conninfo.make_conninfo(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            dbname=self.dbname,
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
