"""Idempotent commands: a client's idempotency key makes a retried request change nothing.

A command sent with a key saves an `IdempotencyRecord` (id: uuid5 of the service, the command's
name and the key) holding a fingerprint of the command's arguments and what the command produced,
in the same `save(...)` as the command's own changes. Sent again with the same arguments, the
command finds the record and answers with what it produced; with other arguments it is refused
(`IdempotencyConflict`). Two concurrent requests with the same key cannot both save version 1 of
the record: the loser saved nothing and, retried (`ServiceRuntime.run_command`), finds the record.
The records are bookkeeping: relays and replays skip their events.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from eventsourcing.application import AggregateNotFoundError, Application

from services.runtime.aggregate import Aggregate, DomainError

IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1d2c9e-8a47-4b3e-9d05-2e7c4a1b8f63")


class IdempotencyConflict(DomainError):
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

        def apply(self, record: Any) -> None:
            record.command = self.command
            record.key = self.key
            record.fingerprint = self.fingerprint
            record.result = dict(self.result)

    if TYPE_CHECKING:
        command: str
        key: str
        fingerprint: str
        result: dict[str, Any]


def is_bookkeeping(domain_event: Any) -> bool:
    """An idempotency record's event: never published, nothing to project."""
    return isinstance(domain_event, IdempotencyRecord.Event)


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
