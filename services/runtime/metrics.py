"""What every service exposes to Prometheus at `/metrics` (open, like `/health`).

- HTTP requests by route template, method and status, and their duration;
- the consumer: messages by topic and outcome, batches (applied whole or one message at a time),
  how long handling a batch takes and how many messages it holds, how long each handler takes,
  by the message it handles, how far it is behind (all messages, partners' messages alone, and
  each partition it is assigned), its open dead letters and the messages parked behind them, in
  all and by the kind of reason;
- the store: how long recording a save takes (events, tracking and read model changes, in the
  transaction's order);
- each relay: events stored and not yet published, and how old the oldest of them is; whether it
  runs and whether this process leads it;
- the process itself: CPU, resident memory, open files (from prometheus-client), and the garbage
  collector's pauses by generation (`services.runtime.heap`).

Figures about the consumer and the relays are read when scraped, from the same status the
service's `/health` answers, so the two never disagree; durations and sizes are observed as they
happen (`BATCH_SECONDS`, `BATCH_MESSAGES`, `HANDLER_SECONDS`, `APPEND_SECONDS`). The alert rules
built on these names are in docs/alerts.yml.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.runtime.heap import GC_PAUSE_SECONDS

HTTP_REQUESTS = "unitrail_http_requests"
HTTP_DURATION = "unitrail_http_request_duration_seconds"
CONSUMED = "unitrail_consumer_messages"
BATCHES = "unitrail_consumer_batches"
BATCHES_ONE_BY_ONE = "unitrail_consumer_batches_applied_one_by_one"
BATCHES_WITH_SAVEPOINTS = "unitrail_consumer_batches_run_again_with_savepoints"
CONSUMER_LAG = "unitrail_consumer_lag_messages"
CONSUMER_PARTNER_LAG = "unitrail_consumer_partner_lag_messages"
CONSUMER_PARTITION_LAG = "unitrail_consumer_partition_lag_messages"
CONSUMER_UP = "unitrail_consumer_up"
DEAD_LETTERS = "unitrail_dead_letters"
PARKED = "unitrail_parked_messages"
LETTERS_BY_TYPE = "unitrail_dead_letters_by_type"
RELAY_LAG = "unitrail_relay_lag_events"
RELAY_OLDEST = "unitrail_relay_oldest_unpublished_seconds"
RELAY_UP = "unitrail_relay_up"
RELAY_LEADER = "unitrail_relay_leader"
HEALTHY = "unitrail_healthy"

BATCH_SECONDS = Histogram(
    "unitrail_consumer_batch_seconds",
    "Time to handle one consumed batch: decode, apply (one transaction where possible), record.",
    ["service"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=None,
)
BATCH_MESSAGES = Histogram(
    "unitrail_consumer_batch_messages",
    "Messages in one consumed batch.",
    ["service"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
    registry=None,
)
HANDLER_SECONDS = Histogram(
    "unitrail_consumer_handler_seconds",
    "Time a handler takes to apply one consumed message, by the message's type (inside the "
    "batch's transaction: the tracking and the commit are not in it).",
    ["service", "message"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5),
    registry=None,
)
APPEND_SECONDS = Histogram(
    "unitrail_store_append_seconds",
    "Time to record one save in the event store: its events, the tracking of the message being "
    "consumed and the read model changes (inside a batch's transaction, before its commit).",
    ["service"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
    registry=None,
)
"""Observed where the work happens, in whichever process runs it; `/metrics` exposes them."""


class Observed(Collector):
    """The histograms observed as work happens, exposed with the service's other figures."""

    def collect(self) -> Iterable[Metric]:
        for histogram in (
            BATCH_SECONDS,
            BATCH_MESSAGES,
            HANDLER_SECONDS,
            APPEND_SECONDS,
            GC_PAUSE_SECONDS,
        ):
            yield from histogram.collect()


Checks = Mapping[str, Any]
"""What `ServiceRuntime.health` reports, part by part."""


class StatusCollector(Collector):
    """Turns the service's status, read just before a scrape, into metric families."""

    def __init__(self, service: str) -> None:
        self._service = service
        self.checks: Checks = {}
        self.healthy = False
        self.figures: list[Metric] = []
        """The service's own figures (`ServiceDefinition.figures`), read just before a scrape."""

    def collect(self) -> Iterable[Metric]:
        labels = ["service"]
        healthy = GaugeMetricFamily(HEALTHY, "1 when /health answers 200.", labels=labels)
        healthy.add_metric([self._service], 1.0 if self.healthy else 0.0)
        yield healthy
        consumer: Mapping[str, Any] = self.checks.get("consumer") or {}
        if consumer:
            yield from self._consumer(consumer)
        relays: Mapping[str, Mapping[str, Any]] = self.checks.get("relays") or {}
        if relays:
            yield from self._relays(relays)
        yield from self.figures

    def _consumer(self, consumer: Mapping[str, Any]) -> Iterable[Metric]:
        service = [self._service]
        consumed = CounterMetricFamily(
            CONSUMED,
            "Messages consumed, by topic and outcome.",
            labels=["service", "topic", "outcome"],
        )
        for topic, outcomes in sorted(consumer.get("by_topic", {}).items()):
            for outcome, count in sorted(outcomes.items()):
                consumed.add_metric([self._service, topic, outcome], count)
        yield consumed
        for name, text, key in (
            (BATCHES, "Batches applied.", "batches"),
            (
                BATCHES_ONE_BY_ONE,
                "Batches applied one message at a time because one of them failed.",
                "batches_applied_one_by_one",
            ),
            (
                BATCHES_WITH_SAVEPOINTS,
                "Units of work of the consumer run again with savepoints after a conflict.",
                "batches_run_again_with_savepoints",
            ),
        ):
            counted = CounterMetricFamily(name, text, labels=["service"])
            counted.add_metric(service, consumer.get(key, 0))
            yield counted
        up = GaugeMetricFamily(CONSUMER_UP, "1 while the consumer loop runs.", labels=["service"])
        up.add_metric(service, 1.0 if consumer.get("alive") else 0.0)
        yield up
        for name, key, text in (
            (CONSUMER_LAG, "lag", "Messages the broker holds beyond the consumer's position."),
            (CONSUMER_PARTNER_LAG, "partner_lag", "Of those, partners' messages."),
            (DEAD_LETTERS, "dead_letters", "Open dead letters."),
            (PARKED, "parked", "Messages parked behind open dead letters."),
        ):
            value = consumer.get(key)
            if value is not None:  # unknown just now (a rebalance, the database away)
                gauge = GaugeMetricFamily(name, text, labels=["service"])
                gauge.add_metric(service, float(value))
                yield gauge
        for name, key, text, labels in (
            (
                CONSUMER_PARTITION_LAG,
                "partition_lag",
                "Messages the broker holds beyond the consumer's position in one partition it is "
                "assigned, and those fetched from it and not yet committed.",
                ("topic", "partition"),
            ),
            (
                LETTERS_BY_TYPE,
                "letters_by_type",
                "Open dead letters (state dead) and parked messages (state parked), by the kind "
                "of reason: the error a dead letter failed with; Parked (behind a dead letter), "
                "VersionGap or NotYet for a parked one.",
                ("state", "error_type"),
            ),
        ):
            nested: Mapping[str, Mapping[str, float]] | None = consumer.get(key)
            if nested is not None:  # unknown just now, as above
                family = GaugeMetricFamily(name, text, labels=["service", *labels])
                for outer, values in sorted(nested.items()):
                    for inner, value in sorted(values.items()):
                        family.add_metric([self._service, outer, inner], float(value))
                yield family

    def _relays(self, relays: Mapping[str, Mapping[str, Any]]) -> Iterable[Metric]:
        labels = ["service", "topic"]
        lag = GaugeMetricFamily(RELAY_LAG, "Events stored and not yet published.", labels=labels)
        oldest = GaugeMetricFamily(
            RELAY_OLDEST, "Age of the oldest event not yet published (0: caught up).", labels=labels
        )
        up = GaugeMetricFamily(RELAY_UP, "1 while the relay's loop runs.", labels=labels)
        leader = GaugeMetricFamily(
            RELAY_LEADER,
            "1 when this process publishes the store (one process does).",
            labels=labels,
        )
        for topic, status in sorted(relays.items()):
            key = [self._service, topic]
            up.add_metric(key, 1.0 if status.get("alive") else 0.0)
            leader.add_metric(key, 1.0 if status.get("leader") else 0.0)
            if "lag" in status:
                lag.add_metric(key, float(status["lag"]))
                oldest.add_metric(key, float(status.get("oldest_unpublished_seconds") or 0))
        yield from (lag, oldest, up, leader)


def install_metrics(
    app: FastAPI,
    service: str,
    health: Callable[[], Awaitable[tuple[bool, Checks]]],
    figures: Callable[[], Awaitable[Iterable[Metric]]] | None = None,
) -> CollectorRegistry:
    """Count every HTTP request and serve `/metrics`; `health` gives the status scraped, and
    `figures` the service's own metric families (read at each scrape)."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    status = StatusCollector(service)
    registry.register(status)
    registry.register(Observed())
    requests = Counter(
        HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status.",
        ["service", "route", "method", "status"],
        registry=registry,
    )
    durations = Histogram(
        HTTP_DURATION,
        "Time to answer an HTTP request, by route template.",
        ["service", "route"],
        registry=registry,
    )

    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Any]) -> Response:
        started = time.perf_counter()
        response: Response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", None) or "unmatched"
        if route != "/metrics":
            requests.labels(service, route, request.method, str(response.status_code)).inc()
            durations.labels(service, route).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    async def metrics() -> Response:
        """The Prometheus exposition of this process (open: no token)."""
        status.healthy, status.checks = await health()
        status.figures = list(await figures()) if figures is not None else []
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return registry
