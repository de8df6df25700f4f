"""A broker that dies and comes back empty: health says so while it is away, and the flow goes on
afterwards by itself (consumers start again from the new broker's offsets, relays publish their
stores again, and nothing is applied twice)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from contracts.channel import order_id_for
from contracts.topics import CHANNEL_ORDERS
from infra.embedded import EmbeddedBroker
from tests.integration.harness import (
    Channel,
    ServiceProcess,
    Stack,
    TopicReader,
    channel_order,
    eventually,
    register_in_pim,
)

pytestmark = pytest.mark.integration


def health(service: ServiceProcess) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{service.url}/health", timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def partitions_of(bootstrap_servers: str, topic: str) -> int:
    metadata = AdminClient({"bootstrap.servers": bootstrap_servers}).list_topics(timeout=10)
    found = metadata.topics.get(topic)
    return len(found.partitions) if found is not None and found.error is None else 0


def test_after_the_broker_comes_back_empty_orders_flow_again_and_none_is_decided_twice(
    restartable_broker: tuple[EmbeddedBroker, Stack],
) -> None:
    broker, stack = restartable_broker
    pim = ServiceProcess("pim", stack).start()
    order = ServiceProcess("order", stack).start()
    inventory = ServiceProcess("inventory", stack).start()
    channel = Channel(stack.bootstrap_servers)
    try:
        register_in_pim(pim, order, "LAPTOP-14")
        inventory.receive_stock("LAPTOP-14", "WH-A", 5)
        channel.send(channel_order("7001"), key="webshop:7001")
        first = order_id_for("webshop", "7001")
        eventually(
            lambda: (
                order.exists(f"/orders/{first}")
                and order.get(f"/orders/{first}")["status"] == "released-to-warehouse"
            ),
            timeout=60,
            what="the first order allocated",
        )
        status, body = health(order)
        assert (status, body["kafka"], body["consumer"]["alive"]) == (200, "ok", True)

        channel.close()
        broker.stop()
        eventually(
            lambda: health(order)[0] == 503, timeout=30, what="health to report the broker away"
        )
        assert health(order)[1]["kafka"].startswith("unavailable")

        broker.start()  # same port, empty
        eventually(lambda: health(order)[0] == 200, timeout=90, what="health to recover")
        # The services create the registry's topics again themselves (the launcher does too).
        eventually(
            lambda: (
                partitions_of(stack.bootstrap_servers, "channel.orders.v1")
                == CHANNEL_ORDERS.partitions
            ),
            timeout=60,
            what="the topics created again",
        )
        channel = Channel(stack.bootstrap_servers)
        channel.send(channel_order("7002"), key="webshop:7002")
        second = order_id_for("webshop", "7002")
        eventually(
            lambda: (
                order.exists(f"/orders/{second}")
                and order.get(f"/orders/{second}")["status"] == "released-to-warehouse"
            ),
            timeout=120,
            what="an order sent after the restart to be allocated",
        )

        # The stores were published again; every effect happened once.
        stock = inventory.get("/stock/LAPTOP-14")["locations"][0]
        assert (stock["on_hand"], stock["reserved"]) == (5, 2)
        reader = TopicReader(stack.bootstrap_servers, "inventory.events.v1")
        eventually(
            lambda: len(reader.distinct_events("StockReserved")) == 2,
            timeout=60,
            what="both reservations on the refilled topic",
        )
        reservations = reader.distinct_events("StockReserved")
        assert {event["payload"]["order_id"] for event in reservations.values()} == {
            str(first),
            str(second),
        }
        reader.close()
    finally:
        channel.close()
        inventory.stop()
        order.stop()
        pim.stop()


def test_health_says_so_until_a_process_has_taken_up_the_broker_that_came_back_empty(
    restartable_broker: tuple[EmbeddedBroker, Stack], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broker that answers again is not yet one the services are on: until a process's relays
    publish for its new life and its consumer joined it, that process's health says so."""
    broker, stack = restartable_broker
    # Order looks at the broker's life rarely, inventory every second: between the two, the
    # broker is back and marked, and order has not taken it up.
    monkeypatch.setenv("UNITRAIL_BROKER_CHECK_SECONDS", "600")
    order = ServiceProcess("order", stack).start()
    monkeypatch.setenv("UNITRAIL_BROKER_CHECK_SECONDS", "1")
    inventory = ServiceProcess("inventory", stack).start()
    try:
        assert health(order)[1]["kafka"] == "ok"
        broker.stop()
        eventually(
            lambda: health(order)[1]["kafka"].startswith("unavailable"),
            timeout=30,
            what="order's health to report the broker away",
        )
        broker.start()  # same port, empty

        def broker_answers(service: ServiceProcess) -> tuple[int, str] | None:
            status, body = health(service)
            kafka: str = body["kafka"]
            return None if kafka.startswith("unavailable") else (status, kafka)

        status, kafka = eventually(
            lambda: broker_answers(order), timeout=30, what="order's health to reach the broker"
        )
        assert status == 503
        assert kafka.startswith(("a new broker, not set up yet", "a new broker life"))
        # Inventory marks the new life and takes it up; order, still on the one before, says so.
        eventually(
            lambda: broker_answers(inventory) == (200, "ok"),
            timeout=60,
            what="inventory to take up the new broker",
        )
        status, kafka = eventually(
            lambda: broker_answers(order), timeout=30, what="order's health to reach the broker"
        )
        assert status == 503
        assert kafka.startswith("a new broker life")
        assert "the relay of order.events.v1" in kafka
        assert "the consumer" in kafka
    finally:
        inventory.stop()
        order.stop()
