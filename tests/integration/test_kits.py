"""Kits that ship: a kit (bundle) ordered on a channel reserves its components whole at one
location, the simulated 3PL picks and packs them as component lines naming the kit and their serials
are checked at packing, a kit no location can make waits whole until a camera moved there by the
simulated 3PL arrives, a returned component is refunded its share of the kit's price, and a 3PL
that swaps a kit's serials is refused component by component.

One stack for the module (the tests run in order, each on what the one before left); the channel is
a plain Kafka client writing what `ChannelOrderMessage.v1` allows, and once the simulated partners
stop, the channel and the 3PL are built only from the published schemas.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from contracts.channel import order_id_for
from infra.embedded import EmbeddedBroker, free_port
from infra.topics import ensure_topics
from tests.integration.examples import RECORD_EXAMPLES, record_examples
from tests.integration.harness import (
    CERTIFIED_EVERYWHERE,
    Channel,
    SchemaBuiltChannel,
    SchemaBuiltThreePL,
    ServiceProcess,
    SimulatorsProcess,
    Stack,
    TopicReader,
    channel_order,
    eventually,
    receive_serials,
    schema_validator,
)

pytestmark = pytest.mark.integration

SERVICES = ("pim", "order", "inventory", "warehouse_adapter", "shipping", "returns")
KIT = "CAMERA-KIT"
COMPONENTS = {"CAMERA-X": 1, "LENS-50": 2}
KIT_PRICE = "1199.00"
PASSED = {
    "powers_on": True,
    "screen_intact": True,
    "accessories_complete": True,
    "factory_seal_intact": True,
    "cosmetic_condition": True,
}


@dataclass
class System:
    stack: Stack
    services: dict[str, ServiceProcess]
    partners: SimulatorsProcess
    channel: Channel
    readers: list[TopicReader]

    def topic(self, name: str) -> TopicReader:
        reader = TopicReader(self.stack.bootstrap_servers, name)
        self.readers.append(reader)
        return reader


@pytest.fixture(scope="module")
def system(postgres_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    directory = tmp_path_factory.mktemp("kits")
    with pytest.MonkeyPatch.context() as patch, contextlib.ExitStack() as stop:
        patch.setenv("UNITRAIL_DATA_DIR", str(directory))
        broker = EmbeddedBroker(free_port())
        bootstrap = broker.start()
        stop.callback(broker.stop)
        asyncio.run(ensure_topics(bootstrap))
        stack = Stack(postgres_dsn, bootstrap, f"t{uuid.uuid4().hex[:10]}", directory)
        services = {name: ServiceProcess(name, stack) for name in SERVICES}
        for service in services.values():
            service.launch()
            stop.callback(service.stop)
        for service in services.values():
            service.wait_until_healthy()
        partners = SimulatorsProcess(stack, {"UNITRAIL_SIMULATED_3PL_TRANSFER_DELAY": "0"}).start()
        stop.callback(partners.stop)
        channel = Channel(bootstrap)
        stop.callback(channel.close)
        system = System(stack, services, partners, channel, [])
        yield system
        for reader in system.readers:
            reader.close()
        if os.environ.get(RECORD_EXAMPLES) == "1":
            record_examples(bootstrap)


def put_product(system: System, sku: str, **fields: Any) -> None:
    system.services["pim"].put(
        f"/products/{sku}",
        {
            "name": sku,
            "weight_grams": 700,
            "lithium_ion": False,
            "warranty_months": 24,
            "serialized": True,
            "certifications": CERTIFIED_EVERYWHERE,
        }
        | fields,
    )


def send_order(system: System, number: str, lines: list[tuple[str, int]]) -> uuid.UUID:
    message = channel_order(number, lines=lines)
    schema_validator("ChannelOrderMessage.v1").validate(message)
    system.channel.send(message)
    return order_id_for("webshop", number)


def delivered(system: System, order_id: uuid.UUID, number: str) -> dict[str, Any]:
    order = system.services["order"]

    def view() -> dict[str, Any] | None:
        path = f"/orders/{order_id}"
        found: dict[str, Any] | None = order.get(path) if order.exists(path) else None
        return found if found is not None and found["status"] == "delivered" else None

    return eventually(view, timeout=120, what=f"order {number} delivered")


def of_order(reader: TopicReader, event_type: str, order_id: uuid.UUID) -> list[dict[str, Any]]:
    return [
        event["payload"]
        for event in reader.events(event_type)
        if event["payload"]["order_id"] == str(order_id)
    ]


def serials_shipped(reader: TopicReader, order_id: uuid.UUID) -> list[tuple[int, str, str]]:
    return sorted(
        (unit["line_number"], unit["sku"], unit["serial"])
        for confirmed in of_order(reader, "ShipmentConfirmed", order_id)
        for unit in confirmed["units"]
    )


def stock_at(system: System, sku: str, location: str) -> dict[str, Any]:
    stock = system.services["inventory"].get(f"/stock/{sku}")
    level: dict[str, Any] = next(
        (level for level in stock["locations"] if level["location"] == location),
        {"location": location, "on_hand": 0, "reserved": 0},
    )
    return level


def test_a_kit_order_ships_its_components_with_their_serials_to_delivered(system: System) -> None:
    for sku in COMPONENTS:
        put_product(system, sku)
    put_product(
        system,
        KIT,
        weight_grams=1_400,
        components=[{"sku": sku, "quantity": n} for sku, n in COMPONENTS.items()],
    )
    order = system.services["order"]
    eventually(
        lambda: all(
            order.get(f"/orders/eligibility/{sku}")["checked"] for sku in (KIT, *COMPONENTS)
        ),
        what="the order service to know the kit",
    )
    inventory = system.services["inventory"]
    eventually(lambda: inventory.exists(f"/stock/bundles/{KIT}"), what="inventory knows the kit")
    # WH-A can make one kit; WH-B has lenses but no camera
    receive_serials(inventory, "CAMERA-X", "WH-A", "CAM-1")
    receive_serials(inventory, "LENS-50", "WH-A", "LENS-1", "LENS-2")
    receive_serials(inventory, "LENS-50", "WH-B", "LENS-3", "LENS-4")
    inventory_events = system.topic("inventory.events.v1")
    adapter_events = system.topic("warehouse_adapter.events.v1")

    order_id = send_order(system, "K-1", [(KIT, 1)])
    delivered(system, order_id, "K-1")

    (reserved,) = of_order(inventory_events, "StockReserved", order_id)
    (line,) = reserved["lines"]
    assert (line["sku"], line["quantity_reserved"], line["allocations"]) == (
        KIT,
        1,
        [{"location": "WH-A", "quantity": 1}],
    )
    assert line["components"] == [
        {"sku": "CAMERA-X", "quantity_per_kit": 1, "quantity_reserved": 1},
        {"sku": "LENS-50", "quantity_per_kit": 2, "quantity_reserved": 2},
    ]
    (requested,) = of_order(adapter_events, "FulfilmentRequested", order_id)
    schema_validator("FulfilmentRequested.v1").validate(requested)
    assert [
        (x["line_number"], x["sku"], x["quantity"], x["kit_sku"]) for x in requested["lines"]
    ] == [
        (1, "CAMERA-X", 1, KIT),
        (1, "LENS-50", 2, KIT),
    ]
    assert serials_shipped(adapter_events, order_id) == [
        (1, "CAMERA-X", "CAM-1"),
        (1, "LENS-50", "LENS-1"),
        (1, "LENS-50", "LENS-2"),
    ]
    captured = {e["serial"] for e in of_order(adapter_events, "UnitSerialCaptured", order_id)}
    assert captured == {"CAM-1", "LENS-1", "LENS-2"}
    # the kit's components left stock; what each channel may sell of the kit follows them
    assert stock_at(system, "LENS-50", "WH-A")["on_hand"] == 0
    assert inventory.get(f"/stock/bundles/{KIT}")["available_to_sell"]["webshop"] == 0


def test_a_kit_short_waits_whole_until_one_location_can_make_it(system: System) -> None:
    inventory = system.services["inventory"]
    inventory_events = system.topic("inventory.events.v1")
    adapter_events = system.topic("warehouse_adapter.events.v1")
    order_id = send_order(system, "K-2", [(KIT, 1)])

    (short,) = eventually(
        lambda: of_order(inventory_events, "StockShortage", order_id) or None,
        what="the kit short",
    )
    (line,) = short["lines"]
    assert (line["quantity_reserved"], line["quantity_short"], line["allocations"]) == (0, 1, [])
    (owed,) = eventually(
        lambda: of_order(inventory_events, "StockItemBackordered", order_id) or None,
        what="the kit owed",
    )
    assert (owed["sku"], owed["quantity"]) == (KIT, 1)
    (waiting,) = inventory.get(f"/stock/bundles/{KIT}")["backorders"]
    assert (waiting["order_id"], waiting["quantity"]) == (str(order_id), 1)
    # the lenses at WH-B were not taken for the kit while no camera is there
    assert stock_at(system, "LENS-50", "WH-B")["reserved"] == 0

    # a camera where there are no lenses makes no kit: it stays free to sell
    receive_serials(inventory, "CAMERA-X", "WH-C", "CAM-2")
    assert stock_at(system, "CAMERA-X", "WH-C")["reserved"] == 0
    # moved to WH-B, where the lenses are: the 3PLs are asked (the simulated one carries it), and
    # once it arrives the kit is reserved whole there, and ships (at once: the events tell it)
    transfer = inventory.post(
        "/stock/transfers",
        {"sku": "CAMERA-X", "from": "WH-C", "to": "WH-B", "quantity": 1, "serials": ["CAM-2"]},
    )
    (filled,) = eventually(
        lambda: of_order(inventory_events, "BackorderFilled", order_id) or None,
        what="the kit reserved at WH-B once the camera arrived there",
    )
    (line,) = filled["lines"]
    assert line["allocations"] == [{"location": "WH-B", "quantity": 1}]
    assert line["components"] == [
        {"sku": "CAMERA-X", "quantity_per_kit": 1, "quantity_reserved": 1},
        {"sku": "LENS-50", "quantity_per_kit": 2, "quantity_reserved": 2},
    ]
    (arrived,) = eventually(
        lambda: [
            e["payload"]
            for e in inventory_events.events("TransferReceived")
            if e["payload"]["transfer_id"] == transfer["transfer_id"]
        ],
        what="the transfer received",
    )
    assert (arrived["quantity_received"], arrived["actor"]) == (1, "simulated 3PL")
    assert inventory.get(f"/stock/bundles/{KIT}")["backorders"] == []
    delivered(system, order_id, "K-2")

    (reserved,) = of_order(inventory_events, "StockItemBackorderReserved", order_id)
    assert (reserved["sku"], reserved["location"], reserved["quantity"]) == (KIT, "WH-B", 1)
    assert serials_shipped(adapter_events, order_id) == [
        (1, "CAMERA-X", "CAM-2"),
        (1, "LENS-50", "LENS-3"),
        (1, "LENS-50", "LENS-4"),
    ]


def post(service: ServiceProcess, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{service.url}{path}",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"} | service.authorization(),
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_returned_kit_component_is_refunded_its_share_of_the_kit(system: System) -> None:
    system.partners.stop()  # what comes back is the test's to say
    returns = system.services["returns"]
    order_id = order_id_for("webshop", "K-1")
    request = {"order_id": str(order_id), "line_number": 1, "reason": "scratched"}

    status, refused = post(returns, "/rmas", request)
    assert status == 422, refused
    assert "name the component returned: CAMERA-X or LENS-50" in refused["error"]["message"]
    status, refused = post(returns, "/rmas", request | {"sku": "TRIPOD-1"})
    assert status == 422, refused
    assert "TRIPOD-1 is not a component of kit CAMERA-KIT" in refused["error"]["message"]

    status, rma = post(returns, "/rmas", request | {"sku": "LENS-50"})
    assert status == 201, rma
    assert (rma["sku"], rma["kit_sku"], rma["status"]) == ("LENS-50", KIT, "authorised")
    assert sorted(rma["expected_serials"]) == ["LENS-1", "LENS-2"]
    rma_id = rma["rma_id"]
    arrival = {
        "type": "return_received",
        "rma_id": rma_id,
        "location": "WH-A",
        "sku": "LENS-50",
        "serial": "LENS-2",
        "at": datetime.now(UTC).isoformat(),
    }
    system.channel.publish("threepl.receipts.v1", json.dumps(arrival).encode(), key=rma_id)

    def received() -> bool:
        return returns.get(f"/rmas/{rma_id}")["receipt"] is not None

    eventually(received, what="the returned lens at the dock")
    status, inspected = post(returns, f"/rmas/{rma_id}/inspection", {"checklist": PASSED})
    assert status == 200, inspected
    # 1199.00 over the kit's 3 units (a camera, two lenses), rounded down to the cent
    assert inspected["refund"] == {"channel": "webshop", "amount": "399.66", "currency": "USD"}


def test_a_kits_pack_is_checked_serial_by_serial_for_the_component_scanned(
    system: System,
) -> None:
    inventory = system.services["inventory"]
    receive_serials(inventory, "CAMERA-X", "WH-C", "CAM-4")
    receive_serials(inventory, "LENS-50", "WH-C", "LENS-5", "LENS-6")
    connector = SchemaBuiltChannel(system.channel, system.topic)
    threepl = SchemaBuiltThreePL(system.channel, system.topic)
    eventually(lambda: connector.available(KIT) == 1, what="one kit to sell, as the camera allows")
    connector.send(channel_order("K-3", lines=[(KIT, 1)]))
    order_id = connector.order_id("K-3")
    (request,) = [r for r in threepl.requests(3) if r["order_id"] == order_id]
    assert [(x["sku"], x["quantity"], x["kit_sku"]) for x in request["lines"]] == [
        ("CAMERA-X", 1, KIT),
        ("LENS-50", 2, KIT),
    ]
    shipment = request["shipment_id"]
    threepl.send("picked", shipment)

    # the camera's serial and a lens's swapped: each refused for the component it was scanned as
    threepl.pack(
        shipment, (1, "CAMERA-X", "LENS-5"), (1, "LENS-50", "CAM-4"), (1, "LENS-50", "LENS-6")
    )
    (rejected,) = threepl.answer(shipment)
    assert rejected["event_type"] == "PackScanRejected"
    assert sorted(rejected["payload"]["problems"]) == [
        "line 1: serial CAM-4 is not a LENS-50 in stock",
        "line 1: serial LENS-5 is not a CAMERA-X in stock",
    ]
    threepl.pack(
        shipment, (1, "CAMERA-X", "CAM-4"), (1, "LENS-50", "LENS-5"), (1, "LENS-50", "LENS-6")
    )
    assert threepl.answer(shipment, count=2)[-1]["event_type"] == "FulfilmentPacked"
