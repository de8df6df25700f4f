"""Tracing across hops: one channel order is one trace through order and inventory, parented
across each Kafka hop, exported over OTLP/HTTP to a receiver of the test's own."""

from __future__ import annotations

import gzip
import secrets
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from contracts.channel import order_id_for
from tests.integration.harness import (
    Channel,
    Services,
    Topics,
    channel_order,
    eventually,
)

pytestmark = pytest.mark.integration

CONSUMER, PRODUCER, SERVER = 5, 4, 2
"""`Span.SpanKind` numbers of the OTLP protocol."""


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, str]


class OtlpReceiver:
    """An OTLP/HTTP trace receiver: decodes every export request's protobuf and keeps its spans."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.keep(self.path, self.headers.get("Content-Type", ""), body)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def keep(self, path: str, content_type: str, body: bytes) -> None:
        assert path == "/v1/traces"
        assert content_type == "application/x-protobuf"
        request = ExportTraceServiceRequest.FromString(body)
        spans: list[ReceivedSpan] = []
        for resource_spans in request.resource_spans:
            resource = {
                attribute.key: attribute.value.string_value
                for attribute in resource_spans.resource.attributes
            }
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        ReceivedSpan(
                            service=resource["service.name"],
                            name=span.name,
                            kind=span.kind,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes={
                                attribute.key: attribute.value.string_value
                                for attribute in span.attributes
                            },
                        )
                    )
        with self._lock:
            self.spans.extend(spans)
            self.requests += 1

    def of_trace(self, trace_id: str) -> list[ReceivedSpan]:
        with self._lock:
            return [span for span in self.spans if span.trace_id == trace_id]

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    """Tracing on for every service the test starts, exported to the test's receiver at once."""
    with OtlpReceiver() as receiver:
        monkeypatch.setenv("UNITRAIL_OTLP_ENDPOINT", receiver.endpoint)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")
        yield receiver


def test_a_channel_order_is_one_trace_across_order_inventory_and_their_relays(
    receiver: OtlpReceiver, services: Services, channel: Channel, topic: Topics
) -> None:
    order, inventory = services("order", "inventory")
    inventory.receive_stock("LAPTOP-14", "WH-A", 5)
    orders_topic = topic("order.events.v1")
    # The channel's connector started the trace: its span is the root.
    trace_id, root_span_id = secrets.token_hex(16), secrets.token_hex(8)

    channel.send(
        channel_order("3001", lines=[("LAPTOP-14", 1)]),
        headers={"traceparent": f"00-{trace_id}-{root_span_id}-01"},
    )

    eventually(lambda: orders_topic.events("OrderAllocated"), timeout=60, what="OrderAllocated")
    # The relay wrote each event's trace on its message.
    for record in orders_topic.poll():
        assert record.headers["traceparent"].split("-")[1] == trace_id, record.headers

    def hop_spans() -> list[ReceivedSpan] | None:
        spans = receiver.of_trace(trace_id)
        wanted = {
            ("order", CONSUMER, "process channel.orders.v1"),
            ("order", PRODUCER, "publish order.events.v1"),
            ("inventory", CONSUMER, "process order.events.v1"),
            ("inventory", PRODUCER, "publish inventory.events.v1"),
            ("order", CONSUMER, "process inventory.events.v1"),
        }
        # Every span's parent arrived too (each service exports on its own clock).
        known = {root_span_id, *(span.span_id for span in spans)}
        complete = all(span.parent_span_id in known for span in spans)
        found = {(span.service, span.kind, span.name) for span in spans}
        return spans if complete and wanted <= found else None

    spans = eventually(
        hop_spans, timeout=60, what="the order's spans from both services and both relays"
    )
    by_id = {span.span_id: span for span in spans}
    intake = next(span for span in spans if span.name == "process channel.orders.v1")
    assert intake.parent_span_id == root_span_id
    # Across each Kafka hop, a consumer's span is the child of the span that recorded the event
    # it handles, in the other service.
    reserving = [
        span
        for span in spans
        if span.service == "inventory" and span.name == "process order.events.v1"
    ]
    assert reserving
    for span in reserving:
        assert by_id[span.parent_span_id].service == "order"
    allocating = [
        span
        for span in spans
        if span.service == "order" and span.name == "process inventory.events.v1"
    ]
    assert any(by_id[span.parent_span_id].service == "inventory" for span in allocating)
    # A relay batch's span is a child of an event's span in the batch.
    for span in spans:
        if span.kind == PRODUCER:
            assert by_id[span.parent_span_id].service == span.service

    # The HTTP edge continues a caller's trace, and says which span answered.
    caller_trace, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    order_id = order_id_for("webshop", "3001")
    request = urllib.request.Request(
        f"{order.url}/orders/{order_id}",
        headers=order.authorization(None) | {"traceparent": f"00-{caller_trace}-{caller_span}-01"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        answered_by = reply.headers["traceparent"]
    assert answered_by.split("-")[1] == caller_trace
    served = eventually(lambda: receiver.of_trace(caller_trace), what="the request's span")
    assert [(span.service, span.kind, span.parent_span_id) for span in served] == [
        ("order", SERVER, caller_span)
    ]
    assert served[0].span_id == answered_by.split("-")[2]
