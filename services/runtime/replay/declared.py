"""Which declaration of a service's read models its database's tables were built from.

Read-model tables are created with `CREATE TABLE IF NOT EXISTS`: a table the code declares anew
(a column, a key, an index, a table more) is left as it was in a database that has one. The live
consumer would then write rows of the new shape into a table of the old one (an unknown column
fails the statement), and a query would read a column no row was ever given. So the database
records the declaration its tables were built from (a digest of their `CREATE` statements): a
fresh database records it when the tables are created, a replay's swap records its own in the
swap's transaction, and a service that starts on tables of another declaration rebuilds them (from
the stores, else the topics) before it consumes or answers (`ServiceRuntime.start`). A database with history and no
record (tables made before declarations were recorded) is rebuilt once, the same way.
"""

from __future__ import annotations

import hashlib

import asyncpg

from services.runtime.projections import ReadModels

DECLARATION_TABLE = "read_models_declared"

_CREATE = (
    "CREATE TABLE IF NOT EXISTS {schema}" + DECLARATION_TABLE + " ("
    "singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), "
    "digest text NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now())"
)
_RECORD = (
    "INSERT INTO {schema}" + DECLARATION_TABLE + " (digest) VALUES ({parameter}) "
    "ON CONFLICT (singleton) DO UPDATE SET digest = excluded.digest, recorded_at = now()"
)


def declaration_digest(read_models: ReadModels) -> str:
    """A digest of the statements that create the read models' tables and indexes."""
    return hashlib.sha256("\n".join(read_models.ddl()).encode()).hexdigest()


def create_statement(schema: str | None = None) -> str:
    return _CREATE.format(schema=f"{schema}." if schema else "")


def record_statement(schema: str | None = None, *, parameter: str = "$1") -> str:
    """Record a digest (one parameter: `$1` for asyncpg, `%s` for psycopg)."""
    return _RECORD.format(schema=f"{schema}." if schema else "", parameter=parameter)


async def recorded_digest(pool: asyncpg.Pool) -> str | None:
    """The digest of the declaration the live tables were built from (None: none recorded)."""
    await pool.execute(create_statement())
    digest: str | None = await pool.fetchval(f"SELECT digest FROM {DECLARATION_TABLE}")
    return digest


async def record_digest(pool: asyncpg.Pool, digest: str) -> None:
    await pool.execute(record_statement(), digest)
