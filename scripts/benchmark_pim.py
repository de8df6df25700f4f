"""Measure PIM's catalogue import and how fast a spec change reaches every market's feed.

    python scripts/benchmark_pim.py                 # 5,000 rows and 200 spec changes, embedded
    python scripts/benchmark_pim.py --rows 20000    # POSTGRES_DSN=… to use another server

1. Import: rows/s of a first import (every row new), of a re-import (every row unchanged: no
   events), of an import changing every row, and the rate of raw asyncpg INSERTs of one row per
   product in one transaction on the same server: the floor any import writing one row per product
   stands on.
2. Feed latency: the PIM service as its own process on an embedded broker; a channel connector (a
   Kafka consumer outside the service code) reads `pim.events.v1`. Each spec change is timed from
   the HTTP request until the connector has read the changed `CatalogueEntryChanged` of every
   market; p50/p99 beside the broker's own produce → consume round trip measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import asyncpg
from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition

from contracts.topics import events_topic
from infra.embedded import EmbeddedBroker, EmbeddedPostgres, free_port
from infra.topics import ensure_topics
from services.pim.application import PimApplication
from services.pim.importing import parse_rows
from services.runtime.database import PostgresLocation, ensure_database
from services.runtime.kafka import confluent_security

# The integration-test harness is not an installed package: make the repository root importable
# however the script is started, so the PIM runs exactly as the tests run it.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.integration.harness import CERTIFIED_EVERYWHERE, ServiceProcess, Stack  # noqa: E402

PIM_EVENTS = events_topic("pim").name
MARKETS = {"US", "EU", "UK", "CA"}


def catalogue(rows: int, name: str) -> bytes:
    lines = ["sku,name,weight,ean,lithium_ion,attribute.refresh_rate,price,currency,certifications"]
    for number in range(1, rows + 1):
        body = f"200000{number:06d}"
        weights = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
        ean = body + str((10 - weights % 10) % 10)
        lines.append(
            f"SKU-{number:06d},{name} {number},1.2 kg,{ean},no,144 Hz,19.99,USD,"
            "FCC:2025-01-01;CE:2025-01-01"
        )
    return ("\n".join(lines) + "\n").encode()


async def raw_inserts(location: PostgresLocation, rows: int) -> float:
    connection = await asyncpg.connect(**location.asyncpg_kwargs())
    try:
        await connection.execute(
            "CREATE TEMPORARY TABLE raw_rows (id uuid PRIMARY KEY, body jsonb NOT NULL)"
        )
        started = time.perf_counter()
        async with connection.transaction():
            await connection.executemany(
                "INSERT INTO raw_rows (id, body) VALUES ($1, $2)",
                [(uuid.uuid4(), '{"sku": "SKU-1", "name": "product"}') for _ in range(rows)],
            )
        return rows / (time.perf_counter() - started)
    finally:
        await connection.close()


def timed_import(application: PimApplication, body: bytes) -> tuple[float, str]:
    started = time.perf_counter()
    result = application.import_catalogue(parse_rows(body, "text/csv"))
    seconds = time.perf_counter() - started
    summary = f"applied {result.applied}, unchanged {result.unchanged}, errors {len(result.errors)}"
    return seconds, summary


def connector(bootstrap: str, topic: str = PIM_EVENTS) -> Consumer:
    """A channel connector's consumer on the PIM's topic, reading only what comes next."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"feed-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 5,
            "log.connection.close": False,
            **confluent_security(),
        }
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in partitions])
    return consumer


def read_until(
    consumer: Consumer, done: Callable[[dict[str, object]], bool], timeout: float
) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        message = consumer.poll(0.005)
        if message is None or message.error():
            continue
        if done(json.loads(message.value() or b"{}")):
            return
    raise TimeoutError(f"nothing arrived within {timeout} s")


def is_ping(marker: str, envelope: dict[str, object]) -> bool:
    return envelope.get("ping") == marker


def round_trips(bootstrap: str, count: int, topic: str = PIM_EVENTS) -> list[float]:
    """The broker's floor: one message produced (acks=all) until a consumer has read it."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0} | confluent_security()
    )
    consumer = connector(bootstrap, topic)
    consumer.poll(0.5)  # join the partitions before timing
    seconds = []
    for number in range(count):
        marker = f"ping-{number}"
        started = time.perf_counter()
        producer.produce(topic, json.dumps({"ping": marker}).encode(), key=b"ping")
        producer.flush(10)
        read_until(consumer, functools.partial(is_ping, marker), 10)
        seconds.append(time.perf_counter() - started)
    consumer.close()
    return seconds


class EveryMarketChanged:
    """Done once the connector has read the entry named `name` of every market."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.markets: set[object] = set()

    def __call__(self, envelope: dict[str, object]) -> bool:
        payload = envelope.get("payload")
        if (
            envelope.get("event_type") == "CatalogueEntryChanged"
            and isinstance(payload, dict)
            and payload.get("name") == self.name
        ):
            self.markets.add(payload.get("market"))
        return self.markets == MARKETS


def feed_latencies(pim: ServiceProcess, bootstrap: str, changes: int) -> list[float]:
    """Spec change → every market's changed catalogue entry read by a connector, per change."""
    consumer = connector(bootstrap)
    product = {"weight_grams": 4_800, "lithium_ion": False, "certifications": CERTIFIED_EVERYWHERE}
    seconds, answered = [], []
    for number in range(changes + 1):
        name = f"Monitor 27 revision {number}"
        started = time.perf_counter()
        pim.put("/products/MONITOR-27", product | {"name": name})
        committed = time.perf_counter()
        read_until(consumer, EveryMarketChanged(name), 30)
        if number:  # the first registers the product and warms the connections up
            seconds.append(time.perf_counter() - started)
            answered.append(committed - started)
    consumer.close()
    print(f"  of which the PIM's HTTP answer (change committed): {percentiles(answered)}")
    return seconds


def percentiles(seconds: list[float]) -> str:
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return f"p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms, max {max(seconds) * 1000:.1f} ms"


def measure_feed(dsn: str, workdir: Path, changes: int) -> None:
    broker = EmbeddedBroker(free_port())
    pim: ServiceProcess | None = None
    try:
        bootstrap = broker.start()
        asyncio.run(ensure_topics(bootstrap))
        logs = workdir / f"feed_{uuid.uuid4().hex[:8]}"
        logs.mkdir()
        stack = Stack(
            postgres_dsn=dsn, bootstrap_servers=bootstrap, database_prefix=logs.name, log_dir=logs
        )
        pim = ServiceProcess("pim", stack).start()
        floor = round_trips(bootstrap, changes)
        print(f"broker produce → consume round trip ({changes}): {percentiles(floor)}")
        latencies = feed_latencies(pim, bootstrap, changes)
        ratio = statistics.median(latencies) / statistics.median(floor)
        print(
            f"spec change → changed entry of all {len(MARKETS)} market feeds read ({changes}): "
            f"{percentiles(latencies)} ({ratio:.1f} times the broker's p50 round trip)"
        )
    finally:
        if pim is not None:
            pim.stop()
        broker.stop()


def measure_import(server: PostgresLocation, rows: int) -> None:
    location = server.with_database(f"pim_bench_{uuid.uuid4().hex[:8]}")
    asyncio.run(ensure_database(location))
    application = PimApplication(location)
    raw = asyncio.run(raw_inserts(location, rows))
    print(f"raw asyncpg INSERT (one transaction): {raw:,.0f} rows/s")
    for label, body in (
        ("first import", catalogue(rows, "Product")),
        ("re-import, nothing changed", catalogue(rows, "Product")),
        ("import changing every row", catalogue(rows, "Renamed")),
    ):
        seconds, summary = timed_import(application, body)
        rate = rows / seconds
        print(
            f"{label}: {rows} rows in {seconds:.2f} s = {rate:,.0f} rows/s "
            f"({rate / raw:.1%} of raw; {summary})"
        )
    application.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000, help="products in the catalogue")
    parser.add_argument("--changes", type=int, default=200, help="spec changes timed to the feed")
    parser.add_argument("--feed-only", action="store_true", help="skip the import part")
    arguments = parser.parse_args()
    rows = arguments.rows
    with tempfile.TemporaryDirectory() as workdir:
        postgres: EmbeddedPostgres | None = None
        dsn = os.environ.get("POSTGRES_DSN")
        if dsn is None:
            postgres = EmbeddedPostgres(Path(workdir) / "pgdata", delete_on_stop=True)
            dsn = postgres.start()
        try:
            if not arguments.feed_only:
                measure_import(PostgresLocation.from_dsn(dsn), rows)
            measure_feed(dsn, Path(workdir), arguments.changes)
        finally:
            if postgres is not None:
                postgres.stop()


if __name__ == "__main__":
    main()
