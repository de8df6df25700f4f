"""At-least-once delivery, exactly-once effects; poison input parked, never lost, never blocking."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
import uuid
from decimal import Decimal

import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contracts.channel import ChannelOrderMessage, order_id_for
from contracts.inventory import ReservationLine, ReservationReleased, StockReserved
from contracts.order import LocationQuantity, OrderLine, OrderPaid, OrderPlaced
from contracts.personal import AddressOnRecord, CustomerOnRecord
from contracts.topics import SERVICES
from infra import cli
from infra.embedded import free_port
from services.runtime.database import PostgresLocation
from services.runtime.privacy import is_sealed
from tests.integration.harness import (
    Channel,
    Record,
    ServiceProcess,
    Services,
    Stack,
    Topics,
    by_order,
    channel_order,
    eventually,
    published,
    register_in_pim,
    repeated,
)

pytestmark = pytest.mark.integration


def order_line(sku: str, quantity: int) -> OrderLine:
    return OrderLine(line_number=1, sku=sku, quantity=quantity, unit_price=Decimal("10.00"))


def order_placed(order_id: uuid.UUID) -> bytes:
    """Version 1 of an order: inventory tracks it but has nothing to do for it."""
    message = ChannelOrderMessage.model_validate(channel_order(str(order_id)))
    payload = OrderPlaced(
        order_id=order_id,
        channel=message.channel,
        channel_order_id=message.channel_order_id,
        placed_at=message.placed_at,
        customer=CustomerOnRecord.model_validate(message.customer.model_dump()),
        shipping_address=AddressOnRecord.model_validate(message.shipping_address.model_dump()),
        lines=[order_line("X", 1)],
        currency="EUR",
        order_total=Decimal("10.00"),
        fraud_score=0,
    )
    return published(payload, producer="order", aggregate_id=order_id, version=1)


def order_paid(order_id: uuid.UUID, version: int, sku: str, quantity: int) -> bytes:
    payload = OrderPaid(
        order_id=order_id,
        lines=[order_line(sku, quantity)],
        shipping_country="DE",
        currency="EUR",
        order_total=Decimal("10.00") * quantity,
    )
    return published(payload, producer="order", aggregate_id=order_id, version=version)


def stock_reserved(order_id: uuid.UUID, reservation_id: uuid.UUID, version: int) -> bytes:
    payload = StockReserved(
        reservation_id=reservation_id,
        order_id=order_id,
        lines=[
            ReservationLine(
                line_number=1,
                sku="LAPTOP-14",
                quantity_requested=1,
                quantity_reserved=1,
                quantity_short=0,
                allocations=[LocationQuantity(location="WH-A", quantity=1)],
            )
        ],
    )
    return published(payload, producer="inventory", aggregate_id=reservation_id, version=version)


def reservation_released(order_id: uuid.UUID, reservation_id: uuid.UUID, version: int) -> bytes:
    payload = ReservationReleased(
        reservation_id=reservation_id, order_id=order_id, reason="order cancelled"
    )
    return published(payload, producer="inventory", aggregate_id=reservation_id, version=version)


def test_the_same_channel_message_twice_creates_one_order(
    services: Services, channel: Channel, topic: Topics
) -> None:
    pim, order, inventory = services("pim", "order", "inventory")
    register_in_pim(pim, order, "LAPTOP-14")
    inventory.receive_stock("LAPTOP-14", "WH-A", 5)
    orders_topic = topic("order.events.v1")
    message = channel_order("2001", lines=[("LAPTOP-14", 1)])

    channel.send(message)
    channel.send(message)
    channel.send(channel_order("2002"))  # a later order on another key: both copies were handled

    eventually(lambda: len(orders_topic.events("OrderAllocated")) == 2, what="two allocations")
    events = by_order(orders_topic.events())[str(order_id_for("webshop", "2001"))]
    assert [event["event_type"] for event in events] == [
        "OrderPlaced",
        "OrderPaid",
        "OrderAllocated",
        "OrderReleasedToWarehouse",
    ]
    assert order.get("/orders/by-channel/webshop/2001")["version"] == 4
    assert inventory.get("/stock/LAPTOP-14")["locations"][0]["reserved"] == 2


@pytest.mark.parametrize("processes", [1, 2], ids=["one-inventory", "two-inventories"])
def test_the_same_integration_event_delivered_twice_has_one_effect(
    services: Services, channel: Channel, topic: Topics, processes: int
) -> None:
    """With two processes of inventory the copies may reach either: still one effect, and each
    event on the topic once (one relay publishes)."""
    inventory, *_ = services(*["inventory"] * processes)
    inventory.receive_stock("CAMERA-X", "WH-A", 10)
    inventory_topic = topic("inventory.events.v1")
    order_id = uuid.uuid4()

    channel.publish("order.events.v1", order_placed(order_id), key=str(order_id))
    paid = order_paid(order_id, 2, "CAMERA-X", 3)
    channel.publish("order.events.v1", paid, key=str(order_id))
    channel.publish("order.events.v1", paid, key=str(order_id))

    eventually(lambda: inventory_topic.events("StockReserved"), what="StockReserved")
    second_order = uuid.uuid4()  # proves the duplicate was consumed before this one
    channel.publish("order.events.v1", order_placed(second_order), key=str(order_id))
    channel.publish(
        "order.events.v1", order_paid(second_order, 2, "CAMERA-X", 1), key=str(order_id)
    )
    eventually(lambda: len(inventory_topic.events("StockReserved")) == 2, what="second")
    assert len(inventory_topic.events("StockItemReserved")) == 2
    assert inventory.get("/stock/CAMERA-X")["locations"][0]["reserved"] == 4
    assert repeated(inventory_topic) == []


def test_a_version_gap_is_parked_and_applied_in_order_once_the_missing_version_arrives(
    services: Services, channel: Channel, topic: Topics
) -> None:
    (inventory,) = services("inventory")
    inventory.receive_stock("CAMERA-X", "WH-A", 10)
    dead_letters = topic("inventory.deadletter.v1")
    order_id = uuid.uuid4()

    # Version 2 arrives before version 1: parked, not applied.
    channel.publish("order.events.v1", order_paid(order_id, 2, "CAMERA-X", 3), key=str(order_id))

    copied = eventually(dead_letters.poll, what="the gap to be reported")
    assert "the last applied is 0" in copied[0].headers["error"]
    assert copied[0].headers["error-type"] == "VersionGap"
    parked = inventory.get("/dead-letters")
    assert parked["counts"] == {"dead": 0, "parked": 1}
    assert inventory.get("/stock/CAMERA-X")["locations"][0]["reserved"] == 0

    # Version 1 arrives (e.g. the producer's relay re-publishing): both apply, in order.
    channel.publish("order.events.v1", order_placed(order_id), key=str(order_id))
    eventually(
        lambda: inventory.get("/stock/CAMERA-X")["locations"][0]["reserved"] == 3,
        what="the parked version to be applied after the missing one",
    )
    letters = inventory.get("/dead-letters?include_resolved=true")
    assert letters["counts"] == {"dead": 0, "parked": 0}
    assert [letter["state"] for letter in letters["dead_letters"]] == ["unparked"]


def test_a_dead_letter_parks_its_aggregate_and_a_redrive_applies_the_sequence_once(
    services: Services,
    channel: Channel,
    topic: Topics,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pim, order = services("pim", "order")
    register_in_pim(pim, order, "LAPTOP-14")
    dead_letters = topic("order.deadletter.v1")
    order_id = order_id_for("webshop", "4401")
    reservation_id = uuid.uuid5(order_id, "reservation")

    # Inventory's reservation arrives before the order exists here: it cannot be applied.
    channel.publish(
        "inventory.events.v1",
        stock_reserved(order_id, reservation_id, version=1),
        key=str(reservation_id),
    )
    eventually(dead_letters.poll, what="the reservation to be dead-lettered")
    # The next event of the same reservation waits behind it instead of being a gap of its own.
    channel.publish(
        "inventory.events.v1",
        reservation_released(order_id, reservation_id, version=2),
        key=str(reservation_id),
    )
    letters = eventually(
        lambda: (
            (found := order.get("/dead-letters"))["counts"] == {"dead": 1, "parked": 1} and found
        ),
        what="the later event to be parked behind the dead letter",
    )
    dead = next(letter for letter in letters["dead_letters"] if letter["state"] == "dead")
    assert dead["reason"].startswith("failed after")

    # `unitrail status` shows it; the services not started here are down, so it exits 1
    nowhere = f"http://127.0.0.1:{free_port()}"
    for service in SERVICES:
        monkeypatch.setenv(
            f"UNITRAIL_{service.upper()}_URL", order.url if service == "order" else nowhere
        )
    assert cli.main(["--order-url", order.url, "status"]) == 1
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert lines["order"].split()[1:2] + lines["order"].split()[4:5] == ["healthy", "1/1"]
    assert lines["pim"].split()[1] == "unreachable"
    assert set(lines) == set(SERVICES)
    # ... and so does /metrics, open to a Prometheus scraper without a token
    exposition = metrics_of(order)
    assert 'unitrail_dead_letters{service="order"} 1.0' in exposition
    assert 'unitrail_parked_messages{service="order"} 1.0' in exposition
    assert letters_by_type(exposition) == {("dead", dead["error_type"]): 1, ("parked", "Parked"): 1}

    # The cause goes away (the order arrives); an operator redrives the sequence.
    channel.send(channel_order("4401"), key="webshop:4401")
    eventually(lambda: order.exists(f"/orders/{order_id}"), what="the order")
    unitrail = ["--order-url", order.url, "dead-letters"]
    cli.main([*unitrail, "list", "--service", "order"])
    assert f"#{dead['id']}" in capsys.readouterr().out
    cli.main([*unitrail, "redrive", "order", str(dead["id"]), "--on-behalf-of", "pager"])
    assert capsys.readouterr().out.splitlines()[1:] == [
        f"  #{dead['id']} v1: redriven",
        f"  #{dead['id'] + 1} v2: redriven",
    ]
    with pytest.raises(urllib.error.HTTPError) as again:
        order.post(f"/dead-letters/{dead['id']}/redrive", {})
    assert again.value.code == 409
    exposition = metrics_of(order)
    assert 'unitrail_dead_letters{service="order"} 0.0' in exposition
    assert 'unitrail_parked_messages{service="order"} 0.0' in exposition
    assert letters_by_type(exposition) == {}

    # The CLI's token names the person at the terminal, in the operator's role.
    resolved = order.get("/dead-letters?include_resolved=true")["dead_letters"]
    assert {letter["state"] for letter in resolved} == {"redriven"}
    assert {letter["resolved_by"].split(" ", 1)[1] for letter in resolved} == {
        "(operator) on behalf of pager"
    }
    assert order.get(f"/orders/{order_id}")["status"] == "released-to-warehouse"


def test_poison_messages_are_dead_lettered_with_the_reason_and_the_partition_keeps_moving(
    services: Services, channel: Channel, topic: Topics
) -> None:
    _, inventory = services("order", "inventory")
    inventory.receive_stock("LAPTOP-14", "WH-A", 5)
    dead_letters = topic("order.deadletter.v1")
    orders_topic = topic("order.events.v1")
    key = "webshop:3001"  # one key: the same partition for all three messages
    not_json = b'{"channel": "webshop", "channel_order_id": '
    invalid = channel_order("3001") | {"currency": "dollars", "lines": []}

    channel.send(not_json, key=key)
    channel.send(invalid, key=key)
    channel.send(channel_order("3001"), key=key)

    eventually(lambda: orders_topic.events("OrderAllocated"), what="the good message")
    parked: list[Record] = eventually(
        lambda: dead_letters.poll() if len(dead_letters.poll()) >= 2 else None, what="2 parked"
    )
    # Kept for ever, so a channel's message is copied with its customer sealed, and bytes that
    # are not JSON (they may hold a customer's data) only described.
    assert parked[0].value.startswith(f"(not kept: {len(not_json)} bytes, not JSON".encode())
    copied = json.loads(parked[1].value)
    personal = {"customer": invalid["customer"], "shipping_address": invalid["shipping_address"]}
    assert copied | personal == invalid
    assert is_sealed(copied["customer"]["name"])
    assert is_sealed(copied["shipping_address"]["line1"])
    assert parked[0].headers["error"].startswith("not valid JSON")
    assert parked[1].headers["error"].startswith("schema violation")
    assert "currency" in parked[1].headers["error"]
    assert "lines" in parked[1].headers["error"]
    assert {record.headers["source-topic"] for record in parked} == {"channel.orders.v1"}
    assert parked[0].key == key.encode()


def rewind_relay(stack: Stack, service: str) -> int:
    """Put the relay's recorded position back to 0; return where it was."""
    location = PostgresLocation.from_dsn(stack.postgres_dsn).with_database(
        f"{stack.database_prefix}_{service}"
    )

    async def rewind() -> int:
        connection = await asyncpg.connect(**location.asyncpg_kwargs())
        try:
            before = await connection.fetchval("SELECT notification_id FROM relay_position")
            await connection.execute("UPDATE relay_position SET notification_id = 0")
            return int(before)
        finally:
            await connection.close()

    return asyncio.run(rewind())


def test_a_relay_that_published_but_did_not_record_its_position_publishes_again_and_nothing_doubles(
    services: Services, channel: Channel, topic: Topics, stack: Stack
) -> None:
    """Killed after publishing, before recording: the next start finds the position of before the
    publish (we put it there, as the crash would have left it) and publishes the events again."""
    order, inventory = services("order", "inventory")
    inventory.receive_stock("LAPTOP-14", "WH-A", 10)
    orders_topic = topic("order.events.v1")
    for number in range(5):
        channel.send(channel_order(f"4{number:03}", lines=[("LAPTOP-14", 1)]))
    eventually(lambda: len(orders_topic.events("OrderAllocated")) == 5, what="5 allocations")

    order.kill()
    assert rewind_relay(stack, "order") == 20  # 4 events for each of the 5 orders
    order.start()

    eventually(lambda: len(orders_topic.events()) == 40, what="every event published twice")
    channel.send(channel_order("4999", lines=[("LAPTOP-14", 1)]))
    eventually(lambda: len(orders_topic.distinct_events("OrderAllocated")) == 6, what="6th")
    assert inventory.get("/stock/LAPTOP-14")["locations"][0]["reserved"] == 6
    inventory_topic = topic("inventory.events.v1")
    assert len(inventory_topic.events("StockReserved")) == 6
    assert len(orders_topic.events("OrderAllocated")) == 11  # 5 twice, and the new one


def letters_by_type(exposition: str) -> dict[tuple[str, str], float]:
    """`unitrail_dead_letters_by_type` of an exposition: (state, error type) to how many."""
    return {
        (sample.labels["state"], sample.labels["error_type"]): sample.value
        for family in text_string_to_metric_families(exposition)
        if family.name == "unitrail_dead_letters_by_type"
        for sample in family.samples
    }


def metrics_of(service: ServiceProcess) -> str:
    """A service's Prometheus exposition, as a scraper reads it (no token)."""
    with urllib.request.urlopen(f"{service.url}/metrics", timeout=10) as reply:
        return str(reply.read().decode())
