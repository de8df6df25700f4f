"""Tracked consumption: at-least-once delivery, exactly-once effects.

For every message a service consumes:
- undecodable or schema-invalid input goes to the service's dead-letter topic with the reason and the
  original bytes, and the partition moves on;
- an integration event is recognised by its source identity (producer, aggregate id, version), not by
  Kafka offsets (the embedded broker restarts empty, offsets restart with it): a repeat is skipped,
  a version gap is never applied;
- the handler's new events and the record that the message was consumed commit in one transaction,
  and the Kafka offset is committed only after that;
- a failing handler is tried a bounded number of times, then dead-lettered; a business rule violation
  (`DomainError`) is dead-lettered at once; an infrastructure outage is not dead-lettered at all: the
  message is redelivered until the database or broker is back.
"""

from __future__ import annotations

import asyncio
import enum
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
import structlog
from aiokafka import ConsumerRecord
from eventsourcing.persistence import IntegrityError, PersistenceError, Tracking
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import BaseModel, ValidationError

from contracts.base import IntegrationEvent
from contracts.envelope import Envelope
from contracts.registry import UnknownEventType, model_for
from contracts.topics import Topic, dead_letter_topic, events_topic
from services.runtime.aggregate import DomainError
from services.runtime.context import MessageContext, handling
from services.runtime.eventstore import BlockingRunner, ServiceApplication
from services.runtime.kafka import header_value

log = structlog.get_logger(__name__)

E = TypeVar("E", bound=IntegrationEvent)
M = TypeVar("M", bound=BaseModel)

INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    StoreOperationalError,
    StoreInterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    ConnectionError,
    TimeoutError,
)
MAX_CONFLICT_RETRIES = 50


class Outcome(enum.StrEnum):
    APPLIED = "applied"
    TRACKED = "tracked"
    DUPLICATE = "duplicate"
    NOT_FOLLOWED = "not-followed"
    DEAD_LETTERED = "dead-lettered"


class VersionGap(Exception):
    """An event arrived before an earlier version of its aggregate; it is not applied."""


class ConcurrencyConflict(Exception):
    """The aggregates kept changing underneath the handler."""


class Rejected(Exception):
    """Input that no retry can fix; it goes to the dead-letter topic with this reason."""


EventHandler = Callable[[Any, Envelope], None]
MessageHandler = Callable[[Any], None]


@dataclass(frozen=True)
class _MessageRoute:
    model: type[BaseModel]
    handler: MessageHandler
    correlation_id: Callable[[Any], str]
    causation_id: Callable[[Any], str]


class Consumer:
    """The inbox of one service: which topics it reads and which use case each message calls.

    Handlers are plain functions that call the application once; they run on a worker thread
    (the event store blocks) inside the message's unit of work.
    """

    def __init__(
        self,
        *,
        service_name: str,
        application: ServiceApplication,
        runner: BlockingRunner,
        publish: Callable[..., Awaitable[Any]],
        attempts: int,
        session_timeout_ms: int = 10_000,
        fetch_max_wait_ms: int = 50,
    ) -> None:
        self._service = service_name
        self._session_timeout_ms = session_timeout_ms
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._application = application
        self._runner = runner
        self._publish = publish
        self._attempts = attempts
        self._event_routes: dict[str, dict[type[IntegrationEvent], EventHandler]] = {}
        self._message_routes: dict[str, _MessageRoute] = {}
        self._followed: dict[str, set[str]] = {}
        self.dead_letter_topic = dead_letter_topic(service_name).name

    # -- registration -------------------------------------------------------------------------

    def on_event(
        self, model: type[E], *, producer: str
    ) -> Callable[[Callable[[E, Envelope], None]], Callable[[E, Envelope], None]]:
        """Call the decorated function for each `model` event published by `producer`."""

        def register(handler: Callable[[E, Envelope], None]) -> Callable[[E, Envelope], None]:
            topic = events_topic(producer).name
            self._event_routes.setdefault(topic, {})[model] = handler
            self._followed.setdefault(topic, set()).add(model.aggregate_type)
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

    def handles(self, model: type[IntegrationEvent], *, producer: str) -> bool:
        """Whether a handler is registered for `model` events of `producer`."""
        return model in self._event_routes.get(events_topic(producer).name, {})

    @property
    def topics(self) -> list[str]:
        return sorted({*self._event_routes, *self._message_routes})

    def subscribe(self, broker: KafkaBroker) -> None:
        """Attach one group member for all topics; offsets are committed after a message is handled.

        One member, not one per topic: members of one group with different subscriptions make the
        group rebalance back and forth at every start.
        """
        if not self.topics:
            return

        async def consume(message: KafkaMessage) -> None:
            await self.handle(message.raw_message)

        broker.subscriber(
            *self.topics,
            group_id=self._service,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            session_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=max(100, self._session_timeout_ms // 5),
            fetch_max_wait_ms=self._fetch_max_wait_ms,
        )(consume)

    # -- handling -----------------------------------------------------------------------------

    async def handle(self, record: ConsumerRecord[bytes, bytes]) -> Outcome:
        """Handle one consumed record, whatever it holds; raises only on infrastructure outages."""
        structlog.contextvars.clear_contextvars()
        try:
            if record.topic in self._message_routes:
                outcome = await self._handle_message(record, self._message_routes[record.topic])
            else:
                outcome = await self._handle_event(record)
        except Rejected as rejection:
            await self._dead_letter(record, str(rejection), type(rejection.__cause__ or rejection))
            outcome = Outcome.DEAD_LETTERED
        log.info(
            "message handled",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            outcome=str(outcome),
        )
        return outcome

    async def _handle_event(self, record: ConsumerRecord[bytes, bytes]) -> Outcome:
        try:
            envelope = Envelope.model_validate_json(record.value or b"")
        except ValidationError as error:
            raise Rejected(f"invalid envelope: {_describe(error)}") from error
        structlog.contextvars.bind_contextvars(
            correlation_id=envelope.correlation_id, event_type=envelope.event_type
        )
        if envelope.aggregate_type not in self._followed.get(record.topic, set()):
            return Outcome.NOT_FOLLOWED
        try:
            model = model_for(envelope.event_type, envelope.schema_version)
            payload = model.model_validate(envelope.payload)
        except UnknownEventType as error:
            raise Rejected(str(error)) from error
        except ValidationError as error:
            raise Rejected(f"invalid {envelope.event_type} payload: {_describe(error)}") from error
        handler = self._event_routes[record.topic].get(model)
        return await self._with_attempts(lambda: self._apply_event(envelope, payload, handler))

    async def _handle_message(
        self, record: ConsumerRecord[bytes, bytes], route: _MessageRoute
    ) -> Outcome:
        try:
            data = json.loads(record.value or b"")
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise Rejected(f"not valid JSON: {error}") from error
        try:
            message = route.model.model_validate(data)
        except ValidationError as error:
            raise Rejected(f"schema violation: {_describe(error)}") from error
        correlation_id = header_value(record.headers, "correlation_id") or route.correlation_id(
            message
        )
        structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
        context = MessageContext(
            correlation_id=correlation_id, causation_id=route.causation_id(message)
        )
        return await self._with_attempts(
            lambda: self._apply_message(context, route.handler, message)
        )

    def _apply_event(
        self, envelope: Envelope, payload: IntegrationEvent, handler: EventHandler | None
    ) -> Outcome:
        recorder = self._application.process_recorder
        source = f"{envelope.producer}:{envelope.aggregate_id}"
        for _ in range(MAX_CONFLICT_RETRIES):
            last = recorder.max_tracking_id(source) or 0
            if envelope.aggregate_version <= last:
                return Outcome.DUPLICATE
            if envelope.aggregate_version != last + 1:
                raise VersionGap(
                    f"{envelope.event_type} is version {envelope.aggregate_version} of "
                    f"{source}, but the last applied version is {last}"
                )
            context = MessageContext(
                correlation_id=envelope.correlation_id,
                causation_id=str(envelope.event_id),
                tracking=Tracking(source, envelope.aggregate_version),
            )
            with handling(context):
                try:
                    if handler is not None:
                        handler(payload, envelope)
                    if not context.tracking_recorded:
                        assert context.tracking is not None
                        recorder.insert_tracking(context.tracking)
                except IntegrityError:
                    continue  # someone else wrote first: re-read and decide again
            return Outcome.APPLIED if handler is not None else Outcome.TRACKED
        raise ConcurrencyConflict(f"gave up on {source} after {MAX_CONFLICT_RETRIES} conflicts")

    @staticmethod
    def _apply_message(context: MessageContext, handler: MessageHandler, message: Any) -> Outcome:
        for _ in range(MAX_CONFLICT_RETRIES):
            with handling(MessageContext(context.correlation_id, context.causation_id)):
                try:
                    handler(message)
                except IntegrityError:
                    continue
            return Outcome.APPLIED
        raise ConcurrencyConflict(f"gave up after {MAX_CONFLICT_RETRIES} conflicts")

    async def _with_attempts(self, apply: Callable[[], Outcome]) -> Outcome:
        last_error: BaseException | None = None
        for attempt in range(1, self._attempts + 1):
            try:
                return await self._runner.run(apply)
            except INFRASTRUCTURE_ERRORS as error:
                # Not the message's fault: back off, then let the broker redeliver it.
                log.warning("infrastructure unavailable, will redeliver", error=repr(error))
                await asyncio.sleep(1.0)
                raise
            except DomainError as error:
                raise Rejected(f"rule violated: {error}") from error
            except (PersistenceError, VersionGap, ConcurrencyConflict, Exception) as error:
                last_error = error
                log.warning("handler failed", attempt=attempt, error=repr(error))
                await asyncio.sleep(0.05 * 2**attempt)
        raise Rejected(f"failed after {self._attempts} attempts: {last_error!r}") from last_error

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], reason: str, error_type: type[BaseException]
    ) -> None:
        log.error(
            "message dead-lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason,
        )
        await self._publish(
            record.value or b"",
            topic=self.dead_letter_topic,
            key=record.key,
            headers={
                "error": reason[:4000],
                "error-type": error_type.__name__,
                "source-topic": record.topic,
                "source-partition": str(record.partition),
                "source-offset": str(record.offset),
                "consumer": self._service,
            },
        )


def _describe(error: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(part) for part in issue['loc']) or '(message)'}: {issue['msg']}"
        for issue in error.errors()[:10]
    ]
    return "; ".join(problems)
