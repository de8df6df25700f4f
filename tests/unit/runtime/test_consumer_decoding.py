"""A consumer decodes an event no handler of its service takes (most of what it follows) in one
pass, routed by the `event_type` header, and ends with exactly what the general way gives: the
same source, version, payload and context, and the same dead letter for anything invalid."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from contracts.base import IntegrationEvent
from contracts.registry import EVENT_MODELS, LATEST_VERSION
from services.runtime.consumer import Consumer, Rejected, _Decoded
from services.runtime.eventstore import BlockingRunner, ServiceApplication
from tests.component.inbox import record

EXAMPLES = Path(__file__).parents[3] / "contracts" / "examples"
MODELS = {model.event_type: model for model in EVENT_MODELS}


def _event_examples() -> list[dict[str, Any]]:
    examples = [json.loads(path.read_text()) for path in sorted(EXAMPLES.glob("*.json"))]
    return [
        example
        for example in examples
        if example["headers"].get("event_type") in MODELS
        and example["payload"]["schema_version"] == LATEST_VERSION[example["payload"]["event_type"]]
    ]


EVENTS = _event_examples()


@pytest.fixture
def consumer() -> Iterator[Consumer]:
    """A consumer following every aggregate kind of every producer, with no handler at all."""
    runner = BlockingRunner(workers=1)

    async def publish(*_: Any, **__: Any) -> None:
        return None

    consumer = Consumer(
        service_name="reader",
        application=ServiceApplication(None),
        runner=runner,
        publish=publish,
        attempts=1,
    )
    for example in EVENTS:
        topic = example["topic"]
        consumer._followed.setdefault(topic, set()).add(example["payload"]["aggregate_type"])
        consumer._event_routes.setdefault(topic, {})
    try:
        yield consumer
    finally:
        runner.shutdown()


def _record(
    example: dict[str, Any], *, envelope: dict[str, Any] | None = None, **headers: str
) -> ConsumerRecord[bytes, bytes]:
    value = json.dumps(envelope or example["payload"]).encode()
    all_headers = {**example["headers"], **headers}
    return record(
        example["topic"],
        value,
        headers=[(name, text.encode()) for name, text in all_headers.items() if text],
    )


def _general(consumer: Consumer, record_: ConsumerRecord[bytes, bytes]) -> _Decoded | None:
    """The general way: what a record without an `event_type` header gets."""
    headers = [(name, value) for name, value in record_.headers if name != "event_type"]
    return consumer._decode(dataclasses.replace(record_, headers=headers))


def _essentials(decoded: _Decoded | None) -> tuple[Any, ...] | None:
    if decoded is None:
        return None
    assert decoded.context is not None
    return (
        decoded.sequence,
        decoded.version,
        decoded.payload,
        type(decoded.payload),
        decoded.event_handler,
        decoded.context.correlation_id,
        decoded.context.causation_id,
        decoded.context.tracking,
    )


def test_the_examples_cover_events_of_every_producer() -> None:
    assert {example["payload"]["producer"] for example in EVENTS} >= {
        "order",
        "inventory",
        "warehouse_adapter",
        "shipping",
        "pim",
    }


@pytest.mark.parametrize("example", EVENTS, ids=lambda example: example["headers"]["event_type"])
def test_an_event_without_a_handler_decodes_as_the_general_way_does(
    consumer: Consumer, example: dict[str, Any]
) -> None:
    consumed = _record(example)
    decoded = consumer._decode(consumed)
    assert decoded is not None
    assert decoded.envelope is None  # the one-pass way: no handler needs the envelope
    assert isinstance(decoded.payload, IntegrationEvent)
    assert _essentials(decoded) == _essentials(_general(consumer, consumed))


def test_an_invalid_payload_is_rejected_with_the_general_way_s_reason(consumer: Consumer) -> None:
    example = next(example for example in EVENTS if example["headers"]["event_type"] == "OrderPaid")
    broken = json.loads(json.dumps(example["payload"]))
    broken["payload"]["lines"] = "not a list"
    consumed = _record(example, envelope=broken)
    with pytest.raises(Rejected) as one_pass:
        consumer._decode(consumed)
    with pytest.raises(Rejected) as general:
        _general(consumer, consumed)
    assert one_pass.value.reason == general.value.reason
    assert one_pass.value.reason.startswith("invalid OrderPaid payload: lines")


def test_an_invalid_envelope_is_rejected_with_the_general_way_s_reason(consumer: Consumer) -> None:
    example = EVENTS[0]
    broken = {**example["payload"], "aggregate_version": 0}
    consumed = _record(example, envelope=broken)
    with pytest.raises(Rejected) as one_pass:
        consumer._decode(consumed)
    with pytest.raises(Rejected) as general:
        _general(consumer, consumed)
    assert one_pass.value.reason == general.value.reason
    assert one_pass.value.reason.startswith("invalid envelope: aggregate_version")


def test_a_header_that_names_another_type_changes_nothing(consumer: Consumer) -> None:
    example = next(example for example in EVENTS if example["headers"]["event_type"] == "OrderPaid")
    consumed = _record(example, event_type="OrderPlaced")
    decoded = consumer._decode(consumed)
    assert decoded is not None
    assert type(decoded.payload) is MODELS["OrderPaid"]
    assert _essentials(decoded) == _essentials(_general(consumer, consumed))


def test_an_event_with_a_handler_is_decoded_with_its_envelope(consumer: Consumer) -> None:
    example = next(example for example in EVENTS if example["headers"]["event_type"] == "OrderPaid")
    handler = consumer.on_event(MODELS["OrderPaid"], producer="order")(lambda event, envelope: None)
    decoded = consumer._decode(_record(example))
    assert decoded is not None
    assert decoded.envelope is not None
    assert decoded.envelope.event_type == "OrderPaid"
    assert decoded.event_handler is handler
