"""What a relay sends for a stored event, made cheaply: the relay's hot loop.

The envelope is written straight to JSON, its payload by the payload model's own serializer, rather
than built as an `Envelope` model, validated, and serialized again: it reads back as exactly the
envelope `relay.envelope_for` builds (a test holds the two equal). Messages go to the producer in
record batches per partition, with the partition the producer's default partitioner would choose
(murmur2 of the key, as every Kafka client does), so an aggregate's events stay on the partition
they always went to.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import RecordMetadata
from pydantic_core import from_json as _from_json
from pydantic_core import to_json as _to_json

from contracts.base import IntegrationEvent
from contracts.envelope import EVENT_ID_NAMESPACE
from services.runtime import tracing
from services.runtime.idempotency import is_bookkeeping
from services.runtime.tracing import TRACEPARENT, traceparent_of

Headers = list[tuple[str, bytes]]

_NAMESPACE = EVENT_ID_NAMESPACE.bytes
_VERSION_5_CLEARED = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_5_SET = (0x5000 << 64) | (0x8000 << 48)
"""The bits of a sha-1 digest's first 16 bytes that make it a version 5, RFC 4122 uuid."""
_sha1 = hashlib.sha1
_string: Callable[[str], str] = json.encoder.encode_basestring
"""A JSON string literal as pydantic writes one: UTF-8 kept, control characters escaped."""


def event_id_number(aggregate_id: str, aggregate_version: int, feed: str | None = None) -> int:
    """`contracts.envelope.event_id_for` as the uuid's integer (a name-based version 5 uuid),
    without the uuid objects' cost."""
    digest = int.from_bytes(
        _sha1(_NAMESPACE + _name(aggregate_id, aggregate_version, feed)).digest()[:16]
    )
    return digest & _VERSION_5_CLEARED | _VERSION_5_SET


def event_id_text(aggregate_id: str, aggregate_version: int, feed: str | None = None) -> str:
    """`contracts.envelope.event_id_for` as text: the sha-1 digest's first 32 hex digits, with the
    version digit and the variant bits set in place (RFC 4122), without a uuid object."""
    digits = _sha1(_NAMESPACE + _name(aggregate_id, aggregate_version, feed)).hexdigest()
    return (
        f"{digits[:8]}-{digits[8:12]}-5{digits[13:16]}-"
        f"{_VARIANT[digits[16]]}{digits[17:20]}-{digits[20:32]}"
    )


_VARIANT = {f"{digit:x}": f"{digit & 0x3 | 0x8:x}" for digit in range(16)}
"""A hex digit with its top two bits replaced by the RFC 4122 variant's `10`."""


def _name(aggregate_id: str, aggregate_version: int, feed: str | None) -> bytes:
    name = (
        f"{aggregate_id}:{aggregate_version}"
        if feed is None
        else f"{feed}:{aggregate_id}:{aggregate_version}"
    )
    return name.encode()


def json_datetime(moment: datetime) -> bytes:
    """A datetime as pydantic writes it in JSON, quotes included (UTC as `Z`): by pydantic-core
    itself, a third of what formatting it in Python costs."""
    return _to_json(moment)


class OutgoingMessage(NamedTuple):
    """One Kafka record: key, envelope JSON, and headers that let a consumer route or skip it
    without parsing the body."""

    key: bytes
    value: bytes
    headers: Headers


def message_for(
    producer: str,
    domain_event: Any,
    payload: IntegrationEvent,
    *,
    feed: str | None = None,
    key: Callable[[Any], str] | None = None,
    position: int | None = None,
) -> OutgoingMessage:
    """The record for a stored event translated to `payload` (on `feed`, when not the producer's
    events topic; keyed by `key(payload)` when given, else by aggregate id). `position`, the
    event's notification id in its store, goes in the `notification_id` header: one relay
    publishes a store in that order, so a reader of two topics fed by one store (an events topic
    and a feed) can tell how far each partition has come (a repeat after a relay restart aside)."""
    return MessageWriter(producer, feed=feed, key=key)(domain_event, payload, position)


class _Kind(NamedTuple):
    """What every message of one payload class shares, as text and headers."""

    after_event_id: str
    after_occurred_at: str
    headers: Headers


class MessageWriter:
    """`message_for` of one relay (its producer, feed and key), with the text and headers every
    message of a payload class shares made once per class rather than once per message."""

    def __init__(
        self,
        producer: str,
        *,
        feed: str | None = None,
        key: Callable[[Any], str] | None = None,
    ) -> None:
        self._producer = _string(producer)
        self._feed = feed
        self._key = key
        self._kinds: dict[type[IntegrationEvent], _Kind] = {}

    def _kind(self, cls: type[IntegrationEvent]) -> _Kind:
        kind = self._kinds.get(cls)
        if kind is None:
            # Field for field as `Envelope` declares them.
            kind = self._kinds[cls] = _Kind(
                after_event_id=f'","event_type":{_string(cls.event_type)},'
                f'"schema_version":{int(cls.schema_version)},"occurred_at":',
                after_occurred_at=f',"producer":{self._producer},'
                f'"aggregate_type":{_string(cls.aggregate_type)},"aggregate_id":"',
                headers=[
                    ("event_type", cls.event_type.encode()),
                    ("aggregate_type", cls.aggregate_type.encode()),
                ],
            )
        return kind

    def __call__(
        self, domain_event: Any, payload: IntegrationEvent, position: int | None = None
    ) -> OutgoingMessage:
        """The record of `domain_event`, translated to `payload`, stored at notification id
        `position` (see `message_for`)."""
        kind = self._kind(type(payload))
        aggregate_id = str(domain_event.originator_id)
        version: int = domain_event.originator_version
        correlation_id: str = domain_event.correlation_id
        causation_id: str | None = domain_event.causation_id
        # The ids and the version need no escaping; the time goes between the two, as pydantic
        # writes it.
        before_time = (
            f'{{"event_id":"{event_id_text(aggregate_id, version, self._feed)}{kind.after_event_id}'
        )
        after_time = (
            f"{kind.after_occurred_at}{aggregate_id}"
            f'","aggregate_version":{int(version)},'
            f'"correlation_id":{_string(correlation_id)},'
            f'"causation_id":{"null" if causation_id is None else _string(causation_id)},'
            '"payload":'
        )
        body = payload.__pydantic_serializer__.to_json(payload)
        headers = [
            *kind.headers,
            ("aggregate_id", aggregate_id.encode()),
            ("aggregate_version", str(version).encode()),
            ("correlation_id", correlation_id.encode()),
        ]
        if position is not None:
            headers.append(("notification_id", str(position).encode()))
        traceparent = traceparent_of(domain_event)
        if traceparent is not None:  # recorded with tracing on: the consumer continues the trace
            headers.append((TRACEPARENT, traceparent.encode()))
        return OutgoingMessage(
            key=(
                self._key(payload)
                if self._key is not None
                else payload.message_key() or aggregate_id
            ).encode(),
            value=b"".join(
                (
                    before_time.encode(),
                    json_datetime(domain_event.timestamp),
                    after_time.encode(),
                    body,
                    b"}",
                )
            ),
            headers=headers,
        )


class OutboxRow(NamedTuple):
    """A message as the store keeps it beside its event, written in the same transaction: what
    the relay sends, but for the `notification_id` header (known only once the row is in)."""

    key: bytes
    value: bytes
    headers: bytes
    """The headers as a JSON object of text values."""


def outbox_row(message: OutgoingMessage) -> OutboxRow:
    """`message` as the store keeps it."""
    return OutboxRow(
        message.key,
        message.value,
        _to_json({name: value.decode() for name, value in message.headers}),
    )


def from_outbox(key: bytes, value: bytes, headers: bytes, position: int) -> OutgoingMessage:
    """The message kept as `OutboxRow`, its event stored at notification id `position`."""
    return OutgoingMessage(
        key,
        value,
        [
            *[(name, text.encode()) for name, text in _from_json(headers).items()],
            ("notification_id", str(position).encode()),
        ],
    )


def outbox_writer(
    producer: str, translate: Callable[[Any], IntegrationEvent | None]
) -> Callable[[Any], OutboxRow | None]:
    """What the store keeps beside each event of `producer` for its events topic: the event
    translated by `translate` and written as the relay sends it; None for what is never published
    (idempotency bookkeeping)."""
    write = MessageWriter(producer)

    def outgoing(domain_event: Any) -> OutboxRow | None:
        tracing.stamp(domain_event)  # as the store will: the message carries the trace on
        message = message_of(write, translate, domain_event)
        return None if message is None else outbox_row(message)

    return outgoing


def message_of(
    write: MessageWriter,
    translate: Callable[[Any], IntegrationEvent | None],
    domain_event: Any,
    position: int | None = None,
) -> OutgoingMessage | None:
    """The message of a domain event, translated by `translate` and written by `write`; None for
    what is never published (idempotency bookkeeping, or what `translate` leaves out)."""
    if is_bookkeeping(domain_event):
        return None
    payload = translate(domain_event)
    return None if payload is None else write(domain_event, payload, position)


class KeyPartitioner:
    """The producer's default partitioner, remembered per key (an aggregate's events come in runs,
    and murmur2 in Python costs more than the rest of placing a message). Also a producer's
    `partitioner`: a message without a key goes where the default one sends it."""

    MAX_REMEMBERED = 100_000

    def __init__(self) -> None:
        self._partition_of: dict[tuple[bytes, int], int] = {}

    def __call__(
        self, key: bytes | None, partitions: list[int], available: list[int] | None = None
    ) -> int:
        if key is None:
            chosen: int = DefaultPartitioner()(None, partitions, available or partitions)
            return chosen
        remembered = self._partition_of.get((key, len(partitions)))
        if remembered is not None:
            return remembered
        if len(self._partition_of) >= self.MAX_REMEMBERED:
            self._partition_of.clear()
        partition: int = DefaultPartitioner()(key, partitions, partitions)
        self._partition_of[(key, len(partitions))] = partition
        return partition


class PartitionBatches:
    """Messages of one topic collected into record batches per partition, handed to the producer
    by `flush` (a relay's page at a time)."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic
        self._open: dict[int, Any] = {}
        self._full: list[tuple[int, Any]] = []

    def add(self, partition: int, message: OutgoingMessage) -> None:
        batch = self._open.get(partition)
        if batch is None or not self._append(batch, message):
            if batch is not None:
                self._full.append((partition, batch))
            batch = self._open[partition] = self._new_batch()
            self._append(batch, message)  # a batch always takes its first message

    async def flush(self) -> list[asyncio.Future[RecordMetadata]]:
        """Submit every batch, in order per partition; the acknowledgements to come (each with
        its batch's first offset)."""
        batches, self._full, self._open = [*self._full, *self._open.items()], [], {}
        return [await self._submit(partition, batch) for partition, batch in batches]

    def _new_batch(self) -> Any:
        return self._producer.create_batch()

    @staticmethod
    def _append(batch: Any, message: OutgoingMessage) -> bool:
        appended = batch.append(
            timestamp=None, key=message.key, value=message.value, headers=message.headers
        )
        return appended is not None

    async def _submit(self, partition: int, batch: Any) -> asyncio.Future[RecordMetadata]:
        # Closed, so the producer's own send() never adds a message of its own to it.
        batch.close()
        submitted: asyncio.Future[RecordMetadata] = await self._producer.send_batch(
            batch, self._topic, partition=partition
        )
        return submitted
