"""What an HTTP client hears when the service's infrastructure fails: a quick 503 with `Retry-After`.

Without this, a request during a Postgres outage surfaced as a 500 after the library's default
30 s wait for a pooled connection, past most clients' timeouts. The database's timeouts
(`services.runtime.database.PostgresTimeouts`) make the failure quick; this maps it to an answer a
client can act on: retry later, with the same `Idempotency-Key` when the request changes state.
"""

from __future__ import annotations

import aiokafka.errors
import asyncpg
import psycopg
import structlog
from eventsourcing.persistence import InterfaceError, OperationalError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.runtime.config import ServiceSettings

log = structlog.get_logger(__name__)

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


def unavailable_response(error: Exception, retry_after: int) -> JSONResponse:
    """503 naming what is unavailable and why, with `Retry-After`."""
    what = next(
        (name for kind, name in UNAVAILABLE.items() if isinstance(error, kind)),
        "a server the service depends on",
    )
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    log.warning("dependency unavailable", dependency=what, error=repr(error))
    return JSONResponse(
        {
            "detail": f"{what} is unavailable ({reason}); retry in {retry_after} s. A request "
            "that changes state may have been applied if the failure came after its commit: "
            "send it again with the same Idempotency-Key to apply it exactly once.",
            "retry_after": retry_after,
        },
        status_code=503,
        headers={"Retry-After": str(retry_after)},
    )


def is_unavailable(error: Exception) -> bool:
    return isinstance(error, tuple(UNAVAILABLE))


def install_http_edge(app: FastAPI, settings: ServiceSettings) -> None:
    """What every service's HTTP API does at its edge: infrastructure errors answer 503."""

    async def unavailable(_request: Request, error: Exception) -> JSONResponse:
        return unavailable_response(error, settings.unavailable_retry_after)

    for kind in UNAVAILABLE:
        app.add_exception_handler(kind, unavailable)
