"""One shape for every error a service's HTTP API answers, mapped once from what went wrong.

Use cases and API modules raise what happened (`services.runtime.aggregate`): `NotFound` (404),
`Conflict` (409: the current state does not allow the command), `DomainError` (422: a broken
rule). A request the API cannot read is a 422 too, an unavailable dependency a 503
(`services.runtime.http_edge`). Every one of them answers

    {"error": {"type": "insufficient-stock", "message": "...", "details": ...}}

where `type` names the kind of error (the raised class, or a general kind), `message` says what is
wrong in words a user understands, and `details` (may be null) carries what a client can act on
(the fields that failed, the time to wait). API modules hold no try/except for these.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from services.runtime.aggregate import Conflict, DomainError, NotFound


class ErrorDetail(BaseModel):
    """What went wrong."""

    type: str = Field(description="The kind of error, e.g. `not-found`, `insufficient-stock`.")
    message: str = Field(description="What is wrong, in words a user understands.")
    details: Any = Field(
        default=None,
        description="What a client can act on, when there is more than the message: the fields "
        "that failed, the seconds to wait before a retry.",
    )


class ErrorBody(BaseModel):
    """The body of every 4xx and 5xx answer of every service."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorBody,
        "description": "No bearer token, or one that does not verify (signature, issuer, "
        "audience, expiry); `WWW-Authenticate` says which.",
    },
    403: {
        "model": ErrorBody,
        "description": "The token is valid but holds none of the roles the operation admits, or "
        "is a channel token for another channel.",
    },
    404: {"model": ErrorBody, "description": "What the request names does not exist."},
    409: {
        "model": ErrorBody,
        "description": "The current state does not allow it (e.g. an order that has shipped "
        "cannot be cancelled), or the Idempotency-Key was used for another request.",
    },
    422: {
        "model": ErrorBody,
        "description": "The request breaks a business rule, or cannot be read (`invalid-request`, "
        "with the failing fields in `details`).",
    },
    503: {
        "model": ErrorBody,
        "description": "A dependency (the database, the broker) is unavailable; retry after "
        "`details.retry_after` seconds with the same Idempotency-Key.",
    },
}
"""Declared on every operation of every service (the OpenAPI document shows the error shape)."""

GENERAL_KINDS = {
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    422: "invalid-request",
    503: "unavailable",
}


def error_response(
    status: int,
    kind: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An error answer in the one shape."""
    body = ErrorBody(error=ErrorDetail(type=kind, message=message, details=details))
    return JSONResponse(jsonable_encoder(body), status_code=status, headers=headers)


def kind_of(error: Exception, general: type[Exception], general_kind: str) -> str:
    """`insufficient-stock` for InsufficientStock; the general kind for the general class."""
    if type(error) is general:
        return general_kind
    return re.sub(r"(?<!^)(?=[A-Z])", "-", type(error).__name__).lower()


def status_and_kind(error: DomainError | NotFound) -> tuple[int, str]:
    if isinstance(error, NotFound):
        return 404, kind_of(error, NotFound, "not-found")
    if isinstance(error, Conflict):
        return 409, kind_of(error, Conflict, "conflict")
    return 422, kind_of(error, DomainError, "rule-broken")


async def _domain_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DomainError | NotFound)
    status, kind = status_and_kind(error)
    return error_response(status, kind, str(error), getattr(error, "details", None))


async def _invalid_request(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = jsonable_encoder(error.errors())
    where = [".".join(str(part) for part in problem.get("loc", ())) for problem in problems]
    message = "the request is invalid" + (f": {', '.join(where)}" if any(where) else "")
    return error_response(422, "invalid-request", message, problems)


async def _http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    kind = GENERAL_KINDS.get(error.status_code, f"http-{error.status_code}")
    return error_response(
        error.status_code, kind, str(error.detail), headers=dict(error.headers or {}) or None
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of `app` in the one shape."""
    app.add_exception_handler(NotFound, _domain_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
