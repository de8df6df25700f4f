"""Tracing across hops, with OpenTelemetry: optional, off unless an OTLP endpoint is set.

With `UNITRAIL_OTLP_ENDPOINT` set (an OTLP/HTTP collector's base URL, e.g.
`http://127.0.0.1:4318`), a service exports spans there:

- the HTTP edge continues the caller's W3C `traceparent` header (or starts a trace) with a server
  span per request (`TracingMiddleware`), and a service asking another one over HTTP (a
  customer's key) sends its current `traceparent` along (`propagation_headers`);
- a consumer starts a span per handled message, a child of the `traceparent` header of the message
  (`consuming`);
- what a request or a handler records carries the trace it was recorded in into the store: the
  mapper keeps the current `traceparent` beside the event's fields (`stamp`), so the stored event
  says where it came from without a field of its own (events stored without it read as before);
- the relay writes that `traceparent` header on the message it publishes for the event, and a span
  per batch it publishes (`relay_batch`), a child of the first traced event of the batch, linked
  to the others.

So a channel order is one trace through order, inventory and on, parented across each Kafka hop.
Off (the default), nothing here makes a span or imports the SDK: each hook is one test of a module
variable.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Link, Tracer

TRACEPARENT = "traceparent"
"""The W3C Trace Context header, in Kafka headers and HTTP, and the stored events' key for it."""

TRACES_PATH = "/v1/traces"
"""Where under an OTLP/HTTP endpoint spans are sent (as `OTEL_EXPORTER_OTLP_ENDPOINT` reads)."""

MAX_LINKS = 64
"""Traced events a relay batch's span links at most (a full page may hold hundreds)."""

_tracer: Tracer | None = None
_provider: TracerProvider | None = None


def configure(
    service_name: str, endpoint: str | None, *, exporter: SpanExporter | None = None
) -> bool:
    """Export this process's spans to the OTLP/HTTP collector at `endpoint` (or to `exporter`,
    for tests); with neither, tracing stays off. Returns whether it is on."""
    global _tracer, _provider
    if not endpoint and exporter is None:
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        assert endpoint is not None
        exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + TRACES_PATH)
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    # Spans are sent from a thread of their own, in batches (`OTEL_BSP_*` tune it).
    provider.add_span_processor(BatchSpanProcessor(exporter))
    _provider = provider
    _tracer = provider.get_tracer("unitrail")
    return True


def shutdown() -> None:
    """Send what is still buffered and stop exporting (the service stops)."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer = _provider = None


def enabled() -> bool:
    return _tracer is not None


def current_traceparent() -> str | None:
    """The `traceparent` of the current span; None when tracing is off or no span is current."""
    if _tracer is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def propagation_headers() -> dict[str, str]:
    """Headers that carry the current trace on an outgoing HTTP request (a service asking another
    one): none when tracing is off or no span is current."""
    traceparent = current_traceparent()
    return {TRACEPARENT: traceparent} if traceparent else {}


def stamp(domain_event: Any) -> None:
    """Keep the current trace beside a domain event's fields as it is stored (nothing when
    tracing is off, no span is current, or the event has one already)."""
    if _tracer is None or TRACEPARENT in vars(domain_event):
        return
    traceparent = current_traceparent()
    if traceparent is not None:
        # Events are frozen: the trace is where the event came from, not a fact of it.
        object.__setattr__(domain_event, TRACEPARENT, traceparent)


def traceparent_of(domain_event: Any) -> str | None:
    """The trace a stored event was recorded in, if it was traced."""
    value = vars(domain_event).get(TRACEPARENT)
    return value if isinstance(value, str) else None


def _parent(traceparent: str | None) -> Context | None:
    if not traceparent:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract({TRACEPARENT: traceparent})


def _header(headers: Sequence[tuple[str, bytes]] | None, name: str) -> str | None:
    for key, value in headers or ():
        if key == name and value is not None:
            return bytes(value).decode("ascii", errors="replace")
    return None


_OFF: contextlib.nullcontext[None] = contextlib.nullcontext()
"""What the hooks return when tracing is off: one object, entered and left at no cost."""


def consuming(service: str, record: Any) -> contextlib.AbstractContextManager[None]:
    """A consumer span around handling one consumed record (an aiokafka `ConsumerRecord`), a
    child of its `traceparent` header."""
    return _OFF if _tracer is None else _consuming(service, record)


def relay_batch(
    topic: str, traceparents: Iterable[str | None], count: int
) -> contextlib.AbstractContextManager[None]:
    """A producer span around publishing one relay batch of `count` events: a child of the first
    traced event in it, linked to the others' traces (a batch holds many flows)."""
    return _OFF if _tracer is None else _relay_batch(topic, traceparents, count)


@contextlib.contextmanager
def _consuming(service: str, record: Any) -> Iterator[None]:
    assert _tracer is not None
    from opentelemetry.trace import SpanKind

    headers = record.headers
    attributes: dict[str, Any] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": record.topic,
        "messaging.consumer.group.name": service,
        "messaging.destination.partition.id": str(record.partition),
        "messaging.kafka.offset": record.offset,
    }
    event_type = _header(headers, "event_type")
    if event_type is not None:
        attributes["unitrail.event_type"] = event_type
    with _tracer.start_as_current_span(
        f"process {record.topic}",
        context=_parent(_header(headers, TRACEPARENT)),
        kind=SpanKind.CONSUMER,
        attributes=attributes,
    ):
        yield


@contextlib.contextmanager
def _relay_batch(topic: str, traceparents: Iterable[str | None], count: int) -> Iterator[None]:
    assert _tracer is not None
    from opentelemetry.trace import Link, SpanKind, get_current_span

    parents = list(dict.fromkeys(tp for tp in traceparents if tp))
    links: list[Link] = []
    for traceparent in parents[1 : MAX_LINKS + 1]:
        context = _parent(traceparent)
        if context is not None:
            links.append(Link(get_current_span(context).get_span_context()))
    with _tracer.start_as_current_span(
        f"publish {topic}",
        context=_parent(parents[0]) if parents else None,
        kind=SpanKind.PRODUCER,
        links=links,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "publish",
            "messaging.destination.name": topic,
            "messaging.batch.message_count": count,
        },
    ):
        yield


class TracingMiddleware:
    """A server span per HTTP request, continuing the caller's `traceparent` header; the
    response carries the request's own `traceparent` back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _tracer is None:
            await self.app(scope, receive, send)
            return
        from opentelemetry.trace import SpanKind, Status, StatusCode

        headers = dict(scope.get("headers") or ())
        incoming = headers.get(TRACEPARENT.encode())
        method, path = scope.get("method", ""), scope.get("path", "")
        with _tracer.start_as_current_span(
            f"{method} {path}",
            context=_parent(incoming.decode("latin-1") if incoming else None),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path},
        ) as span:
            traceparent = current_traceparent()

            async def traced_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                    if traceparent is not None:
                        message.setdefault("headers", [])
                        message["headers"] = [
                            *message["headers"],
                            (TRACEPARENT.encode(), traceparent.encode()),
                        ]
                await send(message)

            await self.app(scope, receive, traced_send)
