"""Any service's read models rebuilt from scratch, from the topics (offset 0) and from the event
stores, on the real system: the rebuilt tables equal the live ones row for row, replace them, and
go on consuming live afterwards."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer

from contracts.envelope import Envelope
from contracts.pim import CatalogueEntryWithdrawn, ProductRegistered
from infra import cli
from infra.cli.replay import ReplayNotSwapped
from infra.embedded import EmbeddedBroker, free_port
from infra.topics import ensure_topics
from services.inventory.projections import read_models as inventory_read_models
from services.order.application import OrderApplication
from services.order.config import OrderSettings
from services.order.projections import read_models as order_read_models
from services.pim.projections import read_models as pim_read_models
from services.runtime.database import PostgresLocation, ensure_database
from services.runtime.eventstore import BlockingRunner
from services.runtime.projections import ReadModels
from services.runtime.replay import ShadowRebuild
from services.runtime.replay.declared import declaration_digest
from services.runtime.replay.sources import Projected
from services.runtime.topics import BROKER_INCARNATION_HEADER, BrokerIncarnation
from services.shipping.projections import read_models as shipping_read_models
from tests.integration.harness import (
    CERTIFIED_EVERYWHERE,
    Channel,
    Record,
    ServiceProcess,
    Services,
    Stack,
    TopicReader,
    channel_order,
    eventually,
    register_product,
)

pytestmark = pytest.mark.integration

READ_MODELS = {
    "pim": pim_read_models,
    "order": order_read_models,
    "inventory": inventory_read_models,
    "shipping": shipping_read_models,
}

Tables = dict[str, list[tuple[Any, ...]]]


def tables_of(read_models: ReadModels) -> list[str]:
    return [table.name for table in read_models.tables]


class Databases:
    """The live read-model tables of each service, read directly."""

    def __init__(self, stack: Stack) -> None:
        server = PostgresLocation.from_dsn(stack.postgres_dsn)
        self.locations = {
            service: server.with_database(f"{stack.database_prefix}_{service}")
            for service in READ_MODELS
        }

    def rows(self, service: str) -> Tables:
        """Every row of every read-model table of the service, in a fixed order."""
        with psycopg.connect(self.locations[service].dsn()) as connection:
            return {
                table: sorted(
                    connection.execute(f"SELECT * FROM {table}".encode()).fetchall(), key=repr
                )
                for table in tables_of(READ_MODELS[service])
            }

    def oids(self, service: str) -> dict[str, int]:
        """Which tables these are: a swap puts other tables under the same names."""
        with psycopg.connect(self.locations[service].dsn()) as connection:
            return {
                table: int(
                    connection.execute(f"SELECT '{table}'::regclass::oid".encode()).fetchall()[0][0]
                )
                for table in tables_of(READ_MODELS[service])
            }

    def settled(self) -> dict[str, Tables]:
        """The tables once nothing changes any more (consumers and relays are done)."""
        previous: dict[str, Tables] = {}
        deadline = time.monotonic() + 30
        while True:
            current = {service: self.rows(service) for service in READ_MODELS}
            if current == previous:
                return current
            if time.monotonic() > deadline:
                raise AssertionError("the read models kept changing")
            previous = current
            time.sleep(1.0)


def replay(capsys: pytest.CaptureFixture[str], service: ServiceProcess, source: str) -> str:
    capsys.readouterr()
    arguments = ["replay", service.name, "--url", service.url, "--from", source]
    assert cli.main(arguments) == 0
    captured = capsys.readouterr()
    assert "100%" in captured.err, captured.err  # the progress bar
    return captured.out


def test_every_service_s_read_models_rebuilt_from_topics_and_stores_equal_the_live_ones(
    services: Services, channel: Channel, stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    pim, order, inventory, shipping = services("pim", "order", "inventory", "shipping")
    started = time.monotonic()
    databases = Databases(stack)

    # -- a catalogue: products, a bundle with dimensions, a withdrawn certificate; an order ----
    register_product(pim, shipping, "CAM-X", 600, lithium=False)
    register_product(pim, shipping, "LENS-50", 400, lithium=False)
    pim.put(
        "/products/CAMERA-KIT",
        {
            "name": "Camera kit",
            "weight_grams": 1_400,
            "lithium_ion": False,
            "dimensions": "30 x 20 x 15 cm",
            "certifications": CERTIFIED_EVERYWHERE,
            "components": [{"sku": "CAM-X", "quantity": 1}, {"sku": "LENS-50", "quantity": 2}],
        },
    )
    pim.post("/products/LENS-50/certifications/CE", {}, method="DELETE")  # not sold in the EU
    inventory.receive_stock("CAM-X", "WH-A", 2)
    channel.send(channel_order("9601", lines=[("CAM-X", 1)]))

    def arrived() -> bool:
        rows = {service: databases.rows(service) for service in READ_MODELS}
        return (
            any(
                sku == "LENS-50" and withdrawn is not None
                for sku, _, withdrawn in rows["order"]["catalogue_listings"]
            )
            and len(rows["inventory"]["bundle_components"]) == 2
            and len(rows["inventory"]["rate_card"]) == 1
            and len(rows["shipping"]["consignments_by_order"]) == 1
            and len(rows["shipping"]["product_dimensions"]) == 1
        )

    eventually(arrived, timeout=60, what="the catalogue, the rate card and the order everywhere")
    live = databases.settled()
    assert all(rows for rows in live["pim"].values())

    # -- rebuilt from the topics and from the stores: equal, and swapped in --------------------
    for service, source in [
        (order, "topics"),
        (order, "stores"),
        (inventory, "topics"),
        (inventory, "stores"),
        (shipping, "topics"),  # its consignments' tables from its own store
        (pim, "stores"),  # views of its own products: its store, whatever the source
    ]:
        before = databases.oids(service.name)
        summary = replay(capsys, service, source)
        assert summary.startswith("replayed "), summary
        assert databases.rows(service.name) == live[service.name], f"{service.name} from {source}"
        after = databases.oids(service.name)
        assert all(after[table] != before[table] for table in before), "the copy is swapped in"
    progress = order.get("/replays/latest")
    assert (progress["state"], progress["source"], progress["read"]) == (
        "done",
        "stores",
        progress["total"],
    )
    assert progress["counts"]["catalogued_products"] == 3

    # -- and the new tables go on consuming live -----------------------------------------------
    register_product(pim, shipping, "LENS-85", 500, lithium=False)

    def consumed() -> bool:
        return ("LENS-85",) in databases.rows("order")["catalogued_products"] and any(
            row[0] == "LENS-85" for row in databases.rows("inventory")["product_facts"]
        )

    eventually(consumed, timeout=30, what="LENS-85 in the rebuilt read models")
    print(f"read-model replays: whole test {time.monotonic() - started:.0f}s")


def test_tables_built_from_another_declaration_are_rebuilt_before_the_service_consumes(
    services: Services, stack: Stack
) -> None:
    """A read model declared anew (here the catalogue's `entry`, as if the tables came from a
    release without it) leaves a database's existing table as it was: the service rebuilds its
    read models from the stores when it starts on such tables, before it consumes or answers;
    on a fresh database it only records the declaration."""
    pim, shipping = services("pim", "shipping")
    databases = Databases(stack)
    register_product(pim, shipping, "CAM-X", 600, lithium=False)
    register_product(pim, shipping, "LENS-50", 400, lithium=False)
    eventually(
        lambda: len(databases.rows("pim")["pim_catalogue"]) >= 2, what="the catalogue's rows"
    )
    live = databases.rows("pim")
    declared = declaration_digest(pim_read_models)

    def recorded() -> str | None:
        with psycopg.connect(databases.locations["pim"].dsn()) as connection:
            row = connection.execute("SELECT digest FROM read_models_declared").fetchone()
            return str(row[0]) if row else None

    assert recorded() == declared
    assert not pim.exists("/replays/latest"), "a fresh database needs no rebuild"

    pim.stop()
    with psycopg.connect(databases.locations["pim"].dsn()) as connection:
        connection.execute("ALTER TABLE pim_catalogue DROP COLUMN entry")
        connection.execute("UPDATE read_models_declared SET digest = 'without the entry'")
    pim.start()
    assert databases.rows("pim") == live
    first = pim.get("/replays/latest")
    assert (first["state"], first["source"]) == ("done", "stores")
    assert recorded() == declared

    # Tables made before declarations were recorded, with history: rebuilt once as well.
    pim.stop()
    with psycopg.connect(databases.locations["pim"].dsn()) as connection:
        connection.execute("DELETE FROM read_models_declared")
    pim.start()
    again = pim.get("/replays/latest")
    assert again["replay_id"] != first["replay_id"]
    assert again["state"] == "done"
    assert databases.rows("pim") == live
    assert recorded() == declared

    # The rebuilt tables go on taking in what the service saves.
    register_product(pim, shipping, "LENS-85", 500, lithium=False)
    eventually(
        lambda: any(row[1] == "LENS-85" for row in databases.rows("pim")["pim_catalogue"]),
        what="LENS-85 in the rebuilt catalogue",
    )


@pytest.fixture
def empty_broker() -> Iterator[str]:
    """Another broker, with every topic and no message: a broker that restarted empty."""
    broker = EmbeddedBroker(free_port())
    bootstrap = broker.start()
    asyncio.run(ensure_topics(bootstrap))
    yield bootstrap
    broker.stop()


def copy_to(bootstrap_servers: str, records: list[Record]) -> None:
    """Publish records to another broker as they are (key, value, headers)."""
    producer = Producer({"bootstrap.servers": bootstrap_servers, "log.connection.close": False})
    for record in records:
        producer.produce(
            record.topic,
            value=record.value,
            key=record.key,
            headers=list(record.headers.items()),
        )
    assert producer.flush(10) == 0, "not delivered"


def test_a_replay_from_topics_that_lost_history_is_refused_and_the_stores_rebuild_it(
    services: Services,
    stack: Stack,
    topic: Callable[[str], TopicReader],
    empty_broker: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The order service's catalogue is derived from PIM's events. Its broker is replaced by one
    that lost them (empty, then holding all but the first event): a replay from the topics is
    refused with the reasons, and the live tables are untouched; a replay from the stores (the
    default) rebuilds them. PIM stays on the first broker, so no relay re-publishes to the new
    one: what the new one holds is what the test put there."""
    pim, order = services("pim", "order")
    databases = Databases(stack)
    live, records = catalogue_published(pim, databases, topic)
    envelopes = [record.json() for record in records]
    stored = {(e["aggregate_id"], e["aggregate_version"]) for e in envelopes}
    # All but the first event of an aggregate that has a second one.
    first = next(
        index
        for index, e in enumerate(envelopes)
        if e["aggregate_version"] == 1 and (e["aggregate_id"], 2) in stored
    )
    before = databases.oids("order")

    order.stop()
    moved = ServiceProcess("order", dataclasses.replace(stack, bootstrap_servers=empty_broker))
    moved.start()
    try:
        refusal = refused_replay(capsys, moved)
        assert f"pim.events.v1 holds 0 events, pim's store {len(stored)}" in refusal, refusal
        assert "--from stores" in refusal
        assert (databases.rows("order"), databases.oids("order")) == (live, before)

        life = asyncio.run(BrokerIncarnation(empty_broker, client_id="test").marked())
        assert life is not None  # marked by the moved order service
        kept = records[:first] + records[first + 1 :]
        copy_to(empty_broker, [stamped(record, life) for record in kept])
        refusal = refused_replay(capsys, moved)
        assert "pim.events.v1: 1 aggregates' events do not start at version 1" in refusal, refusal
        progress = moved.get("/replays/latest")
        assert (progress["state"], progress["source"]) == ("refused", "topics")
        assert any("do not start at version 1" in reason for reason in progress["refused"])
        assert (databases.rows("order"), databases.oids("order")) == (live, before)

        capsys.readouterr()
        assert cli.main(["replay", "order", "--url", moved.url]) == 0  # from the stores
        assert capsys.readouterr().out.startswith("replayed ")
        assert databases.rows("order") == live
        assert databases.oids("order") != before, "the copy is swapped in"
    finally:
        moved.stop()


def catalogue_published(
    pim: ServiceProcess, databases: Databases, topic: Callable[[str], TopicReader]
) -> tuple[Tables, list[Record]]:
    """Three products in PIM, one of them withdrawn from a market (a second event): the order
    service's catalogue once settled, and PIM's events on its topic."""
    for number in range(3):
        pim.put(
            f"/products/KIT-{number}",
            {
                "name": f"Kit {number}",
                "weight_grams": 900,
                "lithium_ion": False,
                "certifications": CERTIFIED_EVERYWHERE,
            },
        )
    pim.post("/products/KIT-0/certifications/CE", {}, method="DELETE")  # a second event

    def order_settled() -> Tables | None:
        rows = databases.rows("order")
        complete = len(rows["catalogued_products"]) == 3 and any(
            withdrawn is not None for _, _, withdrawn in rows["catalogue_listings"]
        )
        time.sleep(1.0)
        return rows if complete and rows == databases.rows("order") else None

    live = eventually(order_settled, timeout=60, what="the catalogue in the order service")
    reader = topic("pim.events.v1")

    def published() -> list[Record] | None:
        withdrawn = any(r.json()["event_type"] == "CatalogueEntryWithdrawn" for r in reader.poll())
        return reader.records if withdrawn else None

    return live, eventually(published, what="PIM's events on its topic")


def stamped(record: Record, broker_life: str) -> Record:
    """The record as a relay publishing for `broker_life` would have published it."""
    return dataclasses.replace(
        record, headers={**record.headers, BROKER_INCARNATION_HEADER: broker_life}
    )


def test_what_a_relay_published_for_the_broker_s_last_life_is_read_in_its_place(
    services: Services,
    stack: Stack,
    topic: Callable[[str], TopicReader],
    empty_broker: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The broker came back empty, and PIM's relay published the withdrawal (KIT-0's second event)
    before it noticed: it stands at the head of the topic, stamped with the broker's last life,
    ahead of the store published again. Read there, KIT-0's events would seem to start at version
    2 and the replay would be refused; a replay from the topics reads it in its place instead, and
    rebuilds the catalogue as it is live."""
    pim, order = services("pim", "order")
    databases = Databases(stack)
    live, records = catalogue_published(pim, databases, topic)
    order.stop()
    moved = ServiceProcess("order", dataclasses.replace(stack, bootstrap_servers=empty_broker))
    moved.start()
    try:
        life = asyncio.run(BrokerIncarnation(empty_broker, client_id="test").marked())
        assert life is not None  # marked by the moved order service
        withdrawal = next(r for r in records if r.json()["aggregate_version"] == 2)
        copy_to(
            empty_broker,
            [stamped(withdrawal, "the-last-life"), *(stamped(r, life) for r in records)],
        )
        summary = replay(capsys, moved, "topics")
        assert summary.startswith("replayed "), summary
        assert databases.rows("order") == live
    finally:
        moved.stop()


def refused_replay(capsys: pytest.CaptureFixture[str], service: ServiceProcess) -> str:
    """Replay from the topics, which must be refused: the CLI's message."""
    capsys.readouterr()
    with pytest.raises(ReplayNotSwapped) as refused:
        cli.main(["replay", service.name, "--url", service.url, "--from", "topics"])
    assert "refused" in capsys.readouterr().err  # the progress line's last state
    return str(refused.value.code)


async def test_a_swap_takes_in_what_arrived_meanwhile_and_waiting_writers_land_in_the_copy(
    postgres_dsn: str,
) -> None:
    """The swap at the end of a replay, without a broker: events the replay read, events applied
    live meanwhile, the tail read under the lock, and a live writer that waited for the lock."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    settings = OrderSettings.model_validate(
        {"POSTGRES_DSN": postgres_dsn, "UNITRAIL_DATABASE_PREFIX": prefix}
    )
    reference_location = settings.database.with_database(f"{prefix}_reference")
    for location in (settings.database, reference_location):
        await ensure_database(location)
    live, reference = OrderApplication(settings.database), OrderApplication(reference_location)
    runner = BlockingRunner(workers=2)
    events = [*catalogue_events(8)]
    try:
        for envelope, event in events:
            reference.project(event, envelope)
        for envelope, event in events[:6]:
            live.project(event, envelope)
        rebuild = ShadowRebuild(live, settings, runner)
        await rebuild.begin()
        await rebuild.apply(events[:4])  # the replay read up to here
        for envelope, event in events[6:12]:
            live.project(event, envelope)  # consumed live meanwhile
        assert len(order_rows(live)["catalogued_products"]) == 6, "live answers meanwhile"
        waiting = threading.Thread(target=lambda: live.project(events[-1][1], events[-1][0]))

        async def catch_up() -> int:
            waiting.start()  # a live writer, blocked by the lock until the swap commits
            await asyncio.sleep(0.5)
            assert waiting.is_alive()
            await rebuild.apply(events[4:-1])  # what arrived since the replay sized up
            return len(events) - 5

        assert await rebuild.swap(catch_up, complete=True) == len(events) - 5
        await asyncio.to_thread(waiting.join, 10)
        assert order_rows(live) == order_rows(reference)
        assert await rebuild.counts() == {
            "catalogue_listings": 8,
            "catalogued_products": 8,
            "orders_awaiting_skus": 0,
            "orders_by_state": 0,
        }
        schemas = {row["nspname"] for row in live.read("SELECT nspname FROM pg_namespace")}
        assert "read_model_retired" in schemas, "the old tables are dropped apart from the swap"
        await rebuild.retire()
        schemas = {row["nspname"] for row in live.read("SELECT nspname FROM pg_namespace")}
        assert {"read_model_rebuild", "read_model_retired"}.isdisjoint(schemas)
        again = ShadowRebuild(live, settings, runner)
        await again.begin()  # the lock was let go
        await again.abandon()
    finally:
        runner.shutdown()
        live.close()
        reference.close()


def catalogue_events(products: int) -> list[Projected]:
    """Products registered, each then withdrawn from the EU catalogue, as the PIM publishes."""
    events: list[Projected] = []
    for number in range(products):
        product_id, sku = uuid.uuid4(), f"SKU-{number:02d}"
        for version, event in enumerate(
            [
                ProductRegistered(
                    product_id=product_id,
                    sku=sku,
                    name=sku,
                    weight_grams=500,
                    lithium_ion=False,
                    serialized=True,
                    warranty_months=24,
                ),
                CatalogueEntryWithdrawn(
                    product_id=product_id, market="EU", sku=sku, reason="no valid CE certificate"
                ),
            ],
            start=1,
        ):
            envelope = Envelope.of(
                event,
                producer="pim",
                aggregate_id=product_id,
                aggregate_version=version,
                occurred_at=datetime.now(UTC),
                correlation_id=f"test:{sku}",
            )
            events.append((envelope, event))
    return events


def order_rows(application: OrderApplication) -> Tables:
    return {
        table: sorted(
            (tuple(row.values()) for row in application.read(f"SELECT * FROM {table}")), key=repr
        )
        for table in tables_of(order_read_models)
    }
