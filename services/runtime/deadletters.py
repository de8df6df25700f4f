"""Sequenced dead letters: what a consumer could not apply, kept in the service's own database.

A dead letter is a message no retry could apply (bad input, a broken rule, a handler that kept
failing), kept with its original bytes and the reason. For an integration event, the aggregate's
later events cannot be applied before it (that would be a version gap), so they are *parked* behind
it, in order, instead of being reported one by one as gaps; everything else keeps flowing. An event
that arrives before an earlier version of its aggregate is parked too, and applied by itself as soon
as the versions before it arrive (a broker that came back empty and is being refilled by the
producer's relay sends an aggregate's history again from its first version).

A *redrive* (after the cause is fixed) applies a dead letter again and then what is parked behind
it, in order, each exactly once: an event's effect and its tracking row commit together, and the
row's new state commits with them.

The rows live in Postgres, not only on the dead-letter topic: the embedded broker forgets its topics
when it restarts, and a dead letter must outlive that. The topic still gets a copy, with the reason
in its headers, for tools that watch it.

Dead letters are kept for ever, so a message from a topic that carries customers' personal data in
clear (`Topic.personal_data`: a channel's orders) is kept, and copied to the topic, with its
personal values sealed under the customer's key (`PersonalDataSealing`, `services.runtime.privacy`):
forgetting the customer shreds them there too. A redrive reads them opened again (the message as it
came, "erased" once forgotten); `GET /dead-letters/{id}` shows them as "sealed".
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.base import unstorable_character
from contracts.topics import all_topics
from services.runtime.eventstore import ServiceApplication
from services.runtime.privacy import (
    PREFIX,
    REDACTED,
    SEALED,
    customer_named_in,
    masked,
    revealed,
    sealed_message,
)

DEAD_LETTERS_TABLE = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id bigserial PRIMARY KEY,
    fingerprint text NOT NULL,
    sequence text,
    version bigint,
    state text NOT NULL,
    reason text NOT NULL,
    error_type text NOT NULL,
    topic text NOT NULL,
    partition integer,
    "offset" bigint,
    key bytea,
    value bytea NOT NULL,
    headers jsonb NOT NULL DEFAULT '{}'::jsonb,
    attempts integer NOT NULL DEFAULT 1,
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    resolved_by text,
    resolution text
)
"""
DEAD_LETTERS_INDEXES = (
    # One open row per message: a redelivered dead letter counts an attempt, not a second row.
    "CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_open_fingerprint ON dead_letters "
    "(fingerprint) WHERE state IN ('dead', 'parked')",
    "CREATE INDEX IF NOT EXISTS dead_letters_open_sequence ON dead_letters (sequence, version) "
    "WHERE state IN ('dead', 'parked')",
)


class LetterState(enum.StrEnum):
    DEAD = "dead"
    """Could not be applied; waits for a redrive once the cause is fixed."""
    PARKED = "parked"
    """Waits behind a dead letter of its aggregate, or for an earlier version to arrive."""
    REDRIVEN = "redriven"
    """Applied by a redrive."""
    UNPARKED = "unparked"
    """Applied by itself once the versions before it had been applied."""
    SUPERSEDED = "superseded"
    """Already applied when its turn came (the same event arrived again and was applied)."""


OPEN_STATES = (LetterState.DEAD.value, LetterState.PARKED.value)


@dataclass(frozen=True)
class Letter:
    """One dead or parked message, as kept."""

    id: int
    sequence: str | None
    version: int | None
    state: str
    reason: str
    error_type: str
    topic: str
    partition: int | None
    offset: int | None
    key: bytes | None
    value: bytes
    headers: dict[str, str]
    attempts: int
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None

    def summary(self) -> dict[str, Any]:
        """What a list shows of it (no payload)."""
        return {
            "id": self.id,
            "state": self.state,
            "sequence": self.sequence,
            "version": self.version,
            "topic": self.topic,
            "error_type": self.error_type,
            "reason": self.reason,
            "attempts": self.attempts,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "resolved_by": self.resolved_by,
            "resolution": self.resolution,
        }

    def detail(self) -> dict[str, Any]:
        """Everything about it, the message as text."""
        return self.summary() | {
            "partition": self.partition,
            "offset": self.offset,
            "key": self.key.decode("utf-8", errors="replace") if self.key else None,
            "value": self.value.decode("utf-8", errors="replace"),
            "headers": self.headers,
        }


@dataclass(frozen=True)
class HeldMessage:
    """A message to keep: where it came from, its bytes, and (for an event) its place in its
    aggregate's sequence."""

    topic: str
    partition: int | None
    offset: int | None
    key: bytes | None
    value: bytes
    headers: dict[str, str]
    sequence: str | None = None
    version: int | None = None

    @property
    def fingerprint(self) -> str:
        if self.sequence is not None and self.version is not None:
            return f"{self.sequence}@{self.version}"
        digest = hashlib.sha256(self.topic.encode() + b"\0" + (self.key or b"") + b"\0")
        digest.update(self.value)
        return digest.hexdigest()


MAX_CUSTOMER_ID = 128
"""The longest customer id a channel's message may name (`contracts.channel.Customer`)."""
PERSONAL_DATA_TOPICS = frozenset(topic.name for topic in all_topics() if topic.personal_data)


def _kept_value(value: bytes, sealer_for: Callable[[str], Callable[[str], str]]) -> bytes:
    try:
        document = json.loads(value)
    except ValueError:
        digest = hashlib.sha256(value).hexdigest()
        return f"(not kept: {len(value)} bytes, not JSON, sha256 {digest})".encode()
    customer_id = customer_named_in(document)
    if customer_id is not None and not _storable_id(customer_id):
        customer_id = None  # the schema refuses it too: no key is made for it
    seal = sealer_for(customer_id) if customer_id else (lambda _: REDACTED)
    sealed = sealed_message(document, seal)
    return value if sealed == document else json.dumps(sealed).encode()


def _storable_id(customer_id: str) -> bool:
    return len(customer_id) <= MAX_CUSTOMER_ID and unstorable_character(customer_id) is None


def shown_value(topic: str, value: bytes) -> bytes:
    """What `GET /dead-letters/{id}` shows of a message of `topic` sent as `value` (personal
    values "sealed"): to recognise a message one sent among the dead letters."""
    if topic not in PERSONAL_DATA_TOPICS:
        return value
    return _kept_value(value, lambda _: lambda _: SEALED)


class PersonalDataSealing:
    """How a service that takes in customers' personal data in clear (the order service, from
    channels) keeps it in its dead letters: a message of a topic that carries it
    (`Topic.personal_data`) is kept with the customer's name, e-mail, phone and address (all but
    the country) sealed under the customer's key, as its store keeps them; one that names no
    customer (the schema refuses it whatever is fixed) with them `redacted`; bytes that are not
    JSON (never redrivable either) are not kept, only their size and digest."""

    def __init__(
        self,
        sealer_for: Callable[[str], Callable[[str], str]],
        key_of: Callable[[str], bytes | None],
    ) -> None:
        """`sealer_for`: seals a value of a customer (creating the customer's key when it has
        none); `key_of`: the customer's key (None once forgotten), to open them for a redrive."""
        self._sealer_for = sealer_for
        self._key_of = key_of

    def key(self, customer_id: str) -> bytes | None:
        """The customer's key (`KeyLookup`)."""
        return self._key_of(customer_id)

    def kept(self, message: HeldMessage) -> HeldMessage:
        """The message as it is kept and copied to the dead-letter topic."""
        if message.topic not in PERSONAL_DATA_TOPICS:
            return message
        return dataclasses.replace(message, value=_kept_value(message.value, self._sealer_for))

    def opened(self, value: bytes) -> bytes:
        """A kept message with its sealed values opened (or "erased"), as a redrive applies it."""
        if PREFIX.encode() not in value:
            return value
        try:
            document = json.loads(value)
        except ValueError:
            return value
        return json.dumps(revealed(document, self)).encode()


_COLUMNS = (
    'id, sequence, version, state, reason, error_type, topic, partition, "offset", key, value, '
    "headers, attempts, first_seen, last_seen, resolved_at, resolved_by, resolution"
)


class DeadLetters:
    """The dead and parked messages of one service's consumer, in its own database.

    Every method runs on the store's connection: inside a unit of work, in its transaction.
    """

    def __init__(self, application: ServiceApplication) -> None:
        self._application = application
        self.personal_data: PersonalDataSealing | None = None
        """Set by a service that takes in personal data in clear (`PersonalDataSealing`)."""

    @property
    def durable(self) -> bool:
        """An in-memory store (component tests) keeps no rows: dead letters go to the topic only."""
        return self._application.has_read_models

    def create_table(self) -> None:
        if self.durable:
            self._application.write(DEAD_LETTERS_TABLE)
            for statement in DEAD_LETTERS_INDEXES:
                self._application.write(statement)

    def as_kept(self, message: HeldMessage) -> HeldMessage:
        """The message as it is kept and copied to the dead-letter topic: its personal values
        sealed (`PersonalDataSealing`), when the service takes any in."""
        return message if self.personal_data is None else self.personal_data.kept(message)

    def keep(self, message: HeldMessage, state: LetterState, reason: str, error_type: str) -> None:
        """Keep a message as dead or parked; a message kept already counts one more attempt."""
        if not self.durable:
            return
        fingerprint = message.fingerprint  # of the message as it came, to recognise it again
        message = self.as_kept(message)
        self._application.write(
            "INSERT INTO dead_letters (fingerprint, sequence, version, state, reason, error_type, "
            'topic, partition, "offset", key, value, headers) '
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb) "
            "ON CONFLICT (fingerprint) WHERE state IN ('dead', 'parked') DO UPDATE SET "
            "attempts = dead_letters.attempts + 1, last_seen = now(), "
            "reason = CASE WHEN excluded.state = 'dead' THEN excluded.reason "
            "ELSE dead_letters.reason END, "
            "state = CASE WHEN excluded.state = 'dead' THEN 'dead' ELSE dead_letters.state END",
            fingerprint,
            message.sequence,
            message.version,
            state.value,
            reason[:4000],
            error_type,
            message.topic,
            message.partition,
            message.offset,
            message.key,
            message.value,
            json.dumps(message.headers),
        )

    def open_sequences(self) -> set[str]:
        """Aggregates (`producer:aggregate_id`) with a dead or parked event."""
        if not self.durable:
            return set()
        rows = self._application.read(
            "SELECT DISTINCT sequence FROM dead_letters "
            "WHERE state IN ('dead', 'parked') AND sequence IS NOT NULL"
        )
        return {str(row["sequence"]) for row in rows}

    def has_dead(self, sequence: str) -> bool:
        if not self.durable:
            return False
        rows = self._application.read(
            "SELECT 1 FROM dead_letters WHERE sequence = %s AND state = 'dead' LIMIT 1", sequence
        )
        return bool(rows)

    def open_in_sequence(self, sequence: str) -> list[Letter]:
        """The dead and parked events of an aggregate, oldest version first."""
        return self._letters(
            "WHERE sequence = %s AND state IN ('dead', 'parked') ORDER BY version", sequence
        )

    def waiting(self) -> list[Letter]:
        """Parked messages that came before what they depend on, the first of each aggregate."""
        return self._letters(
            "WHERE state = 'parked' AND error_type = 'NotYet' AND id IN ("
            "SELECT min(id) FROM dead_letters WHERE state = 'parked' AND error_type = 'NotYet' "
            "GROUP BY coalesce(sequence, id::text)) ORDER BY id"
        )

    def waited(self, letter_id: int, reason: str) -> None:
        """A message tried (again) and still early: one more attempt, parked as waiting."""
        self._application.write(
            "UPDATE dead_letters SET attempts = attempts + 1, last_seen = now(), reason = %s, "
            "state = 'parked', error_type = 'NotYet' WHERE id = %s",
            reason[:4000],
            letter_id,
        )

    def get(self, letter_id: int, *, opened: bool = True) -> Letter | None:
        """The letter, its personal values opened (to redrive it), or shown as "sealed"."""
        letters = self._letters("WHERE id = %s", letter_id, opened=opened)
        if not letters:
            return None
        return letters[0] if opened else self._masked(letters[0])

    def listing(self, *, include_resolved: bool, limit: int = 200) -> list[Letter]:
        """The letters, newest first, as kept (their personal values not opened)."""
        where = "" if include_resolved else "WHERE state IN ('dead', 'parked') "
        return self._letters(f"{where}ORDER BY id DESC LIMIT %s", limit, opened=False)

    def counts(self) -> dict[str, int]:
        """How many rows are in each open state."""
        return {state: sum(kinds.values()) for state, kinds in self.counts_by_type().items()}

    def counts_by_type(self) -> dict[str, dict[str, int]]:
        """How many rows are in each open state, by the kind of reason (`error_type`: the
        exception a dead one failed with, `Parked`, `VersionGap` or `NotYet` for a parked one)."""
        found: dict[str, dict[str, int]] = {state: {} for state in OPEN_STATES}
        if not self.durable:
            return found
        rows = self._application.read(
            "SELECT state, error_type, count(*) AS n FROM dead_letters "
            "WHERE state IN ('dead', 'parked') GROUP BY state, error_type"
        )
        for row in rows:
            found[str(row["state"])][str(row["error_type"])] = int(row["n"])
        return found

    def resolve(self, letter_id: int, state: LetterState, by: str, resolution: str) -> None:
        self._application.write(
            "UPDATE dead_letters SET state = %s, resolved_at = now(), resolved_by = %s, "
            "resolution = %s WHERE id = %s",
            state.value,
            by,
            resolution,
            letter_id,
        )

    def still_dead(self, letter_id: int, reason: str, error_type: str) -> None:
        """A redrive that failed again: the letter stays (or becomes) dead, with the new reason."""
        self._application.write(
            "UPDATE dead_letters SET state = 'dead', reason = %s, error_type = %s, "
            "attempts = attempts + 1, last_seen = now() WHERE id = %s",
            reason[:4000],
            error_type,
            letter_id,
        )

    @staticmethod
    def _masked(letter: Letter) -> Letter:
        text = masked(letter.value.decode("utf-8", errors="replace"))
        return dataclasses.replace(letter, value=text.encode())

    def _opened(self, value: bytes) -> bytes:
        return value if self.personal_data is None else self.personal_data.opened(value)

    def _letters(self, clause: str, *parameters: Any, opened: bool = True) -> list[Letter]:
        """`opened`: the values as a redrive applies them (personal values opened)."""
        if not self.durable:
            return []
        rows = self._application.read(f"SELECT {_COLUMNS} FROM dead_letters {clause}", *parameters)
        return [
            Letter(
                id=int(row["id"]),
                sequence=row["sequence"],
                version=row["version"],
                state=str(row["state"]),
                reason=str(row["reason"]),
                error_type=str(row["error_type"]),
                topic=str(row["topic"]),
                partition=row["partition"],
                offset=row["offset"],
                key=bytes(row["key"]) if row["key"] is not None else None,
                value=self._opened(bytes(row["value"])) if opened else bytes(row["value"]),
                headers=dict(row["headers"] or {}),
                attempts=int(row["attempts"]),
                first_seen=row["first_seen"],
                last_seen=row["last_seen"],
                resolved_at=row["resolved_at"],
                resolved_by=row["resolved_by"],
                resolution=row["resolution"],
            )
            for row in rows
        ]
