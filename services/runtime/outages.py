"""What an outage of a dependency looks like from inside a service.

One list for the whole runtime: an HTTP request that meets one of these answers 503 (the request is
fine, try again later), and a consumer that meets one while applying a batch consumes the batch
again once the dependency is back, instead of dead-lettering messages that were never at fault.
"""

from __future__ import annotations

import asyncio

import aiokafka.errors
import asyncpg
import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError

UNAVAILABLE: dict[type[Exception], str] = {
    # The event store's errors: connection lost, pool timed out, statement or lock timed out.
    OperationalError: "the database",
    InterfaceError: "the database",
    psycopg.OperationalError: "the database",
    psycopg.InterfaceError: "the database",
    # asyncpg's: lost or refused connections, a server shutting down, a cancelled statement.
    asyncpg.PostgresConnectionError: "the database",
    asyncpg.InterfaceError: "the database",
    asyncpg.CannotConnectNowError: "the database",
    asyncpg.QueryCanceledError: "the database",
    asyncpg.LockNotAvailableError: "the database",
    asyncpg.AdminShutdownError: "the database",
    aiokafka.errors.KafkaConnectionError: "the broker",
    aiokafka.errors.KafkaTimeoutError: "the broker",
    # A connection attempt that failed or timed out at the socket (asyncpg raises these as is).
    OSError: "a server the service depends on",
}
"""Errors that mean a dependency is unreachable or overloaded, not that the request is wrong."""

OUTAGE_ERRORS: tuple[type[Exception], ...] = tuple(UNAVAILABLE)


def asked_to_stop() -> bool:
    """Whether the running task was cancelled by its owner, as opposed to having met a
    `CancelledError` a library let out of a future of its own (aiokafka cancels its requests and
    tasks when the broker goes away under them, and one can surface from a fetch or a stop). The
    first ends a loop that keeps a service working; the second is a failure like any other, and
    ending the loop on it would leave the process up with its consumer or relay gone."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
