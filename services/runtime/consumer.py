"""Tracked consumption: at-least-once delivery, exactly-once effects, in batches.

For every batch of messages a service consumes (`handle_batch`; the Kafka loop is `inbox.py`):
- an event of an aggregate kind the service does not follow is skipped from its Kafka headers,
  without parsing the body;
- undecodable or schema-invalid input is a dead letter (kept with its reason, see
  `deadletters.py`, and copied to the service's dead-letter topic); the partition moves on;
- an integration event is recognised by its source identity (producer, aggregate id, version), not
  by Kafka offsets (the embedded broker restarts empty, offsets restart with it): a repeat is
  skipped, and an event is applied only right after the version before it; one that comes early,
  or after a dead letter of its aggregate, is parked, never applied out of order;
- the whole batch is applied in one transaction: the handlers' new events, their read-model
  changes and one tracking row per source aggregate commit together, once; the Kafka offsets are
  committed after that;
- when anything in a batch fails, the batch is undone and applied again one message at a time, so
  one bad message never blocks, doubles or loses the others: a failing handler is tried a bounded
  number of times, then dead-lettered; a broken business rule (`DomainError`) at once (a
  `RecordedRefusal` after what the handler recorded of the refusal commits); an
  infrastructure outage is never dead-lettered: it propagates, and the batch is consumed again once
  the database or broker is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from aiokafka import ConsumerRecord
from eventsourcing.persistence import IntegrityError, Tracking
from pydantic import BaseModel, ValidationError, create_model

from contracts.base import ContractModel, IntegrationEvent, validate_partner_message
from contracts.envelope import Envelope
from contracts.registry import LATEST_VERSION, UnknownEventType, model_for, read_event
from contracts.topics import Topic, dead_letter_topic, events_topic
from services.runtime import tracing
from services.runtime.aggregate import DomainError, NotYet, RecordedRefusal
from services.runtime.context import MessageContext, handling
from services.runtime.deadletters import DeadLetters, HeldMessage, Letter, LetterState
from services.runtime.eventstore import (
    BlockingRunner,
    ReadModelRecorder,
    SavepointsNeeded,
    ServiceApplication,
)
from services.runtime.kafka import header_value
from services.runtime.metrics import BATCH_MESSAGES, BATCH_SECONDS, HANDLER_SECONDS
from services.runtime.outages import OUTAGE_ERRORS

log = structlog.get_logger(__name__)
_stdlib_log = logging.getLogger(__name__)

E = TypeVar("E", bound=IntegrationEvent)
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
App = TypeVar("App", bound=ServiceApplication)

INFRASTRUCTURE_ERRORS = OUTAGE_ERRORS
MAX_CONFLICT_RETRIES = 50

NOT_THE_MESSAGES_FAULT: tuple[type[BaseException], ...] = (*INFRASTRUCTURE_ERRORS, NotYet)

WAITING = "NotYet"
"""The kind of a parked message that came before what it depends on (`NotYet`)."""

AGGREGATE_TYPE_HEADER = "aggregate_type"
"""Set by every relay, so a consumer can skip what it does not follow without parsing it."""
EVENT_TYPE_HEADER = "event_type"
"""Set by every relay: an event no handler of the service takes is validated in one pass."""
_NONE: frozenset[str] = frozenset()


class Outcome(enum.StrEnum):
    APPLIED = "applied"
    TRACKED = "tracked"
    DUPLICATE = "duplicate"
    NOT_FOLLOWED = "not-followed"
    PARKED = "parked"
    DEAD_LETTERED = "dead-lettered"


class ConcurrencyConflict(Exception):
    """The aggregates kept changing underneath the handler."""


class Rejected(Exception):
    """Input that no retry can fix; it becomes a dead letter with this reason (and, for an event,
    its place in its aggregate's sequence)."""

    def __init__(self, reason: str, held: HeldMessage | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.held = held


EventHandler = Callable[[Any, Envelope], None]
MessageHandler = Callable[[Any], None]
Publish = Callable[..., Awaitable[Any]]
"""`publish(value, topic=..., key=..., headers={...})`: send one message and wait for the ack."""


@dataclass(frozen=True)
class _MessageRoute:
    model: type[BaseModel]
    handler: MessageHandler
    correlation_id: Callable[[Any], str]
    causation_id: Callable[[Any], str]


@dataclass
class _Decoded:
    """A consumed record, decoded and routed, ready to apply."""

    record: ConsumerRecord[bytes, bytes]
    sequence: str | None = None
    """The event's source (producer and aggregate id); None for a partner's message."""
    version: int | None = None
    envelope: Envelope | None = None
    """None for an event no handler takes (`_decode_tracked_only`)."""
    payload: Any = None
    event_handler: EventHandler | None = None
    route: _MessageRoute | None = None
    context: MessageContext | None = None
    parked_because: tuple[str, str] | None = None
    """Why it was parked (reason, kind), once it was."""
    refused: Rejected | None = None
    """Why a rule refused it after recording the refusal (`RecordedRefusal`), once it did."""

    @property
    def source(self) -> str | None:
        return self.sequence

    @functools.cached_property
    def held(self) -> HeldMessage:
        """The message as a dead letter keeps it: built only for one that is kept, since its
        headers are decoded to text."""
        return _held(self.record, self.sequence, self.version)


@dataclass
class ConsumerCounters:
    """Messages handled by topic and outcome, and batches applied whole or one by one."""

    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    batches: int = 0
    batches_split: int = 0
    batches_with_savepoints: int = 0
    """Units of work run again with savepoints after a conflict (`_apply_together`)."""
    messages: int = 0

    def snapshot(self) -> dict[str, Any]:
        by_outcome: Counter[str] = Counter()
        by_topic: dict[str, dict[str, int]] = {}
        for (topic, outcome), count in self.outcomes.items():
            by_outcome[outcome] += count
            by_topic.setdefault(topic, {})[outcome] = count
        return {
            "messages": self.messages,
            "batches": self.batches,
            "batches_applied_one_by_one": self.batches_split,
            "batches_run_again_with_savepoints": self.batches_with_savepoints,
            "outcomes": dict(by_outcome),
            "by_topic": by_topic,
        }


class Consumer:
    """The inbox of one service: which topics it reads and which use case each message calls.

    Handlers are plain functions that call the application once; they run on a worker thread
    (the event store blocks) inside the batch's unit of work.
    """

    def __init__(
        self,
        *,
        service_name: str,
        application: ServiceApplication,
        runner: BlockingRunner,
        publish: Publish,
        attempts: int,
        wait_limit_seconds: float = 600.0,
    ) -> None:
        self._service = service_name
        self._wait_limit_seconds = wait_limit_seconds
        self._application = application
        self._runner = runner
        self._publish = publish
        self._attempts = attempts
        self._event_routes: dict[str, dict[type[IntegrationEvent], EventHandler]] = {}
        self._message_routes: dict[str, _MessageRoute] = {}
        self._followed: dict[str, set[str]] = {}
        self._handled_types: dict[str, set[str]] = {}
        self.dead_letter_topic = dead_letter_topic(service_name).name
        self.dead_letters = DeadLetters(application)
        self.counters = ConsumerCounters()
        self._handler_timers: dict[type, Any] = {}
        """`HANDLER_SECONDS` of this service by message type, looked up once per type."""

    @property
    def service_name(self) -> str:
        return self._service

    # -- registration -------------------------------------------------------------------------

    def on_event(
        self, model: type[E], *, producer: str
    ) -> Callable[[Callable[[E, Envelope], None]], Callable[[E, Envelope], None]]:
        """Call the decorated function for each `model` event published by `producer`."""

        def register(handler: Callable[[E, Envelope], None]) -> Callable[[E, Envelope], None]:
            topic = events_topic(producer).name
            self._event_routes.setdefault(topic, {})[model] = handler
            self._followed.setdefault(topic, set()).add(model.aggregate_type)
            self._handled_types.setdefault(topic, set()).add(model.event_type)
            return handler

        return register

    def on_message(
        self,
        topic: Topic,
        model: type[M],
        *,
        correlation_id: Callable[[M], str],
        causation_id: Callable[[M], str],
    ) -> Callable[[Callable[[M], None]], Callable[[M], None]]:
        """Call the decorated function for each `model` message on a topic outside systems write."""

        def register(handler: Callable[[M], None]) -> Callable[[M], None]:
            self._message_routes[topic.name] = _MessageRoute(
                model, handler, correlation_id, causation_id
            )
            return handler

        return register

    def subscribe_read_models(self) -> None:
        """Consume every public event the application's read models project (its declaration,
        `ReadModels.on_event`) and no handler of the service handles itself: the consumer
        applies it with `ServiceApplication.project`. Called after the service's handlers are
        registered (`subscribe`)."""
        read_models = self._application.read_models
        if read_models is None:
            return
        for model, producer in read_models.contract_routes:
            if not self.handles(model, producer=producer):
                self.on_event(model, producer=producer)(self._application.project)

    def handles(self, model: type[IntegrationEvent], *, producer: str) -> bool:
        """Whether a handler is registered for `model` events of `producer`."""
        return model in self._event_routes.get(events_topic(producer).name, {})

    @property
    def topics(self) -> list[str]:
        return sorted({*self._event_routes, *self._message_routes})

    @property
    def intake_topics(self) -> list[str]:
        """Topics outside systems write to (partners' messages, not envelopes)."""
        return sorted(self._message_routes)

    # -- handling -----------------------------------------------------------------------------

    async def handle(self, record: ConsumerRecord[bytes, bytes]) -> Outcome:
        """Handle one consumed record; raises only on infrastructure outages."""
        return (await self.handle_batch([record]))[0]

    async def handle_batch(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> list[Outcome]:
        """Handle consumed records, in order, whatever they hold: one transaction for all of them
        where possible. Raises only on infrastructure outages (then nothing of the batch is
        committed, except dead letters already kept, which a redelivery recognises)."""
        structlog.contextvars.clear_contextvars()
        started = time.perf_counter()
        outcomes: list[Outcome | None] = [None] * len(records)
        pending: list[tuple[int, _Decoded]] = []
        for index, record in enumerate(records):
            try:
                decoded = self._decode(record)
            except Rejected as rejection:
                await self._dead_letter(_held(record), rejection)
                outcomes[index] = Outcome.DEAD_LETTERED
                continue
            if decoded is None:
                outcomes[index] = Outcome.NOT_FOLLOWED
            else:
                pending.append((index, decoded))
        if pending:
            items = [decoded for _, decoded in pending]
            applied = await self._apply_together(items)
            if applied is None:
                applied = [await self._apply_alone(decoded) for decoded in items]
            for (index, decoded), outcome in zip(pending, applied, strict=True):
                outcomes[index] = outcome
                if outcome is Outcome.PARKED and decoded.parked_because is not None:
                    await self._copy_to_dead_letter_topic(decoded.held, *decoded.parked_because)
                if decoded.refused is not None:
                    await self._dead_letter(decoded.held, decoded.refused)
        final = [outcome or Outcome.NOT_FOLLOWED for outcome in outcomes]
        BATCH_SECONDS.labels(self._service).observe(time.perf_counter() - started)
        BATCH_MESSAGES.labels(self._service).observe(len(records))
        self.counters.batches += 1
        self.counters.messages += len(records)
        for record, outcome in zip(records, final, strict=True):
            self.counters.outcomes[(record.topic, outcome.value)] += 1
        # Asked once per batch: a debug line dropped below the level still costs a call per
        # message through the logger's processors.
        if _stdlib_log.isEnabledFor(logging.DEBUG):
            for record, outcome in zip(records, final, strict=True):
                log.debug(
                    "message handled",
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    outcome=outcome.value,
                )
        return final

    async def accept(self, topic: str, value: bytes, correlation_id: str | None) -> Outcome:
        """Apply one partner message received outside Kafka (the durable HTTP intake), exactly as
        if it had been consumed from `topic`, and committed to the store when this returns.

        Raises `Rejected` with the reason when the message is invalid (nothing is kept: the
        sender is told at once) or a rule refuses it."""
        if topic not in self._message_routes:
            raise Rejected(f"{self._service} takes no messages of {topic}")
        headers = [("correlation_id", correlation_id.encode())] if correlation_id else []
        record = ConsumerRecord(
            topic=topic,
            partition=-1,
            offset=-1,
            timestamp=0,
            timestamp_type=0,
            key=None,
            value=value,
            checksum=None,
            serialized_key_size=0,
            serialized_value_size=len(value),
            headers=headers,
        )
        decoded = self._decode(record)
        assert decoded is not None  # partner topics are always followed
        try:
            outcome = await self._with_attempts(lambda: self._apply_in_own_transaction(decoded))
        except NotYet as waiting:
            raise Rejected(f"not yet: {waiting}") from waiting
        if decoded.refused is not None:
            raise decoded.refused
        return outcome

    # -- decoding -----------------------------------------------------------------------------

    def _decode(self, record: ConsumerRecord[bytes, bytes]) -> _Decoded | None:
        """Route a record; None for an event of an aggregate kind the service does not follow."""
        route = self._message_routes.get(record.topic)
        if route is not None:
            return self._decode_message(record, route)
        followed = self._followed.get(record.topic, _NONE)
        aggregate_type = header_value(record.headers, AGGREGATE_TYPE_HEADER)
        if aggregate_type is not None and aggregate_type not in followed:
            return None
        event_type = header_value(record.headers, EVENT_TYPE_HEADER)
        if event_type is not None and event_type not in self._handled_types.get(
            record.topic, _NONE
        ):
            tracked = _decode_tracked_only(record, event_type, followed)
            if tracked is not None:
                return tracked
        try:
            envelope = Envelope.model_validate_json(record.value or b"")
        except ValidationError as error:
            raise Rejected(f"invalid envelope: {_describe(error)}") from error
        if envelope.aggregate_type not in followed:
            return None
        sequence = f"{envelope.producer}:{envelope.aggregate_id}"
        version = envelope.aggregate_version
        try:
            payload = read_event(envelope.event_type, envelope.schema_version, envelope.payload)
        except UnknownEventType as error:
            raise Rejected(str(error), _held(record, sequence, version)) from error
        except ValidationError as error:
            raise Rejected(
                f"invalid {envelope.event_type} payload: {_describe(error)}",
                _held(record, sequence, version),
            ) from error
        return _Decoded(
            record=record,
            sequence=sequence,
            version=version,
            envelope=envelope,
            payload=payload,
            event_handler=self._event_routes[record.topic].get(type(payload)),
            context=MessageContext(
                correlation_id=envelope.correlation_id,
                causation_id=str(envelope.event_id),
                tracking=Tracking(sequence, version),
            ),
        )

    @staticmethod
    def _decode_message(record: ConsumerRecord[bytes, bytes], route: _MessageRoute) -> _Decoded:
        try:
            data = json.loads(record.value or b"")
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise Rejected(f"not valid JSON: {error}") from error
        try:
            message = validate_partner_message(route.model, data)
        except ValidationError as error:
            raise Rejected(f"schema violation: {_describe(error)}") from error
        correlation_id = header_value(record.headers, "correlation_id") or route.correlation_id(
            message
        )
        return _Decoded(
            record=record,
            payload=message,
            route=route,
            context=MessageContext(
                correlation_id=correlation_id, causation_id=route.causation_id(message)
            ),
        )

    # -- applying -----------------------------------------------------------------------------

    async def _apply_together(self, items: list[_Decoded]) -> list[Outcome] | None:
        """Apply all in one unit of work; None when anything but a conflict failed (undone).

        First without savepoints (`ServiceApplication.unit_of_work`): each message's would cost
        two round trips, and is only ever rolled back to when the message fails, which fails
        the batch anyway. A conflict, which a savepoint lets the batch decide again in place,
        rolls that attempt back instead, and the batch runs again with savepoints."""
        if len(items) == 1:
            return None  # one at a time is the same, with the retries and the dead-lettering
        try:
            return await self._runner.run(
                self._without_savepoints_first,
                items,
                lambda savepoints: self._apply_batch(items, savepoints=savepoints),
            )
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception as error:
            self.counters.batches_split += 1
            log.info("batch applied one by one", size=len(items), error=repr(error))
            _forget_parking(items)
            return None

    def _without_savepoints_first(self, items: list[_Decoded], apply: Callable[[bool], T]) -> T:
        """`apply(False)`, and after a conflict or `SavepointsNeeded` (that attempt is rolled
        back) `apply(True)`: what a run with savepoints gives, mostly without their cost."""
        try:
            return apply(False)
        except (IntegrityError, SavepointsNeeded):
            self.counters.batches_with_savepoints += 1
            _forget_parking(items)
        return apply(True)

    def _apply_batch(self, items: list[_Decoded], *, savepoints: bool = True) -> list[Outcome]:
        """One unit of work. Where each source's sequence stands is read once for the whole
        batch, under the store's lock held to its commit, and the batch's tracking rows are
        written together at its end (one statement, a row per source), not one round trip per
        event: events without a handler are most of what a service reads, and each applied one
        cost a statement of its own beside its save."""
        recorder = self._application.process_recorder
        with self._application.unit_of_work(savepoints=savepoints):
            open_sequences = self.dead_letters.open_sequences()
            if not isinstance(recorder, ReadModelRecorder):  # in memory (component tests)
                return [self._apply_with_retries(item, open_sequences, {}) for item in items]
            sources = {item.sequence for item in items if item.sequence is not None}
            # A handler or a route mostly stores events; what only tracks stores none.
            stores_events = any(item.event_handler or item.route for item in items)
            tracked = recorder.tracked_versions(sources - open_sequences, notify=stores_events)
            deferred: dict[str, int] = {}
            outcomes = [
                self._apply_with_retries(item, open_sequences, tracked, deferred=deferred)
                for item in items
            ]
            recorder.insert_trackings(deferred)
            return outcomes

    async def _apply_alone(self, item: _Decoded) -> Outcome:
        try:
            return await self._with_attempts(lambda: self._apply_in_own_transaction(item))
        except NotYet as waiting:
            reason = f"waiting: {waiting}"
            await self._runner.run(
                self.dead_letters.keep, item.held, LetterState.PARKED, reason, WAITING
            )
            await self._copy_to_dead_letter_topic(item.held, reason, WAITING)
            return Outcome.PARKED
        except Rejected as rejection:
            await self._dead_letter(item.held, rejection)
            return Outcome.DEAD_LETTERED

    def _apply_in_own_transaction(self, item: _Decoded) -> Outcome:
        """Without savepoints first, as a batch (`_apply_together`)."""

        def apply(savepoints: bool) -> Outcome:
            with self._application.unit_of_work(savepoints=savepoints):
                return self._apply_with_retries(item, self.dead_letters.open_sequences())

        return self._without_savepoints_first([item], apply)

    def _apply_with_retries(
        self,
        item: _Decoded,
        open_sequences: set[str],
        tracked: dict[str, int] | None = None,
        *,
        redriving: bool = False,
        deferred: dict[str, int] | None = None,
    ) -> Outcome:
        """Apply in a savepoint, deciding again after each conflict. `tracked` holds where this
        unit of work knows each source's sequence to stand (read under the store's lock, which
        every tracking write takes and the unit of work holds to its commit, or tracked by it
        since), so the source's next event needs no query. `deferred`, if given,
        collects the versions of events without a handler, whose tracking rows the caller writes
        before the unit of work commits; whatever is deferred counts as tracked meanwhile."""
        tracked = {} if tracked is None else tracked
        source = item.sequence
        tracked_only = self._tracked_only(item, open_sequences, redriving)
        for _ in range(MAX_CONFLICT_RETRIES):
            try:
                with (
                    contextlib.nullcontext() if tracked_only else self._application.all_or_nothing()
                ):
                    if item.route is not None:
                        return self._apply_message(item)
                    outcome = self._apply_event(
                        item,
                        open_sequences,
                        tracked.get(source or ""),
                        redriving=redriving,
                        deferred=deferred if tracked_only else None,
                        behind=deferred,
                    )
            except IntegrityError:
                if self._application.without_savepoints():
                    raise  # nothing to roll back to: the unit of work runs again with them
                if source is not None:
                    tracked.pop(source, None)
                continue  # someone else wrote first: re-read and decide again
            if source is not None and source in open_sequences:
                tracked.pop(source, None)  # parked events may have been applied behind it
            elif source is not None and outcome in (Outcome.APPLIED, Outcome.TRACKED):
                assert item.version is not None
                tracked[source] = item.version
            return outcome
        raise ConcurrencyConflict(f"gave up after {MAX_CONFLICT_RETRIES} conflicts")

    @staticmethod
    def _tracked_only(item: _Decoded, open_sequences: set[str], redriving: bool) -> bool:
        """Whether applying the message writes nothing but its tracking row. Anything else runs
        in a savepoint that undoes what a failed message wrote, so the batch goes on; a
        tracking row alone needs none (a conflict on it, another process tracking it first,
        fails no statement): two round trips fewer."""
        return (
            item.route is None
            and item.event_handler is None
            and not redriving
            and item.source not in open_sequences  # parked events may be applied behind it
        )

    def _apply_event(
        self,
        item: _Decoded,
        open_sequences: set[str],
        tracked_before: int | None = None,
        *,
        redriving: bool = False,
        deferred: dict[str, int] | None = None,
        behind: dict[str, int] | None = None,
    ) -> Outcome:
        """Apply an event if it is the next of its aggregate; a redrive (which goes through the
        parked events itself, in order) only ever applies the next one. `deferred`: where to
        note the event's tracking instead of writing it (an event without a handler); `behind`:
        what is noted so far, not yet written, where an applied event's tracking is noted too
        (the batch writes them all in one statement before it commits)."""
        source, version = item.sequence, item.version
        assert source is not None
        assert version is not None
        last = tracked_before
        if last is None:
            last = self._application.process_recorder.max_tracking_id(source) or 0
            if behind:
                last = max(last, behind.get(source, 0))
        if version <= last:
            return Outcome.DUPLICATE
        if redriving:
            return self._apply_in_order(item) if version == last + 1 else Outcome.PARKED
        if source in open_sequences and self.dead_letters.has_dead(source):
            return self._park(item, f"behind a dead letter of {source}", "Parked")
        if version != last + 1:
            open_sequences.add(source)
            return self._park(
                item,
                f"version gap: {version} of {source} arrived, the last applied is {last}",
                "VersionGap",
            )
        if deferred is not None and item.event_handler is None:
            deferred[source] = version
            return Outcome.TRACKED
        outcome = self._apply_in_order(item, tracked_in=behind)
        if source in open_sequences:
            self._unpark(source, version)
        return outcome

    def _park(self, item: _Decoded, reason: str, kind: str) -> Outcome:
        self.dead_letters.keep(item.held, LetterState.PARKED, reason, kind)
        item.parked_because = (reason, kind)
        return Outcome.PARKED

    def _apply_in_order(self, item: _Decoded, tracked_in: dict[str, int] | None = None) -> Outcome:
        """Apply the next version of an aggregate's events, with its tracking row; with
        `tracked_in` (a batch's), the tracking is noted there once the handler has succeeded,
        and the batch writes every source's row in one statement before it commits, where each
        save wrote its own (a tenth of what a consuming service sent Postgres). The batch holds
        the store's lock from its first read of the tracking rows to its commit, so no other
        writer can track the same events meanwhile."""
        assert item.context is not None
        tracking = item.context.tracking
        assert tracking is not None
        context = MessageContext(
            item.context.correlation_id,
            item.context.causation_id,
            None if tracked_in is not None else tracking,
        )
        with handling(context), tracing.consuming(self._service, item.record):
            if item.event_handler is not None:
                assert item.envelope is not None
                with self._handler_timer(item.payload).time():
                    item.event_handler(item.payload, item.envelope)
            if tracked_in is not None:
                source, version = tracking.application_name, tracking.notification_id
                tracked_in[source] = max(version, tracked_in.get(source, 0))
            elif not context.tracking_recorded:
                self._application.process_recorder.insert_tracking(tracking)
        return Outcome.APPLIED if item.event_handler is not None else Outcome.TRACKED

    def _handler_timer(self, payload: object) -> Any:
        """The handler duration histogram of this service for `payload`'s type."""
        kind = type(payload)
        timer = self._handler_timers.get(kind)
        if timer is None:
            timer = self._handler_timers[kind] = HANDLER_SECONDS.labels(
                self._service, kind.__name__
            )
        return timer

    def _unpark(self, source: str, applied_version: int) -> None:
        """Apply the parked events that now come next, in order (they waited for a gap)."""
        expected = applied_version + 1
        for letter in self.dead_letters.open_in_sequence(source):
            if letter.state != LetterState.PARKED or letter.version is None:
                return
            if letter.version < expected:
                self.dead_letters.resolve(
                    letter.id, LetterState.SUPERSEDED, self._service, "applied before its turn"
                )
                continue
            if letter.version != expected:
                return
            parked = self._decode(_record_of(letter))
            if parked is None:
                return
            try:
                with self._application.all_or_nothing():
                    self._apply_in_order(parked)
            except INFRASTRUCTURE_ERRORS:
                raise
            except NotYet as waiting:
                self.dead_letters.waited(letter.id, f"waiting: {waiting}")
                return
            except Exception as error:
                self.dead_letters.still_dead(letter.id, _reason(error), type(error).__name__)
                return
            self.dead_letters.resolve(
                letter.id, LetterState.UNPARKED, self._service, "its predecessor was applied"
            )
            expected += 1

    def _apply_message(self, item: _Decoded) -> Outcome:
        assert item.route is not None
        assert item.context is not None
        item.refused = None
        context = MessageContext(item.context.correlation_id, item.context.causation_id)
        with handling(context), tracing.consuming(self._service, item.record):
            try:
                with self._handler_timer(item.payload).time():
                    item.route.handler(item.payload)
            except RecordedRefusal as refusal:
                # Returning keeps what the handler saved; the caller dead-letters the message.
                item.refused = Rejected(f"rule violated: {refusal}")
                item.refused.__cause__ = refusal
                return Outcome.DEAD_LETTERED
        return Outcome.APPLIED

    async def _with_attempts(self, apply: Callable[[], T]) -> T:
        last_error: BaseException | None = None
        for attempt in range(1, self._attempts + 1):
            try:
                return await self._runner.run(apply)
            except NOT_THE_MESSAGES_FAULT:
                # An outage is not the message's fault: it is consumed again once the outage is
                # over. A message that is early waits, parked, and is tried again later.
                raise
            except DomainError as error:
                raise Rejected(f"rule violated: {error}") from error
            except Exception as error:
                last_error = error
                log.warning("handler failed", attempt=attempt, error=repr(error))
                await asyncio.sleep(0.05 * 2**attempt)
        raise Rejected(f"failed after {self._attempts} attempts: {last_error!r}") from last_error

    # -- dead letters -------------------------------------------------------------------------

    async def _dead_letter(self, held: HeldMessage, rejection: Rejected) -> None:
        reason = rejection.reason
        held = rejection.held or held
        error_type = type(rejection.__cause__ or rejection).__name__
        log.error(
            "message dead-lettered",
            topic=held.topic,
            partition=held.partition,
            offset=held.offset,
            reason=reason,
        )
        await self._runner.run(self.dead_letters.keep, held, LetterState.DEAD, reason, error_type)
        await self._copy_to_dead_letter_topic(held, reason, error_type)

    async def _copy_to_dead_letter_topic(
        self, held: HeldMessage, reason: str, error_type: str
    ) -> None:
        """For tools that watch the topic; the rows in the database are what a redrive uses."""
        held = await self._runner.run(self.dead_letters.as_kept, held)
        await self._publish(
            held.value,
            topic=self.dead_letter_topic,
            key=held.key,
            headers={
                "error": reason[:4000],
                "error-type": error_type,
                "source-topic": held.topic,
                "source-partition": str(held.partition),
                "source-offset": str(held.offset),
                "consumer": self._service,
            },
        )

    async def redrive(self, letter_id: int, actor: str) -> list[dict[str, Any]]:
        """Apply a dead letter again, then what is parked behind it, in order, each once; stop
        at the first that fails again (it stays dead, with the new reason). Returns what happened
        to each letter."""
        letter = await self._runner.run(self.dead_letters.get, letter_id)
        if letter is None:
            raise LookupError(f"no dead letter {letter_id}")
        if letter.state not in (LetterState.DEAD, LetterState.PARKED):
            raise ValueError(f"dead letter {letter_id} is {letter.state}, not open")
        letters = (
            [letter]
            if letter.sequence is None
            else await self._runner.run(self.dead_letters.open_in_sequence, letter.sequence)
        )
        results: list[dict[str, Any]] = []
        for held in letters:
            result = await self._redrive_one(held, actor)
            results.append({"id": held.id, "version": held.version} | result)
            if result["state"] in (LetterState.DEAD, LetterState.PARKED):
                break
        log.info("dead letters redriven", letter=letter_id, actor=actor, results=results)
        return results

    async def _redrive_one(self, letter: Letter, actor: str) -> dict[str, Any]:
        try:
            decoded = self._decode(_record_of(letter))
        except Rejected as rejection:
            await self._runner.run(
                self.dead_letters.still_dead, letter.id, rejection.reason, "Rejected"
            )
            return {"state": LetterState.DEAD, "reason": rejection.reason}
        if decoded is None:
            await self._runner.run(
                self.dead_letters.resolve,
                letter.id,
                LetterState.SUPERSEDED,
                actor,
                "no longer followed",
            )
            return {"state": LetterState.SUPERSEDED}

        def apply() -> dict[str, Any]:
            with self._application.unit_of_work():
                outcome = self._apply_with_retries(decoded, set(), redriving=True)
                if decoded.refused is not None:
                    reason, kind = decoded.refused.reason, type(decoded.refused.__cause__).__name__
                    self.dead_letters.still_dead(letter.id, reason, kind)
                    return {"state": LetterState.DEAD, "reason": reason}
                state = {
                    Outcome.DUPLICATE: LetterState.SUPERSEDED,
                    Outcome.PARKED: LetterState.PARKED,
                }.get(outcome, LetterState.REDRIVEN)
                if state is not LetterState.PARKED:
                    self.dead_letters.resolve(letter.id, state, actor, f"redrive: {outcome}")
                return {"state": state, "outcome": outcome.value}

        try:
            return await self._with_attempts(apply)
        except NotYet as waiting:
            waited = (datetime.now(UTC) - letter.first_seen).total_seconds()
            if waited < self._wait_limit_seconds:
                await self._runner.run(self.dead_letters.waited, letter.id, f"waiting: {waiting}")
                return {"state": LetterState.PARKED, "reason": f"waiting: {waiting}"}
            reason = f"still waiting after {waited:.0f} s: {waiting}"
            await self._runner.run(self.dead_letters.still_dead, letter.id, reason, WAITING)
            return {"state": LetterState.DEAD, "reason": reason}
        except Rejected as rejection:
            await self._runner.run(
                self.dead_letters.still_dead, letter.id, rejection.reason, "Rejected"
            )
            return {"state": LetterState.DEAD, "reason": rejection.reason}

    async def retry_waiting(self) -> int:
        """Try again each message that was early (`NotYet`), with what is parked behind it;
        returns how many were applied."""
        waiting = await self._runner.run(self.dead_letters.waiting)
        applied = 0
        for letter in waiting:
            results = await self.redrive(letter.id, f"{self._service} (retry)")
            applied += sum(result["state"] == LetterState.REDRIVEN for result in results)
        return applied


def subscribe(
    consumer: Consumer, application: App, register_handlers: Callable[[Consumer, App], None]
) -> None:
    """What a service consumes as it runs: its handlers, then the events its read models project
    that no handler takes (`Consumer.subscribe_read_models`). The service, its component tests
    and the benchmarks' in-process services all subscribe through this, so none of them misses
    the read models."""
    register_handlers(consumer, application)
    consumer.subscribe_read_models()


@functools.cache
def _envelope_validator(model: type[IntegrationEvent]) -> type[BaseModel]:
    """`Envelope`'s fields, each with its rules, and a payload validated as `model` in the same
    pass over the JSON (not first into a dict, then again as `model`)."""
    fields: dict[str, Any] = {
        name: (info.annotation, info)
        for name, info in Envelope.model_fields.items()
        if name != "payload"
    }
    return create_model(
        f"{model.__name__}Envelope",
        __base__=ContractModel,  # `Envelope`'s configuration, and its text checks in Rust first
        payload=(model, ...),
        **fields,
    )


def _decode_tracked_only(
    record: ConsumerRecord[bytes, bytes], event_type: str, followed: Collection[str]
) -> _Decoded | None:
    """An event of a type no handler of the service takes (by its `event_type` header), checked
    as fully as any other (envelope and payload) in one pass: most events a service follows only
    need tracking. None when the general way must decide: the type is unknown or not read at its
    latest version, the header does not match the body, or the message is invalid (the general
    way then says what is wrong, as for any message)."""
    latest = LATEST_VERSION.get(event_type)
    if latest is None:
        return None
    try:
        fields = (
            _envelope_validator(model_for(event_type, latest))
            .model_validate_json(record.value or b"")
            .__dict__
        )
    except ValidationError:
        return None
    if (
        fields["event_type"] != event_type
        or fields["schema_version"] != latest
        or fields["aggregate_type"] not in followed
    ):
        return None
    sequence = f"{fields['producer']}:{fields['aggregate_id']}"
    version: int = fields["aggregate_version"]
    return _Decoded(
        record=record,
        sequence=sequence,
        version=version,
        payload=fields["payload"],
        context=MessageContext(
            correlation_id=fields["correlation_id"],
            causation_id=str(fields["event_id"]),
            tracking=Tracking(sequence, version),
        ),
    )


def _forget_parking(items: list[_Decoded]) -> None:
    """Before items are applied again: whether one is parked is decided again."""
    for item in items:
        item.parked_because = None


def _held(
    record: ConsumerRecord[bytes, bytes], sequence: str | None = None, version: int | None = None
) -> HeldMessage:
    return HeldMessage(
        topic=record.topic,
        partition=record.partition if record.partition >= 0 else None,
        offset=record.offset if record.offset >= 0 else None,
        key=record.key,
        value=record.value or b"",
        headers={
            name: bytes(value).decode("utf-8", errors="replace")
            for name, value in (record.headers or ())
            if value is not None
        },
        sequence=sequence,
        version=version,
    )


def _record_of(letter: Letter) -> ConsumerRecord[bytes, bytes]:
    """A kept message as the record it came in."""
    return ConsumerRecord(
        topic=letter.topic,
        partition=letter.partition if letter.partition is not None else -1,
        offset=letter.offset if letter.offset is not None else -1,
        timestamp=0,
        timestamp_type=0,
        key=letter.key,
        value=letter.value,
        checksum=None,
        serialized_key_size=len(letter.key or b""),
        serialized_value_size=len(letter.value),
        headers=[(name, value.encode()) for name, value in letter.headers.items()],
    )


def _reason(error: BaseException) -> str:
    if isinstance(error, DomainError):
        return f"rule violated: {error}"
    return f"failed: {error!r}"


def _describe(error: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(part) for part in issue['loc']) or '(message)'}: {issue['msg']}"
        for issue in error.errors()[:10]
    ]
    return "; ".join(problems)
