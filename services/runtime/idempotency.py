"""Idempotent commands: a client's idempotency key makes a retried request change nothing.

A command sent with a key saves an `IdempotencyRecord` (id: uuid5 of the service, the command's
name and the key) holding a fingerprint of the command's arguments and what the command produced,
in the same `save(...)` as the command's own changes. Sent again with the same arguments, the
command finds the record and answers with what it produced; with other arguments it is refused
(`IdempotencyConflict`). Two concurrent requests with the same key cannot both save version 1 of
the record: the loser saved nothing and, retried (`ServiceRuntime.run_command`), finds the record.
The records are bookkeeping: relays and replays skip their events.

The same records serve any state-changing HTTP request sent with an `Idempotency-Key` header, for
every route of every service without a line in the route (`services.runtime.http_edge`): while
such a request runs, its record (command `http`, the fingerprint of method, path and body) is
saved with the first changes the request saves; the answer is added to it before the client
gets it. A repeat is answered from the record; with another method, path or body it is refused.
The records are kept for ever, so an answer that showed a customer's personal data opened (an
order's view) is kept with those values sealed again under the customer's key (`reveal` notes what
it opened while the request runs) and opened again for a repeat: forgetting the customer shreds
them here too, and a repeat then reads "erased".
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

from eventsourcing.application import AggregateNotFoundError, Application

from services.runtime.aggregate import Aggregate, Conflict
from services.runtime.privacy import (
    PREFIX,
    KeyLookup,
    masked,
    noting_opened,
    resealed,
    revealed,
    stop_noting,
)

IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1d2c9e-8a47-4b3e-9d05-2e7c4a1b8f63")


class IdempotencyConflict(Conflict):
    """The idempotency key was already used for a different command."""


def idempotency_record_id(service: str, command: str, key: str) -> uuid.UUID:
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, json.dumps([service, command, key]))


def fingerprint(arguments: dict[str, Any]) -> str:
    """A digest of a command's arguments (value objects, ids, dates and lists included)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.asdict(value)
        return str(value)

    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=plain)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyRecord(Aggregate):
    """A command done once under a client's key: which arguments, and what it produced."""

    class Recorded(Aggregate.Created):
        command: str
        key: str
        fingerprint: str
        result: dict[str, Any]

        def apply(self, record: IdempotencyRecord) -> None:
            record.command = self.command
            record.key = self.key
            record.fingerprint = self.fingerprint
            record.result = dict(self.result)

    class Answered(Aggregate.Event):
        """What the client was answered: status, content type and body (base64)."""

        answer: dict[str, Any]

        def apply(self, record: IdempotencyRecord) -> None:
            record.answer = dict(self.answer)

    answer: dict[str, Any] | None = None

    if TYPE_CHECKING:
        command: str
        key: str
        fingerprint: str
        result: dict[str, Any]

    def answered(self, status: int, content_type: str, body: bytes) -> None:
        self.trigger_event(
            self.Answered,
            answer={
                "status": status,
                "content_type": content_type,
                "body": base64.b64encode(body).decode("ascii"),
            },
        )

    def stored_answer(self) -> tuple[int, str, bytes] | None:
        """Status, content type and body of the answer, if it was kept (personal values in it
        as kept: sealed, unless `open_answer` opened them)."""
        if self.answer is None:
            return None
        body = base64.b64decode(self.answer["body"])
        return int(self.answer["status"]), str(self.answer["content_type"]), body

    def open_answer(self, keys: KeyLookup | None) -> None:
        """Open the personal values of the kept answer (or "erased"), for a repeat; without keys
        they show as "sealed"."""
        answer = self.stored_answer()
        if answer is None or PREFIX.encode() not in answer[2]:
            return
        body = answer[2]
        try:
            opened = (
                _json_body(revealed(json.loads(body), keys))
                if keys is not None
                else masked(body.decode()).encode()
            )
        except ValueError:
            return
        self.answer = dict(self.answer or {}) | {"body": base64.b64encode(opened).decode("ascii")}


def _json_body(document: Any) -> bytes:
    """JSON as the HTTP edge renders it (compact, UTF-8)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def resealed_body(body: bytes, opened: dict[str, str]) -> bytes:
    """An answer's body with the personal values it showed opened (`opened`: clear to sealed)
    sealed again, to keep it."""
    if not opened:
        return body
    try:
        document = json.loads(body)
    except ValueError:
        return body
    return _json_body(resealed(document, opened))


def is_bookkeeping(domain_event: Any) -> bool:
    """An idempotency record's event: never published, nothing to project."""
    return isinstance(domain_event, IdempotencyRecord.Event)


def is_bookkeeping_class(cls: type[Any]) -> bool:
    """`is_bookkeeping` of the events of a class."""
    return issubclass(cls, IdempotencyRecord.Event)


@dataclass(frozen=True)
class IdempotentCommand:
    """A command as a client sent it, with or without an idempotency key.

    Use: `previous(application)` first (an earlier result, to answer with at once), then save
    `*record(...)` with the command's changes.
    """

    service: str
    command: str
    key: str | None
    fingerprint: str

    @classmethod
    def of(cls, service: str, command: str, key: str | None, **arguments: Any) -> Self:
        return cls(service, command, key, fingerprint(arguments))

    def previous(self, application: Application[uuid.UUID]) -> dict[str, Any] | None:
        """What the command produced when its key was sent before; None the first time, and
        without a key. Raises `IdempotencyConflict` when the key came with other arguments."""
        if self.key is None:
            return None
        try:
            record: Any = application.repository.get(
                idempotency_record_id(self.service, self.command, self.key)
            )
        except AggregateNotFoundError:
            return None
        assert isinstance(record, IdempotencyRecord)
        if record.fingerprint != self.fingerprint:
            raise IdempotencyConflict(
                f"idempotency key {self.key!r} was already used for a different {self.command} "
                "command; send a new key for a new command"
            )
        return dict(record.result)

    def record(self, **result: Any) -> list[IdempotencyRecord]:
        """The record to save in the same transaction as the command's changes (none without a
        key); `result` is what to answer a repeat with (ids, numbers, strings)."""
        if self.key is None:
            return []
        return [
            IdempotencyRecord._create(
                IdempotencyRecord.Recorded,
                id=idempotency_record_id(self.service, self.command, self.key),
                command=self.command,
                key=self.key,
                fingerprint=self.fingerprint,
                result=result,
            )
        ]


HTTP_COMMAND = "http"


class KeyInUse(Exception):
    """A concurrent request with the same idempotency key saved its record first."""


@dataclass
class KeyedRequest:
    """A state-changing HTTP request sent with an idempotency key, while it runs.

    `recorded` turns true once its record was saved with the request's first changes; `closed`
    once it was answered, so work it left running (a background task) records nothing more.
    """

    service: str
    key: str
    fingerprint: str
    recorded: bool = False
    closed: bool = False
    caller: str = ""
    """Whose key it is (the token's subject): one caller never gets another's answer."""
    opened: dict[str, str] = field(default_factory=dict)
    """Personal values the request's answer showed opened (clear text to sealed text)."""
    record_id: uuid.UUID = field(init=False)

    def __post_init__(self) -> None:
        scoped = f"{self.caller}\x1f{self.key}" if self.caller else self.key
        self.record_id = idempotency_record_id(self.service, HTTP_COMMAND, scoped)

    @classmethod
    def of(
        cls, service: str, key: str, method: str, path: str, body: bytes, caller: str = ""
    ) -> Self:
        """The request, fingerprinted by method, path with query, and body (JSON compared by
        content, so a client's re-encoding of the same document is the same request)."""
        try:
            content: Any = json.loads(body)
        except ValueError:
            content = body.hex()
        request = {"method": method, "path": path, "body": content}
        return cls(service, key, fingerprint(request), caller=caller)

    def new_record(self) -> IdempotencyRecord:
        return IdempotencyRecord._create(
            IdempotencyRecord.Recorded,
            id=self.record_id,
            command=HTTP_COMMAND,
            key=self.key,
            fingerprint=self.fingerprint,
            result={},
        )

    def previous(self, application: Application[uuid.UUID]) -> IdempotencyRecord | None:
        """The record of an earlier request with this key, if any. Raises `IdempotencyConflict`
        when that request was another one."""
        record = self._same_request_record(application)
        if record is not None:
            # An application that opens personal data in its answers has the keys at hand.
            record.open_answer(getattr(application, "customer_keys", None))
        return record

    def _same_request_record(self, application: Application[uuid.UUID]) -> IdempotencyRecord | None:
        record = self.saved_record(application)
        if record is not None and record.fingerprint != self.fingerprint:
            raise IdempotencyConflict(
                f"idempotency key {self.key!r} was already used for a different request "
                "(method, path or body); send a new key for a new request"
            )
        return record

    def saved_record(self, application: Application[uuid.UUID]) -> IdempotencyRecord | None:
        """The key's record, whichever request saved it."""
        try:
            record: Any = application.repository.get(self.record_id)
        except AggregateNotFoundError:
            return None
        assert isinstance(record, IdempotencyRecord)
        return record

    def save_answer(
        self, application: Application[uuid.UUID], status: int, content_type: str, body: bytes
    ) -> None:
        """Keep the answer on the record (a new record when the request saved nothing through
        the event store: its answer is all there is to repeat)."""
        record = self._same_request_record(application) or self.new_record()
        record.answered(status, content_type, resealed_body(body, self.opened))
        application.save(record)


_keyed_request: ContextVar[KeyedRequest | None] = ContextVar("keyed_request", default=None)


def keyed_request_to_record() -> KeyedRequest | None:
    """The running keyed HTTP request whose record the next save must include, if any."""
    request = _keyed_request.get()
    if request is None or request.recorded or request.closed:
        return None
    return request


def running_keyed(request: KeyedRequest | None) -> Any:
    """Set (or clear) the keyed request of the current context, noting the personal values its
    answer opens; returns the reset token."""
    return _keyed_request.set(request), noting_opened(request.opened if request else None)


def reset_keyed(token: Any) -> None:
    keyed, noting = token
    stop_noting(noting)
    _keyed_request.reset(keyed)
