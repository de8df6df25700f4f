"""Traceability's inbox fed records directly, its read models in memory: a serialized unit's
whole life, published by five services, leaves through the consumer the rows its projections
make, once however often each event arrives; a forgotten customer is dropped from the orders; what
does not fit is set aside with its reason."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest

from contracts.base import IntegrationEvent
from contracts.envelope import Envelope
from contracts.order import CustomerForgotten
from contracts.topics import events_topic
from services.runtime.consumer import Outcome
from services.runtime.privacy import ERASED
from services.runtime.projections import InMemoryReadModels
from services.traceability.application import TraceabilityApplication
from services.traceability.handlers import register_handlers
from services.traceability.projections import EVENTS, ORDERS, UNITS, project
from tests.component.inbox import Inbox, inbox_of
from tests.unit.traceability.test_traceability_projections import (
    FIRST_ORDER,
    Story,
    model_of,
    unit_life,
)


@pytest.fixture
def inbox() -> Iterator[Inbox[TraceabilityApplication]]:
    with inbox_of("traceability", TraceabilityApplication(None), register_handlers) as box:
        yield box


def published(story: Story) -> list[tuple[Envelope, IntegrationEvent]]:
    """The story's events as their producers publish them: each numbers its own aggregates'
    versions (a parcel is the warehouse adapter's aggregate and shipping's)."""
    versions: Counter[tuple[str, uuid.UUID]] = Counter()
    events = []
    for envelope, event in story.envelopes:
        versions[envelope.producer, envelope.aggregate_id] += 1
        version = versions[envelope.producer, envelope.aggregate_id]
        events.append((envelope.model_copy(update={"aggregate_version": version}), event))
    return events


def messages(events: list[tuple[Envelope, IntegrationEvent]]) -> list[tuple[str, bytes]]:
    """On their producers' topics, as their relays write them."""
    return [
        (events_topic(envelope.producer).name, envelope.model_dump_json().encode())
        for envelope, _ in events
    ]


def projected(events: list[tuple[Envelope, IntegrationEvent]]) -> InMemoryReadModels:
    """The rows the projections make of these events."""
    return model_of([project(envelope, event) for envelope, event in events])


async def test_a_units_life_leaves_the_rows_its_projections_make_once(
    inbox: Inbox[TraceabilityApplication],
) -> None:
    events = published(unit_life())
    life = messages(events)
    assert await inbox.send_batch(*life) == [Outcome.APPLIED] * len(life)
    assert inbox.read_models.tables == projected(events).tables
    assert len(inbox.read_models.rows(EVENTS.name)) == len(life)

    again = await inbox.send_batch(*life[::2])
    assert again == [Outcome.DUPLICATE] * len(again)
    assert inbox.read_models.tables == projected(events).tables
    ((unit, *_),) = [[u for u in inbox.read_models.rows(UNITS.name) if u["serial"] == "SN-1"]]
    assert (unit["batch"], unit["received_location"]) == ("B1", "WH-A")
    assert inbox.dead_letters == []


async def test_a_forgotten_customer_is_dropped_from_the_orders_and_the_rest_stays(
    inbox: Inbox[TraceabilityApplication],
) -> None:
    await inbox.send_batch(*messages(published(unit_life())))
    orders = {row["customer_id"]: row for row in inbox.read_models.rows(ORDERS.name)}
    assert orders["Ada"]["customer_name"] == "Ada"

    forgotten = CustomerForgotten(customer_id="Ada", actor="admin")
    envelope = Envelope.of(
        forgotten,
        producer="order",
        aggregate_id=uuid.uuid4(),
        aggregate_version=1,
        occurred_at=unit_life().envelopes[-1][0].occurred_at,
        correlation_id="erasure",
    )
    assert await inbox.send("order.events.v1", envelope.model_dump_json().encode()) is (
        Outcome.APPLIED
    )

    orders = {row["customer_id"]: row for row in inbox.read_models.rows(ORDERS.name)}
    assert [orders["Ada"][field] for field in ("customer_name", "customer_email", "ship_to")] == [
        ERASED
    ] * 3
    assert orders["Bob"]["customer_name"] == "Bob"
    assert orders["Ada"]["order_id"] == FIRST_ORDER


async def test_what_does_not_fit_is_set_aside_with_its_reason_and_the_rest_goes_on(
    inbox: Inbox[TraceabilityApplication],
) -> None:
    ((topic, first), *_) = messages(published(unit_life()))
    broken = json.loads(first)
    broken["payload"]["quantity"] = "two"
    outcomes = await inbox.send_batch(
        (topic, b"{not json"),
        (topic, json.dumps(broken).encode()),
        (topic, first),
    )

    assert outcomes == [Outcome.DEAD_LETTERED, Outcome.DEAD_LETTERED, Outcome.APPLIED]
    (not_json, not_a_number) = inbox.reasons
    assert not_json.startswith("invalid envelope: (message): Invalid JSON")
    assert not_a_number.startswith("invalid StockReceived payload: quantity:")
    assert len(inbox.read_models.rows(EVENTS.name)) == 1
