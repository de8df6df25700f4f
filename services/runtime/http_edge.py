"""What every service's HTTP API does at its edge, before and after its routes.

- **Printable text only.** A state-changing request whose JSON (or text) body holds a control
  character or a lone surrogate anywhere (a NUL no store downstream can hold) is refused with a
  422 naming the field, before any route sees it: the rule of `contracts.base.Text`, for every
  command of every service at once.
- **Idempotency keys.** A state-changing request with an `Idempotency-Key` header is applied once:
  sent again by the same caller (the bearer token's subject) with the same method, path and body
  it gets the first answer again (with `Idempotent-Replayed: true`), whatever the route; with
  another one, a 409. A request whose token does not verify is left to the route (401). The record of the key
  is saved in the same transaction as the request's first changes (`services.runtime.idempotency`).
- **Dependencies down: 503 with `Retry-After`, quickly.**
- **Hostile bodies cost a 4xx, never a crash.** A body over `UNITRAIL_HTTP_MAX_BODY_BYTES` is
  refused with a 413 before it is read whole; a string of a JSON body longer than
  `LONGEST_TEXT` characters, or JSON nested deeper than a parser can follow, with a 422.

Without the second, a request during a Postgres outage surfaced as a 500 after the library's default
30 s wait for a pooled connection, past most clients' timeouts. The database's timeouts
(`services.runtime.database.PostgresTimeouts`) make the failure quick; this maps it to an answer a
client can act on: retry later, with the same `Idempotency-Key` when the request changes state.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts.base import TEXT_PATTERN, unstorable_character
from services.runtime.auth import TokenVerifier, Unauthenticated
from services.runtime.config import ServiceSettings
from services.runtime.http_errors import error_response
from services.runtime.idempotency import (
    IdempotencyConflict,
    KeyedRequest,
    KeyInUse,
    reset_keyed,
    running_keyed,
)
from services.runtime.outages import UNAVAILABLE

log = structlog.get_logger(__name__)


def unavailable_response(error: Exception, retry_after: int) -> JSONResponse:
    """503 naming what is unavailable and why, with `Retry-After`."""
    what = next(
        (name for kind, name in UNAVAILABLE.items() if isinstance(error, kind)),
        "a server the service depends on",
    )
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    log.warning("dependency unavailable", dependency=what, error=repr(error))
    return error_response(
        503,
        "unavailable",
        f"{what} is unavailable ({reason}); retry in {retry_after} s. A request that changes "
        "state may have been applied if the failure came after its commit: send it again with "
        "the same Idempotency-Key to apply it exactly once.",
        {"retry_after": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


def is_unavailable(error: Exception) -> bool:
    return isinstance(error, tuple(UNAVAILABLE))


def install_http_edge(app: FastAPI, settings: ServiceSettings) -> None:
    """What every service's HTTP API does at its edge (see the module's documentation)."""
    app.add_middleware(IdempotentRequests, retry_after=settings.unavailable_retry_after)
    app.add_middleware(PrintableBodies)  # runs before the keys: nothing unprintable is kept
    app.add_middleware(BoundedBodies, limit=settings.http_max_body_bytes)  # runs first
    document_edge(app)

    async def unavailable(_request: Request, error: Exception) -> JSONResponse:
        return unavailable_response(error, settings.unavailable_retry_after)

    for kind in UNAVAILABLE:
        app.add_exception_handler(kind, unavailable)


STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MOST_PROBLEMS_REPORTED = 10
LONGEST_TEXT = 100_000
"""Characters of the longest string a JSON body may hold (a whole document in one field would
still fit); every field of a command has its own, smaller, limit besides."""


class BodyTooLarge(Exception):
    """The request's body is larger than the service takes."""


class BoundedBodies:
    """Refuses a request whose body is over `limit` bytes with a 413, by its `Content-Length`
    before reading anything, or once that much has arrived of a body sent without one."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(int(declared))(scope, receive, send)
            return
        received = 0
        started = False

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, watched_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(received)(scope, receive, send)

    def _refuse(self, size: int) -> Response:
        return error_response(
            413,
            "body-too-large",
            f"the request body is over {self.limit} bytes ({size} or more); send less at once",
            {"limit_bytes": self.limit},
        )


async def read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body, and a `receive` that hands it on to the app as if unread."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    handed_on = False

    async def replay() -> Message:
        nonlocal handed_on
        if handed_on:
            return await receive()
        handed_on = True
        return {"type": "http.request", "body": body, "more_body": False}

    return body, replay


def content_type(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return str(value.decode("latin-1").split(";")[0].strip().lower())
    return ""


class PrintableBodies:
    """Refuses a state-changing request whose body holds text no downstream store can hold or no
    field should carry (`contracts.base.unstorable_character`): 422, naming every such field."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in STATE_CHANGING:
            await self.app(scope, receive, send)
            return
        body, receive = await read_body(receive)
        problems = list(unprintable_in_body(body, content_type(scope)))[:MOST_PROBLEMS_REPORTED]
        if problems:
            fields = ", ".join(".".join(str(part) for part in p["loc"]) for p in problems)
            refusal = error_response(
                422, "unprintable-text", f"text no store can hold, in {fields}", problems
            )
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


def unprintable_in_body(body: bytes, kind: str) -> Iterator[dict[str, Any]]:
    """Problems in the format of FastAPI's own 422s: `loc` from `body` down to the field."""
    if kind == "application/json" or kind.endswith("+json"):
        try:
            document = json.loads(body)
            problems = list(_unprintable_in(document, ["body"]))
        except ValueError:
            return  # not JSON: the route's own validation says so
        except RecursionError:
            problems = [_problem(["body"], "nests arrays or objects too deeply to be read")]
        yield from problems
    elif kind.startswith("text/"):
        text = body.decode("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            if problem := unstorable_character(line):
                yield _problem(["body", f"line {number}"], problem)


def _unprintable_in(value: Any, location: list[str | int]) -> Iterator[dict[str, Any]]:
    if isinstance(value, str):
        if len(value) > LONGEST_TEXT:
            yield _problem(location, f"is longer than {LONGEST_TEXT} characters")
        elif problem := unstorable_character(value):
            yield _problem(location, problem)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unprintable_in(item, [*location, index])
    elif isinstance(value, dict):
        for key, item in value.items():
            if problem := unstorable_character(key):
                yield _problem([*location, _printable(key)], f"the field name {problem}")
            yield from _unprintable_in(item, [*location, key])


def _problem(location: list[Any], message: str) -> dict[str, Any]:
    # The offending value is left out: a lone surrogate cannot even be written as UTF-8 JSON.
    return {
        "type": "unstorable_character",
        "loc": [_printable(part) if isinstance(part, str) else part for part in location],
        "msg": message,
    }


def _printable(text: str) -> str:
    return text.encode("unicode_escape").decode("ascii") if unstorable_character(text) else text


IDEMPOTENCY_KEY = b"idempotency-key"
LONGEST_KEY = 255


def header(scope: Scope, name: bytes) -> str | None:
    for found, value in scope.get("headers", []):
        if found == name:
            return str(value.decode("latin-1"))
    return None


class ResponseCapture:
    """An app's response, held back until its answer is kept."""

    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.messages: list[Message] = []

    async def send(self, message: Message) -> None:
        self.messages.append(message)
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))

    @property
    def content_type(self) -> str:
        return next(
            (value.decode("latin-1") for name, value in self.headers if name == b"content-type"),
            "application/json",
        )

    async def hand_on(self, send: Send) -> None:
        for message in self.messages:
            await send(message)


class IdempotentRequests:
    """Applies a state-changing request sent with an `Idempotency-Key` header once (see the
    module's documentation); requests without the header pass untouched."""

    def __init__(self, app: ASGIApp, retry_after: int) -> None:
        self.app = app
        self.retry_after = retry_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = header(scope, IDEMPOTENCY_KEY)
        if scope["type"] != "http" or scope["method"] not in STATE_CHANGING or key is None:
            await self.app(scope, receive, send)
            return
        if not 0 < len(key) <= LONGEST_KEY or unstorable_character(key, multiline=False):
            problem = _problem(
                ["header", "Idempotency-Key"],
                f"must be 1 to {LONGEST_KEY} printable characters, e.g. a UUID",
            )
            refusal = error_response(
                422, "invalid-request", f"Idempotency-Key {problem['msg']}", [problem]
            )
            await refusal(scope, receive, send)
            return
        caller = await _authenticated_subject(scope)
        if caller is None:
            # Neither looked up nor kept: the route refuses it (401) as it would without a key.
            await self.app(scope, receive, send)
            return
        runtime: Any = scope["app"].state.runtime
        body, receive = await read_body(receive)
        path = scope["path"] + (
            f"?{scope['query_string'].decode()}" if scope["query_string"] else ""
        )
        keyed = KeyedRequest.of(
            runtime.settings.service_name, key, scope["method"], path, body, caller
        )
        answer = await self._answer(runtime, keyed, scope, receive, send)
        if answer is not None:
            await answer(scope, receive, send)

    async def _answer(
        self, runtime: Any, keyed: KeyedRequest, scope: Scope, receive: Receive, send: Send
    ) -> Response | None:
        """The answer to give, or None when the request was served and answered."""
        try:
            previous = await runtime.run_command(keyed.previous, runtime.application)
        except IdempotencyConflict as conflict:
            return error_response(409, "idempotency-conflict", str(conflict))
        except Exception as error:
            if is_unavailable(error):
                return unavailable_response(error, self.retry_after)
            raise
        if previous is not None:
            return _repeated(keyed, previous.stored_answer())
        capture = ResponseCapture()
        token = running_keyed(keyed)
        try:
            await self.app(scope, receive, capture.send)
        except KeyInUse as in_use:
            return error_response(409, "idempotency-key-in-use", f"{in_use}; retry later")
        finally:
            keyed.closed = True
            reset_keyed(token)
        if capture.status < 300 or (keyed.recorded and capture.status < 500):
            try:
                await runtime.run_command(
                    keyed.save_answer,
                    runtime.application,
                    capture.status,
                    capture.content_type,
                    b"".join(capture.chunks),
                )
            except Exception:
                # The request was applied (or changed nothing) all the same: answer it. A repeat
                # then learns that it was applied, without the answer.
                log.exception("answer of a keyed request not kept", key=keyed.key)
        await capture.hand_on(send)
        return None


async def _authenticated_subject(scope: Scope) -> str | None:
    """The subject of the request's bearer token when it verifies, else None."""
    verifier: TokenVerifier | None = getattr(scope["app"].state, "verifier", None)
    authorization = header(scope, b"authorization") or ""
    scheme, _, token = authorization.partition(" ")
    if verifier is None or scheme.lower() != "bearer" or not token:
        return None
    try:
        claims = await verifier.claims(token.strip())
    except Unauthenticated:
        return None
    return str(claims["sub"])


def _repeated(keyed: KeyedRequest, answer: tuple[int, str, bytes] | None) -> Response:
    if answer is None:
        return error_response(
            409,
            "idempotency-key-in-use",
            f"a request with idempotency key {keyed.key!r} was applied or is running, and has "
            "no answer kept yet (it is still running, or it was interrupted after applying): "
            "retry shortly, or read the resource it changed",
        )
    status, content_type, body = answer
    return Response(
        body, status_code=status, media_type=content_type, headers={"Idempotent-Replayed": "true"}
    )


IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": LONGEST_KEY},
    "description": "The client's id of this request (e.g. a UUID): sent again with the same "
    "method, path and body, it gets the first answer again and changes nothing; with another "
    "request, a 409.",
}


def document_edge(app: FastAPI) -> None:
    """Show the edge's rules in the OpenAPI document: the header and answers of every
    state-changing operation, and the printable-text pattern on the strings of their bodies."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        bodies: list[Any] = []
        for operations in document.get("paths", {}).values():
            for method, operation in operations.items():
                if method.upper() not in STATE_CHANGING:
                    continue
                operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY_PARAMETER)
                bodies.append(operation.get("requestBody", {}))
        components = document.get("components", {}).get("schemas", {})
        for name in _referenced(bodies, components):
            _constrain_strings(components[name])
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _referenced(roots: list[Any], components: dict[str, Any]) -> set[str]:
    """Names of the component schemas reachable from `roots`."""
    found: set[str] = set()
    pending = list(roots)
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            reference = node.get("$ref", "")
            name = reference.rsplit("/", 1)[-1]
            if reference.startswith("#/components/schemas/") and name not in found:
                found.add(name)
                pending.append(components.get(name, {}))
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return found


def _constrain_strings(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") == "string" and "pattern" not in node and "format" not in node:
            node["pattern"] = TEXT_PATTERN
        for child in node.values():
            _constrain_strings(child)
    elif isinstance(node, list):
        for child in node:
            _constrain_strings(child)
