"""Measure inventory: reservations per second, and how fast available-to-sell reaches the channels.

    python scripts/benchmark_inventory.py          # the defaults take about 3 minutes on 2 cores
    python scripts/benchmark_inventory.py --help   # the size of each part

One run starts its own embedded PostgreSQL (in a temporary directory, deleted afterwards) and its own
embedded Kafka-protocol broker (on a free loopback port). Stock is sold on three channels (webshop,
amazon-us and ebay-us, safety buffers 0, 2 and 1 units), so every reservation also changes what
three channels may sell. The run measures:

1. raw asyncpg single-row INSERTs, each its own transaction: the database's commit rate, the limit
   (the same measurement as scripts/benchmark.py's part 1);
2. the reserve use case in this process: `InventoryApplication.reserve_for_order` for a paid order
   of one unit, on one hot SKU and spread over many SKUs, from one thread and from several. A call
   that lost an optimistic-concurrency race (IntegrityError: another thread saved the stock first)
   saved nothing; it is decided again on fresh state, as the service's consumer does, and counted;
3. the inventory service as its own process (`tests.integration.harness.ServiceProcess`), the real
   path: a burst of paid orders produced onto `order.events.v1` exactly as the order service's
   relay publishes them (OrderPlaced as version 1 and OrderPaid as version 2 of the order, keyed
   by order id with aiokafka's murmur2 partitioning, acks=all). The order service itself is not
   running, so the two cores are inventory's (with Postgres, the broker and this script). The
   service tracks OrderPlaced, reserves on OrderPaid (reservation, stock events and the message's
   tracking row in one transaction) and its relay publishes StockReserved; the decisions read
   from `inventory.events.v1` per second between the first and the last, for every order on one
   hot SKU, then spread over many SKUs;
4. available-to-sell propagation: causes at a steady rate, each timed until a plain confluent-kafka
   consumer (a channel connector, outside the service code) has read, for every channel, an
   AvailableToSellChanged of that SKU showing the new figure. The connector keeps the figure of
   the highest stock version per SKU and channel, not the last record read: a relay may repeat
   events. Causes: (a) a paid order reserving one unit, timed from just before its two events are
   produced; (b) a receipt of one unit over HTTP (`POST /stock/receipts`), timed from just before
   the request. Each cause has a SKU of its own, seeded beforehand, so each new figure belongs to
   exactly one cause. Beside them the floor: the broker's own produce (acks=all) → consume round
   trip, one message at a time, measured in the same run.

Every figure printed comes from this run; nothing is read from earlier runs.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

# Importing benchmark also puts the repository root on sys.path, for `tests.integration.harness`.
from benchmark import (
    CLOCK_TICKS,
    EventReader,
    Rate,
    Row,
    children_of,
    fresh_stack,
    load_average,
    machine_facts,
    percentile,
    postmaster_pid,
    print_facts,
    print_log_tails,
    print_table,
    process_cpu,
    ratio,
    raw_insert_limit,
    run_in_workdir,
    server_facts,
    wait_for_order,
    waited_for_cpu,
)
from benchmark_pim import round_trips
from confluent_kafka import Producer
from eventsourcing.persistence import IntegrityError

from contracts.channel import order_id_for
from contracts.order import OrderPaid, OrderPlaced
from contracts.topics import Topic, events_topic
from infra.embedded import EmbeddedBroker, EmbeddedPostgres, free_port
from infra.topics import ensure_topics
from services.inventory.application import InventoryApplication
from services.inventory.domain import Receipt, RequestedLine, SalesChannels
from services.runtime.consumer import MAX_CONFLICT_RETRIES, ConcurrencyConflict
from services.runtime.database import PostgresLocation, ensure_database
from services.runtime.kafka import confluent_security
from tests.integration.harness import ServiceProcess, Stack, channel_order, published

ORDER_EVENTS = events_topic("order").name
INVENTORY_EVENTS = events_topic("inventory").name
DECISIONS = ("StockReserved", "StockShortage")
CHANNEL_BUFFERS = {"webshop": 0, "amazon-us": 2, "ebay-us": 1}
CHANNELS = SalesChannels.of(CHANNEL_BUFFERS)
LOCATION = "WH-A"
PLENTY = 1_000_000
"""Units received of every SKU reserved from in parts 2 and 3 (the most one receipt may hold)."""
PING_TOPIC = Topic(
    name="benchmark.ping.v1",
    partitions=events_topic("inventory").partitions,
    key="`ping`",
    carries='{"ping": marker} JSON, the round trip of part 4',
    written_by="scripts/benchmark_inventory.py",
)


def sold(units: int) -> dict[str, int]:
    """What each channel may sell as new when `units` are available (less its buffer)."""
    return {figure.channel: figure.new for figure in CHANNELS.availability(units, 0)}


# -- CPU use ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds used so far: by the service, by PostgreSQL, by all cores busy, by niced
    processes (the machine is shared; another benchmark may run at nice 5); and the seconds the
    service and PostgreSQL were ready to run but waited for a CPU."""

    at: float
    service: float
    database: float
    busy: float
    niced: float
    service_waited: float
    database_waited: float

    @classmethod
    def take(cls, service: int, postmaster: int) -> CpuSample:
        values = [int(value) for value in Path("/proc/stat").read_text().split()[1:9]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = values
        database = [postmaster, *children_of(postmaster)]
        return cls(
            at=time.perf_counter(),
            service=process_cpu(service),
            database=sum(process_cpu(pid) for pid in database),
            busy=(user + nice + system + irq + softirq + steal) / CLOCK_TICKS,
            niced=nice / CLOCK_TICKS,
            service_waited=waited_for_cpu(service),
            database_waited=sum(waited_for_cpu(pid) for pid in database),
        )

    def cores_since(self, start: CpuSample) -> dict[str, float]:
        """Cores used on average since `start`, per consumer."""
        seconds = self.at - start.at
        return {
            "service": (self.service - start.service) / seconds,
            "database": (self.database - start.database) / seconds,
            "busy": (self.busy - start.busy) / seconds,
            "niced": (self.niced - start.niced) / seconds,
            "service waited": (self.service_waited - start.service_waited) / seconds,
            "database waited": (self.database_waited - start.database_waited) / seconds,
        }


# -- 2. the reserve use case in this process ----------------------------------------------------


class Retries:
    """Optimistic-concurrency retries, counted across threads: in all, and the most one
    reservation needed (the service's consumer gives up on a message after MAX_CONFLICT_RETRIES)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.most = 0

    def add(self, retries: int) -> None:
        with self._lock:
            self.count += retries
            self.most = max(self.most, retries)


def reserve_one(application: InventoryApplication, sku: str, retries: Retries) -> None:
    """Reserve one unit for a new paid order; a call that lost a race is decided again."""
    order_id = uuid.uuid4()
    for attempt in range(MAX_CONFLICT_RETRIES):
        try:
            application.reserve_for_order(order_id, [RequestedLine(1, sku, 1)], "US")
        except IntegrityError:
            continue
        retries.add(attempt)
        return
    raise ConcurrencyConflict(f"gave up reserving {sku} after {MAX_CONFLICT_RETRIES} conflicts")


@dataclass(frozen=True)
class InProcess:
    """One run of the reserve use case: its rate, retries and events stored per reservation."""

    label: str
    threads: int
    rate: Rate
    retries: int
    most_retries: int
    events: int
    cores: dict[str, float]


def measure_in_process(
    application: InventoryApplication,
    label: str,
    skus: list[str],
    calls: int,
    threads: int,
    cpu: Callable[[], CpuSample],
) -> InProcess:
    """`calls` reservations from `threads` threads; consecutive calls take consecutive SKUs."""
    for sku in skus:
        application.receive_stock(
            sku, Receipt(location=LOCATION, quantity=PLENTY, reason="benchmark", actor="benchmark")
        )
    retries = Retries()
    first = application.recorder.max_notification_id() or 0
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="reserve") as pool:
        before = cpu()
        start = time.perf_counter()
        calls_made = [
            pool.submit(reserve_one, application, skus[index % len(skus)], retries)
            for index in range(calls)
        ]
        for call in calls_made:
            call.result()
        seconds = time.perf_counter() - start
        cores = cpu().cores_since(before)
    # Counted, not subtracted: a save that lost a race used up notification ids all the same.
    events = len(application.recorder.select_notifications(first + 1, limit=100 * calls))
    return InProcess(
        label, threads, Rate(calls, seconds), retries.count, retries.most, events, cores
    )


def in_process_row(run: InProcess, raw: Rate) -> Row:
    per_second = run.rate.per_second
    plural = "s" if run.threads > 1 else ""
    return Row(
        f"2 reserve in process, {run.label}, {run.threads} thread{plural}",
        f"{per_second:,.0f} reservations/s",
        ratio(per_second, raw.per_second),
        f"{run.rate.count} calls in {run.rate.seconds:.2f} s, {run.retries} retries after a "
        f"concurrency conflict (at most {run.most_retries} for one), "
        f"{run.events / run.rate.count:.1f} events per reservation; cores: this process "
        f"{run.cores['service']:.2f} (waiting for a CPU {run.cores['service waited']:.2f}), "
        f"Postgres {run.cores['database']:.2f}",
    )


# -- 3. reservations through the service --------------------------------------------------------


@dataclass(frozen=True)
class PaidOrder:
    """A channel order of one unit as the order service's relay publishes it once it is paid."""

    order_id: str
    placed: bytes
    paid: bytes


def paid_order(name: str, sku: str) -> PaidOrder:
    """OrderPlaced (version 1) and OrderPaid (version 2) of the order, enveloped: the order
    service records both in one transaction when a channel sends an order that is paid."""
    message = channel_order(name, lines=[(sku, 1)])
    order_id = order_id_for(message["channel"], name)
    line = message["lines"][0]
    common = {
        "order_id": order_id,
        "lines": [{"line_number": 1, **line}],
        "currency": message["currency"],
        "order_total": line["unit_price"],
    }
    placed = OrderPlaced.model_validate(
        common
        | {
            key: message[key]
            for key in (
                "channel",
                "channel_order_id",
                "placed_at",
                "customer",
                "shipping_address",
                "fraud_score",
            )
        }
    )
    paid = OrderPaid.model_validate(
        common | {"shipping_country": message["shipping_address"]["country"]}
    )
    return PaidOrder(
        order_id=str(order_id),
        placed=published(placed, producer="order", aggregate_id=order_id, version=1),
        paid=published(paid, producer="order", aggregate_id=order_id, version=2),
    )


class OrderRelayStandIn:
    """Publishes paid orders as the order service's relay does: both events of an order in one
    batch, keyed by order id, partitioned by murmur2 (aiokafka's default), acks=all, linger 5 ms."""

    def __init__(self, bootstrap_servers: str) -> None:
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "acks": "all",
                "linger.ms": 5,
                "partitioner": "murmur2_random",
                "log.connection.close": False,
                **confluent_security(),
            }
        )

    def send(self, order: PaidOrder) -> None:
        """Produce the order's events without waiting for their acknowledgement."""
        key = order.order_id.encode()
        for event_type, value in (("OrderPlaced", order.placed), ("OrderPaid", order.paid)):
            self._producer.produce(
                ORDER_EVENTS, value=value, key=key, headers=[("event_type", event_type.encode())]
            )
        self._producer.poll(0)

    def publish(self, order: PaidOrder) -> None:
        """Produce the order's events and wait until the broker has them, as the relay waits."""
        self.send(order)
        self.flush()

    def flush(self) -> None:
        if self._producer.flush(30):
            raise RuntimeError(f"could not deliver to {ORDER_EVENTS}")


@dataclass
class Burst:
    """Reservation decisions read for a burst of paid orders produced at once."""

    label: str
    sent: int
    produce_seconds: float = 0.0
    read_at: list[float] = field(default_factory=list)
    shortages: int = 0
    first_produced: float = 0.0
    cores: dict[str, float] = field(default_factory=dict)
    """Average cores used from the first produce to the last decision read."""
    service_cpu: float = 0.0
    """CPU seconds the service process used in that time."""

    @property
    def between(self) -> Rate:
        """Decisions per second between the first and the last one read."""
        return Rate(len(self.read_at) - 1, max(self.read_at) - min(self.read_at))

    @property
    def overall(self) -> Rate:
        """Decisions per second from the first produce to the last decision read."""
        return Rate(len(self.read_at), max(self.read_at) - self.first_produced)


def measure_burst(
    relay: OrderRelayStandIn,
    reader: EventReader,
    label: str,
    orders: list[PaidOrder],
    time_limit: float,
    cpu: Callable[[], CpuSample],
) -> Burst:
    """Produce every order at once (from a thread, so reading starts at once too); read until each
    order's reservation decision has been read."""
    wanted = {order.order_id for order in orders}
    decided: dict[str, tuple[float, str]] = {}
    burst = Burst(label=label, sent=len(orders))
    before = cpu()

    def produce() -> None:
        burst.first_produced = time.perf_counter()
        for order in orders:
            relay.send(order)
        relay.flush()
        burst.produce_seconds = time.perf_counter() - burst.first_produced

    producing = threading.Thread(target=produce, name="burst", daemon=True)
    producing.start()
    deadline = time.perf_counter() + time_limit
    while len(decided) < len(wanted) and time.perf_counter() < deadline:
        for arrived, event_type, order_id in reader.outcomes(0.05):
            if order_id in wanted:
                decided.setdefault(order_id, (arrived, event_type))
    after = cpu()
    producing.join(30)
    burst.cores = after.cores_since(before)
    burst.service_cpu = after.service - before.service
    burst.read_at = [arrived for arrived, _ in decided.values()]
    burst.shortages = sum(kind == "StockShortage" for _, kind in decided.values())
    if len(burst.read_at) < 2:
        raise TimeoutError(f"{label}: {len(burst.read_at)} of {len(orders)} orders decided")
    return burst


def burst_rows(burst: Burst, raw: Rate, in_process: InProcess) -> list[Row]:
    between = burst.between.per_second
    cores = burst.cores
    cpu = Row(
        "3   CPU in the burst, in cores",
        f"service {cores['service']:.2f}, Postgres {cores['database']:.2f}",
        detail=f"{burst.service_cpu / len(burst.read_at) * 1000:.1f} ms of service CPU per order; "
        f"waiting for a CPU: service {cores['service waited']:.2f}, Postgres "
        f"{cores['database waited']:.2f}; all processes {cores['busy']:.2f} of "
        f"{os.cpu_count()} cores, of which niced (other work on the machine) {cores['niced']:.2f}",
    )
    return [
        Row(
            f"3 service, burst, {burst.label}",
            f"{between:,.1f} reservations/s",
            ratio(between, raw.per_second),
            f"{len(burst.read_at)}/{burst.sent} decided ({burst.shortages} short) in "
            f"{burst.between.seconds:.1f} s between first and last read; {burst.overall.per_second:.1f}"
            f"/s from the first produce; {ratio(between, in_process.rate.per_second)} of part 2's "
            f"{in_process.label}, 1 thread; produced in {burst.produce_seconds:.2f} s",
        ),
        cpu,
    ]


# -- 4. available-to-sell propagation -----------------------------------------------------------


class AvailabilityReader(EventReader):
    """A channel connector on `inventory.events.v1`: per SKU and channel, the figure of the highest
    stock version read. Not the last record: two relays, or one that restarted, can repeat an
    event, and a repeat must not put an older figure back."""

    def __init__(self, bootstrap_servers: str) -> None:
        super().__init__(bootstrap_servers, (INVENTORY_EVENTS,), ("AvailableToSellChanged",))
        self.figures: dict[tuple[str, str], tuple[int, int]] = {}
        """(SKU, channel) → (stock version, units the channel may sell as new)."""

    def changed(self, timeout: float) -> Iterator[tuple[float, str]]:
        """(arrival time, SKU) of every AvailableToSellChanged read, once it is applied."""
        for arrived, _, envelope in self.envelopes(timeout):
            payload = envelope["payload"]
            key = (str(payload["sku"]), str(payload["channel"]))
            version = int(envelope["aggregate_version"])
            if version > self.figures.get(key, (0, 0))[0]:
                self.figures[key] = (version, int(payload["new"]))
            yield arrived, key[0]

    def shows(self, sku: str, expected: dict[str, int]) -> bool:
        """Whether every channel's latest figure for the SKU is the expected one."""
        return all(
            self.figures.get((sku, channel), (0, -1))[1] == new for channel, new in expected.items()
        )

    def wait_until_shown(self, expected: dict[str, dict[str, int]], timeout: float) -> None:
        """Read until every SKU's figures are as expected."""
        deadline = time.perf_counter() + timeout
        waiting = {sku for sku, figures in expected.items() if not self.shows(sku, figures)}
        while waiting:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{len(waiting)} SKUs' figures not read within {timeout} s")
            for _, sku in self.changed(0.1):
                if sku in waiting and self.shows(sku, expected[sku]):
                    waiting.discard(sku)


@dataclass(frozen=True)
class Cause:
    """A change of one SKU's stock, and what every channel may sell of it afterwards."""

    sku: str
    act: Callable[[], object]
    expected: dict[str, int]


class Pacer(threading.Thread):
    """Makes the causes happen at a fixed rate, each stamped just before it acts; a slow one
    delays only those behind it."""

    def __init__(self, causes: Sequence[Cause], rate: float) -> None:
        super().__init__(name="pacer", daemon=True)
        self._causes = causes
        self._rate = rate
        self.started: list[float] = []
        self.answered: list[float] = []
        self.error: BaseException | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        origin = time.perf_counter()
        try:
            for number, cause in enumerate(self._causes):
                slot = origin + number / self._rate
                if self.stopping.wait(max(0.0, slot - time.perf_counter())):
                    return
                self.started.append(time.perf_counter())
                cause.act()
                self.answered.append(time.perf_counter())
        except BaseException as error:  # the measuring loop must learn why the causes stopped
            self.error = error


@dataclass
class Propagation:
    """Per cause, in the order they happened: cause → every channel's new figure read."""

    label: str
    rate: float
    causes: int
    latencies: list[float] = field(default_factory=list)
    answers: list[float] = field(default_factory=list)
    """The cause's own call: the HTTP answer, or producing the order's events until acked."""
    paced_seconds: float = 0.0


def measure_propagation(
    reader: AvailabilityReader, label: str, causes: list[Cause], rate: float, time_limit: float
) -> Propagation:
    """Make the causes happen at `rate` per second; time each until its figures are read."""
    pacer = Pacer(causes, rate)
    number_of = {cause.sku: number for number, cause in enumerate(causes)}
    read_at: dict[int, float] = {}
    pacer.start()
    try:
        deadline = time.perf_counter() + time_limit
        while len(read_at) < len(causes) and time.perf_counter() < deadline:
            if pacer.error is not None:
                raise RuntimeError(f"{label}: a cause failed") from pacer.error
            for arrived, sku in reader.changed(0.05):
                number = number_of.get(sku)
                if (
                    number is not None
                    and number not in read_at
                    and number < len(pacer.started)
                    and reader.shows(sku, causes[number].expected)
                ):
                    read_at[number] = arrived
    finally:
        pacer.stopping.set()
        pacer.join(15)
    result = Propagation(label=label, rate=rate, causes=len(pacer.started))
    result.latencies = [read_at[n] - pacer.started[n] for n in sorted(read_at)]
    result.answers = [
        end - start for start, end in zip(pacer.started, pacer.answered, strict=False)
    ]
    if len(pacer.started) > 1:
        result.paced_seconds = pacer.started[-1] - pacer.started[0]
    return result


def spread_ms(values: list[float]) -> str:
    """p50 / p99 / max in milliseconds (nearest-rank percentiles)."""
    cuts = (percentile(values, 50), percentile(values, 99), max(values, default=float("nan")))
    return " / ".join(f"{cut * 1000:.1f}" for cut in cuts) + " ms"


def propagation_rows(run: Propagation, floor: list[float]) -> list[Row]:
    latencies = run.latencies
    half = len(latencies) // 2
    within = sum(latency <= 1.0 for latency in latencies)
    offered = (run.causes - 1) / run.paced_seconds if run.paced_seconds > 0 else 0.0
    return [
        Row(
            f"4 ATS after {run.label} @{run.rate:g}/s: p50 / p99 / max",
            spread_ms(latencies),
            ratio(percentile(latencies, 50), percentile(floor, 50)),
            f"{len(latencies)}/{run.causes} read, {within} within 1 s; p50 "
            f"{percentile(latencies[:half], 50) * 1000:.0f} → "
            f"{percentile(latencies[half:], 50) * 1000:.0f} ms by half; {offered:.1f}/s achieved",
        ),
        Row(
            f"4   of which {'the HTTP answer' if 'receipt' in run.label else 'producing, acked'}",
            spread_ms(run.answers),
        ),
    ]


# -- the run ------------------------------------------------------------------------------------


def parse_arguments() -> argparse.Namespace:
    """Sizes of each part; the defaults finish in about 3 minutes on a 2-core machine."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--raw-inserts", type=int, default=5000, help="rows for part 1")
    parser.add_argument(
        "--raw-rounds", type=int, default=3, help="part 1: rounds; the figure is the median round"
    )
    parser.add_argument("--payload-bytes", type=int, default=300, help="raw row size")
    parser.add_argument("--calls", type=int, default=600, help="reservations per part 2 run")
    parser.add_argument("--threads", type=int, default=4, help="threads of part 2's second runs")
    parser.add_argument("--skus", type=int, default=50, help="SKUs the spread runs reserve from")
    parser.add_argument("--burst", type=int, default=1000, help="orders per burst (part 3)")
    parser.add_argument("--rate", type=float, default=5.0, help="causes per second (part 4)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each part 4 run")
    parser.add_argument("--seed-units", type=int, default=10, help="units of each part 4 SKU")
    parser.add_argument("--pings", type=int, default=200, help="broker round trips (part 4)")
    parser.add_argument(
        "--drain-timeout", type=float, default=60.0, help="wait after the last cause (s)"
    )
    parser.add_argument(
        "--part-timeout", type=float, default=300.0, help="bound on each measured part (s)"
    )
    arguments = parser.parse_args()
    for name in (
        "raw_inserts",
        "payload_bytes",
        "calls",
        "threads",
        "skus",
        "rate",
        "seconds",
        "seed_units",
        "pings",
    ):
        if getattr(arguments, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if arguments.burst < 2:
        parser.error("--burst must be at least 2 (a rate needs a first and a last decision)")
    return arguments


def measure_service(
    arguments: argparse.Namespace,
    stack: Stack,
    postmaster: int,
    raw: Rate,
    ceilings: dict[str, InProcess],
) -> list[Row]:
    """Start inventory as its own process; the bursts (part 3), then propagation (part 4)."""
    inventory = ServiceProcess("inventory", stack)
    readers: list[EventReader] = []
    try:
        inventory.start()
        assert inventory.process is not None
        cpu = functools.partial(CpuSample.take, inventory.process.pid, postmaster)
        hot = "HOT-SERVICE"
        spread = [f"SPREAD-SERVICE-{index}" for index in range(arguments.skus)]
        causes_per_run = max(1, round(arguments.rate * arguments.seconds))
        order_skus = [f"ATS-ORDER-{index}" for index in range(causes_per_run)]
        receipt_skus = [f"ATS-RECEIPT-{index}" for index in range(causes_per_run)]
        print(f"  receiving stock of {3 + arguments.skus + 2 * causes_per_run} SKUs over HTTP ...")
        for sku in ("WARM-UP", hot, *spread):
            inventory.receive_stock(sku, LOCATION, PLENTY)
        for sku in (*order_skus, *receipt_skus):
            inventory.receive_stock(sku, LOCATION, arguments.seed_units)
        relay = OrderRelayStandIn(stack.bootstrap_servers)
        decisions = EventReader(stack.bootstrap_servers, (INVENTORY_EVENTS,), DECISIONS)
        readers.append(decisions)

        # The first order also waits for the consumer group to form; it is reported apart.
        warm_up = paid_order("warm-up", "WARM-UP")
        warm_up_start = time.perf_counter()
        relay.publish(warm_up)
        decided = wait_for_order(decisions, warm_up.order_id, timeout=120)
        if decided is None:
            raise TimeoutError("the warm-up order was not decided within 120 s")
        rows = [
            Row(
                "3 warm-up order, produce → decision",
                f"{(decided[0] - warm_up_start) * 1000:.0f} ms",
                detail="the first order after the service started and stock was received",
            )
        ]

        limit = arguments.part_timeout
        for name, label, skus in (
            ("hot", "hot SKU", [hot]),
            ("spread", f"{arguments.skus} SKUs", spread),
        ):
            print(f"3/4 burst of {arguments.burst} paid orders, {label} ...", flush=True)
            orders = [
                paid_order(f"{name}-{index}", skus[index % len(skus)])
                for index in range(arguments.burst)
            ]
            burst = measure_burst(relay, decisions, label, orders, limit, cpu)
            rows += burst_rows(burst, raw, ceilings[name])
            time.sleep(2)  # the relay's trailing events settle before the next part

        print(f"4/4 broker round trip: {arguments.pings} messages ...", flush=True)
        floor = round_trips(stack.bootstrap_servers, arguments.pings, PING_TOPIC.name)
        rows.append(
            Row(
                "4 broker produce → consume: p50 / p99 / max",
                spread_ms(floor),
                "floor",
                f"{len(floor)} messages one at a time, acks=all, consumer fetch wait 5 ms",
            )
        )
        availability = AvailabilityReader(stack.bootstrap_servers)
        readers.append(availability)
        availability.wait_until_shown(
            dict.fromkeys((*order_skus, *receipt_skus), sold(arguments.seed_units)), timeout=60
        )
        reserved, received = sold(arguments.seed_units - 1), sold(arguments.seed_units + 1)
        order_causes = [
            Cause(sku, functools.partial(relay.publish, paid_order(f"ats-{sku}", sku)), reserved)
            for sku in order_skus
        ]
        receipt_causes = [
            Cause(sku, functools.partial(inventory.receive_stock, sku, LOCATION, 1), received)
            for sku in receipt_skus
        ]
        for label, causes in (("a paid order", order_causes), ("a receipt", receipt_causes)):
            print(
                f"4/4 available-to-sell after {label}: {arguments.rate:g}/s for "
                f"{arguments.seconds:g} s ...",
                flush=True,
            )
            run = measure_propagation(
                availability,
                label,
                causes,
                arguments.rate,
                min(limit, arguments.seconds + arguments.drain_timeout),
            )
            rows += propagation_rows(run, floor)
            time.sleep(1)
        return rows
    except BaseException:
        print_log_tails(stack)
        raise
    finally:
        for reader in readers:
            reader.close()
        inventory.stop()


def run(arguments: argparse.Namespace, workdir: Path) -> None:
    """Start the servers, run the four parts, print facts and figures; stop everything."""
    facts = machine_facts()
    postgres = EmbeddedPostgres(workdir / "pgdata", delete_on_stop=True)
    broker = EmbeddedBroker(free_port())  # fresh_stack below replaces it with a started one
    rows: list[Row] = []
    try:
        print("starting embedded PostgreSQL and broker ...", flush=True)
        dsn = postgres.start()
        postmaster = postmaster_pid(postgres)
        cpu = functools.partial(CpuSample.take, os.getpid(), postmaster)
        broker, stack = fresh_stack(broker, dsn, workdir / "inventory")
        asyncio.run(ensure_topics(stack.bootstrap_servers, [PING_TOPIC]))
        server = PostgresLocation.from_dsn(dsn)
        facts |= asyncio.run(server_facts(server, workdir, stack.bootstrap_servers))
        facts["sales channels"] = ", ".join(
            f"{name} (buffer {buffer})" for name, buffer in CHANNEL_BUFFERS.items()
        )
        limit = arguments.part_timeout

        raw, raw_row = raw_insert_limit(server, arguments, limit, "1/4")
        rows.append(raw_row)

        print(f"2/4 reserve in process: 4 x {arguments.calls} calls ...", flush=True)
        location = server.with_database("bench_reserve")
        asyncio.run(ensure_database(location))
        application = InventoryApplication(location, CHANNELS)
        ceilings: dict[str, InProcess] = {}
        try:
            for threads in (1, arguments.threads):
                for label, skus in (
                    ("hot SKU", [f"HOT-{threads}"]),
                    (
                        f"{arguments.skus} SKUs",
                        [f"SPREAD-{threads}-{index}" for index in range(arguments.skus)],
                    ),
                ):
                    measured = measure_in_process(
                        application, label, skus, arguments.calls, threads, cpu
                    )
                    if threads == 1:
                        ceilings["hot" if len(skus) == 1 else "spread"] = measured
                    rows.append(in_process_row(measured, raw))
        finally:
            application.close()

        # The service reads its channels from the environment its process inherits.
        os.environ["UNITRAIL_INVENTORY_SALES_CHANNELS"] = json.dumps(CHANNEL_BUFFERS)
        print("3/4 starting the inventory service ...", flush=True)
        rows += measure_service(arguments, stack, postmaster, raw, ceilings)
        facts["load average at end"] = load_average()
    finally:
        broker.stop()
        postgres.stop()

    print("\nmachine")
    print_facts(facts)
    print("\nfigures")
    print_table(rows)


def main() -> int:
    return run_in_workdir(run, parse_arguments(), "unitrail-benchmark-inventory-")


if __name__ == "__main__":
    raise SystemExit(main())
