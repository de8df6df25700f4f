"""One leader among a service's processes for a job that must run once: a Postgres advisory lock.

The lock is held by a session, on a connection of its own kept open while leading: when the leader
dies, however abruptly, Postgres ends its session and the lock is free; a follower that tries
every `retry_seconds` takes over within about that long. Advisory locks belong to a database, and
each service has its own, so the scope of a lock is one store.

A leader's writes that must only happen while it leads go through `Lease.connection`: the lock
lives exactly as long as that session, so a statement that succeeds on it was made by the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import structlog

from services.runtime.database import PostgresLocation

log = structlog.get_logger(__name__)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for a job name (Python's hash() varies by run)."""
    digest = hashlib.blake2b(f"unitrail:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass
class Lease:
    """Leadership held: the session that holds the lock."""

    name: str
    connection: asyncpg.Connection

    async def confirm(self) -> None:
        """Fail (asyncpg or OS error) when the session, and so the lock, is gone."""
        await self.connection.fetchval("SELECT 1")


class Leadership:
    """Leadership of the job `name` on the database at `location`."""

    def __init__(self, location: PostgresLocation, name: str, *, retry_seconds: float = 1.0):
        self._location = location
        self.name = name
        self.key = lock_key(name)
        self.retry_seconds = retry_seconds
        self.is_leader = False

    @contextlib.asynccontextmanager
    async def lead(self) -> AsyncIterator[Lease]:
        """Wait until this process leads, then hold leadership until the block ends (the session
        is closed, which releases the lock, even when the block fails)."""
        connection = await self._acquire()
        self.is_leader = True
        log.info("leading", job=self.name)
        try:
            yield Lease(self.name, connection)
        finally:
            self.is_leader = False
            try:
                await asyncio.wait_for(connection.close(), 2)
            except BaseException:
                connection.terminate()
                raise
            log.info("no longer leading", job=self.name)

    async def _acquire(self) -> asyncpg.Connection:
        waited = False
        while True:
            connection: asyncpg.Connection = await asyncpg.connect(
                **self._location.asyncpg_pool_kwargs()
            )
            try:
                while True:
                    if await connection.fetchval("SELECT pg_try_advisory_lock($1)", self.key):
                        return connection
                    if not waited:
                        log.info("another process leads; waiting", job=self.name)
                        waited = True
                    await asyncio.sleep(self.retry_seconds)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                # The waiting session broke (e.g. Postgres restarted): wait on a new one.
                log.warning("leadership wait interrupted", job=self.name, error=repr(error))
                connection.terminate()
                await asyncio.sleep(self.retry_seconds)
            except BaseException:
                connection.terminate()
                raise
