"""A service's consumer fed records directly, on the store's in-memory recorders: the component
layer, with the application's read models in memory. Every consuming service's component tests
use it; the same behaviour is proven against a real broker and Postgres in `tests/integration`."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from aiokafka import ConsumerRecord

from contracts.pim import ProductRegistered
from services.runtime.consumer import Consumer, Outcome, subscribe
from services.runtime.eventstore import BlockingRunner, ServiceApplication
from services.runtime.projections import InMemoryReadModels
from tests.integration.harness import published

App = TypeVar("App", bound=ServiceApplication)


def record(
    topic: str,
    value: bytes,
    offset: int = 0,
    key: str = "k",
    headers: list[tuple[str, bytes]] | None = None,
) -> ConsumerRecord[bytes, bytes]:
    """A record as the broker hands it to a consumer."""
    return ConsumerRecord(
        topic=topic,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key.encode(),
        value=value,
        checksum=None,
        serialized_key_size=len(key),
        serialized_value_size=len(value),
        headers=headers or [],
    )


@dataclass
class Inbox(Generic[App]):
    """A service's consumer, its application in memory, and what it dead-lettered."""

    application: App
    consumer: Consumer = field(init=False)
    dead_letters: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)

    async def send(self, topic: str, value: bytes, key: str = "k") -> Outcome:
        (outcome,) = await self.consumer.handle_batch([record(topic, value, key=key)])
        return outcome

    async def send_batch(self, *messages: tuple[str, bytes]) -> list[Outcome]:
        records = [record(topic, value, offset) for offset, (topic, value) in enumerate(messages)]
        return await self.consumer.handle_batch(records)

    async def publish(
        self, value: bytes, *, topic: str, key: bytes | None, headers: dict[str, str]
    ) -> None:
        assert topic == self.consumer.dead_letter_topic
        self.dead_letters.append((value, headers))

    @property
    def read_models(self) -> InMemoryReadModels:
        """The application's read models, in memory."""
        read_models = self.application.read_models_in_memory
        assert read_models is not None, "the application declares no read models"
        return read_models

    @property
    def reasons(self) -> list[str]:
        """Why each dead letter was set aside, in order."""
        return [headers["error"] for _, headers in self.dead_letters]


def product_registered(sku: str) -> bytes:
    """The PIM's registration of a serialized product, as its relay publishes it."""
    product_id = uuid.uuid5(uuid.NAMESPACE_URL, sku)
    payload = ProductRegistered(
        product_id=product_id,
        sku=sku,
        name=f"Product {sku}",
        weight_grams=1800,
        lithium_ion=True,
        serialized=True,
        warranty_months=24,
    )
    return published(payload, producer="pim", aggregate_id=product_id, version=1)


@contextmanager
def inbox_of(
    service: str, application: App, register_handlers: Callable[[Consumer, App], None]
) -> Iterator[Inbox[App]]:
    """`service`'s consumer over `application` (an in-memory store), with its handlers, trying a
    failing message twice before dead-lettering it."""
    runner = BlockingRunner(workers=2)
    inbox = Inbox(application)
    inbox.consumer = Consumer(
        service_name=service,
        application=application,
        runner=runner,
        publish=inbox.publish,
        attempts=2,
    )
    subscribe(inbox.consumer, application, register_handlers)
    try:
        yield inbox
    finally:
        runner.shutdown()
