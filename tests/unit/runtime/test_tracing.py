"""Tracing: off by default (no span, nothing stored, no header); on, a handled message's span is a
child of its `traceparent`, and what it records carries the span into the store and onto the
relay's message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.inventory import translators
from services.inventory.application import InventoryApplication
from services.inventory.config import InventorySettings
from services.inventory.domain import Receipt, SalesChannels
from services.runtime import tracing
from services.runtime.relay_messages import message_for

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
RECEIPT = Receipt(location="WH-A", quantity=1, reason="initial-count", actor="test")


def record(headers: list[tuple[str, bytes]]) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="order.events.v1",
        partition=2,
        offset=7,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=b"{}",
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=2,
        headers=headers,
    )


def stored_states(inventory: InventoryApplication) -> list[dict[str, Any]]:
    notifications = inventory.recorder.select_notifications(start=1, limit=100)
    return [json.loads(notification.state) for notification in notifications]


def received_message(inventory: InventoryApplication) -> dict[str, bytes]:
    stock_id = inventory.receive_stock("TRACE-1", RECEIPT)
    event = list(inventory.repository.event_store.get(stock_id))[-1]
    return dict(message_for("inventory", event, translators.to_contract(event)).headers)


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert tracing.configure("inventory", None, exporter=exporter)
    try:
        yield exporter
    finally:
        tracing.shutdown()


def test_tracing_is_off_unless_an_endpoint_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNITRAIL_OTLP_ENDPOINT", raising=False)
    settings = InventorySettings()
    assert settings.otlp_endpoint is None
    assert not tracing.configure(settings.service_name, settings.otlp_endpoint)
    assert not tracing.enabled()
    traced = record([("traceparent", f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01".encode())])
    with tracing.consuming("inventory", traced), tracing.relay_batch("t", ["x"], 1):
        assert not trace.get_current_span().get_span_context().is_valid
        assert tracing.current_traceparent() is None
        inventory = InventoryApplication(None, SalesChannels(buffers=()))
        headers = received_message(inventory)
    assert "traceparent" not in headers
    assert all("traceparent" not in state for state in stored_states(inventory))


def test_a_handled_message_continues_its_trace_into_the_store_and_onto_the_next_message(
    exported: InMemorySpanExporter,
) -> None:
    inventory = InventoryApplication(None, SalesChannels(buffers=()))
    traced = record([("traceparent", f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01".encode())])

    with tracing.consuming("inventory", traced):
        span = trace.get_current_span().get_span_context()
        headers = received_message(inventory)
    traceparent = f"00-{TRACE_ID}-{span.span_id:016x}-01"

    assert headers["traceparent"] == traceparent.encode()
    assert {state.get("traceparent") for state in stored_states(inventory)} == {traceparent}
    tracing.shutdown()  # flushes
    (handled,) = exported.get_finished_spans()
    assert handled.name == "process order.events.v1"
    assert handled.kind is trace.SpanKind.CONSUMER
    assert handled.parent is not None
    assert f"{handled.parent.span_id:016x}" == PARENT_SPAN_ID
    assert f"{handled.context.trace_id:032x}" == TRACE_ID
    assert handled.attributes is not None
    assert handled.attributes["messaging.kafka.offset"] == 7


def test_a_relay_batch_is_a_child_of_its_first_traced_event_and_links_the_others(
    exported: InMemorySpanExporter,
) -> None:
    first = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"
    other = f"00-{'1' * 32}-{'2' * 16}-01"
    with tracing.relay_batch("inventory.events.v1", [None, first, other, first], 4):
        pass
    tracing.shutdown()
    (published,) = exported.get_finished_spans()
    assert published.kind is trace.SpanKind.PRODUCER
    assert published.parent is not None
    assert f"{published.parent.span_id:016x}" == PARENT_SPAN_ID
    assert [f"{link.context.trace_id:032x}" for link in published.links] == ["1" * 32]
    assert published.attributes is not None
    assert published.attributes["messaging.batch.message_count"] == 4


def test_an_untraced_batch_starts_a_trace_of_its_own(exported: InMemorySpanExporter) -> None:
    with tracing.relay_batch("inventory.events.v1", [None], 1):
        assert tracing.current_traceparent() is not None
    tracing.shutdown()
    (published,) = exported.get_finished_spans()
    assert published.parent is None


def test_an_http_request_continues_the_callers_trace_and_answers_with_its_own(
    exported: InMemorySpanExporter,
) -> None:
    app = FastAPI()
    app.add_middleware(tracing.TracingMiddleware)

    @app.get("/orders/{order_id}")
    def order(order_id: str) -> dict[str, str | None]:
        return {"order_id": order_id, "traceparent": tracing.current_traceparent()}

    with TestClient(app) as client:
        reply = client.get(
            "/orders/7", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"}
        )
    tracing.shutdown()
    (served,) = exported.get_finished_spans()
    answered_by = f"00-{TRACE_ID}-{served.context.span_id:016x}-01"
    assert reply.headers["traceparent"] == answered_by
    assert reply.json()["traceparent"] == answered_by  # current in the endpoint
    assert served.kind is trace.SpanKind.SERVER
    assert served.parent is not None
    assert f"{served.parent.span_id:016x}" == PARENT_SPAN_ID
    assert served.attributes is not None
    assert served.attributes["http.response.status_code"] == 200
