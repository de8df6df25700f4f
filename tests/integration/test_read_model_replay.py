"""Any service's read models rebuilt from scratch, from the topics (offset 0) and from the event
stores, on the real system: the rebuilt tables equal the live ones row for row, replace them, and
go on consuming live afterwards."""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from contracts.envelope import Envelope
from contracts.pim import CatalogueEntryWithdrawn, ProductRegistered
from infra import cli
from services.inventory.projections import read_models as inventory_read_models
from services.order.application import OrderApplication
from services.order.config import OrderSettings
from services.order.projections import read_models as order_read_models
from services.pim.projections import read_models as pim_read_models
from services.runtime.database import PostgresLocation, ensure_database
from services.runtime.eventstore import BlockingRunner
from services.runtime.projections import ReadModels
from services.runtime.replay import ShadowRebuild
from services.runtime.replay.sources import Projected
from services.shipping.projections import read_models as shipping_read_models
from tests.integration.harness import (
    CERTIFIED_EVERYWHERE,
    Channel,
    ServiceProcess,
    Services,
    Stack,
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
    return [
        match.group(1)
        for statement in read_models.tables
        if (match := re.match(r"CREATE TABLE IF NOT EXISTS (\w+)", statement))
    ]


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

        assert await rebuild.swap(catch_up) == len(events) - 5
        await asyncio.to_thread(waiting.join, 10)
        assert order_rows(live) == order_rows(reference)
        assert await rebuild.counts() == {"catalogue_listings": 8, "catalogued_products": 8}
        schemas = {row["nspname"] for row in live.read("SELECT nspname FROM pg_namespace")}
        assert {"read_model_rebuild", "read_model_retired"}.isdisjoint(schemas)
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
