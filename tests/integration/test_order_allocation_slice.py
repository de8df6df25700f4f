"""The first slice, end to end: a channel order becomes an allocated (or backordered) order."""

from __future__ import annotations

from functools import partial

import pytest

from contracts.channel import order_id_for
from tests.integration.harness import (
    Channel,
    ServiceProcess,
    Services,
    Topics,
    channel_order,
    eventually,
    register_in_pim,
)

pytestmark = pytest.mark.integration


def test_a_paid_channel_order_is_allocated_and_published_to_any_kafka_client(
    services: Services, channel: Channel, topic: Topics
) -> None:
    pim, order, inventory = services("pim", "order", "inventory")
    register_in_pim(pim, order, "LAPTOP-14")
    inventory.receive_stock("LAPTOP-14", "WH-A", 5)
    orders_topic = topic("order.events.v1")

    channel.send(channel_order("1001", lines=[("LAPTOP-14", 2)]))

    allocated = eventually(lambda: orders_topic.events("OrderAllocated"), what="OrderAllocated")
    order_id = str(order_id_for("webshop", "1001"))
    assert allocated[0]["payload"]["order_id"] == order_id
    assert allocated[0]["payload"]["fully_allocated"] is True
    assert allocated[0]["payload"]["lines"][0]["allocations"] == [
        {"location": "WH-A", "quantity": 2}
    ]
    assert allocated[0]["correlation_id"] == "webshop:1001"
    assert [event["event_type"] for event in orders_topic.events()] == [
        "OrderPlaced",
        "OrderPaid",
        "OrderAllocated",
        "OrderReleasedToWarehouse",
    ]
    assert order.get(f"/orders/{order_id}")["status"] == "released-to-warehouse"
    levels = inventory.get("/stock/LAPTOP-14")["locations"]
    assert levels == [
        {
            "location": "WH-A",
            "on_hand": 5,
            "reserved": 2,
            "available": 3,
            "serials_in_stock": 0,
            "held": {"quarantined": 0, "open-box": 0, "damaged": 0},
        }
    ]


def test_an_order_beyond_stock_is_allocated_as_far_as_stock_allows_and_the_rest_backordered(
    services: Services, channel: Channel, topic: Topics
) -> None:
    _, inventory = services("order", "inventory")
    inventory.receive_stock("LAPTOP-14", "WH-A", 2)
    inventory.receive_stock("LAPTOP-14", "WH-B", 1)
    orders_topic = topic("order.events.v1")

    channel.send(channel_order("1002", lines=[("LAPTOP-14", 5), ("DOCK-USB-C", 1)]))

    allocated = eventually(lambda: orders_topic.events("OrderAllocated"), what="OrderAllocated")
    payload = allocated[0]["payload"]
    assert payload["fully_allocated"] is False
    laptop, dock = payload["lines"]
    assert (laptop["quantity_allocated"], laptop["quantity_backordered"]) == (3, 2)
    assert sorted((a["location"], a["quantity"]) for a in laptop["allocations"]) == [
        ("WH-A", 2),
        ("WH-B", 1),
    ]
    assert (dock["quantity_allocated"], dock["quantity_backordered"]) == (0, 1)


def test_an_order_with_no_stock_at_all_is_backordered(
    services: Services, channel: Channel, topic: Topics
) -> None:
    services("order", "inventory")
    orders_topic = topic("order.events.v1")
    channel.send(channel_order("1003", lines=[("UNSTOCKED-SKU", 1)]))
    backordered = eventually(lambda: orders_topic.events("OrderBackordered"), what="backorder")
    assert backordered[0]["payload"]["lines"][0]["quantity_backordered"] == 1


def test_an_unpaid_order_is_recorded_but_reserves_nothing_until_paid(
    services: Services, channel: Channel, topic: Topics
) -> None:
    order, inventory = services("order", "inventory")
    inventory.receive_stock("LAPTOP-14", "WH-A", 1)
    orders_topic = topic("order.events.v1")

    channel.send(channel_order("1004", paid=False))
    eventually(lambda: orders_topic.events("OrderPlaced"), what="OrderPlaced")
    assert order.get("/orders/by-channel/webshop/1004")["status"] == "placed"
    assert inventory.get("/stock/LAPTOP-14")["locations"][0]["reserved"] == 0

    channel.send(channel_order("1004", paid=True))
    eventually(lambda: orders_topic.events("OrderAllocated"), what="OrderAllocated")
    assert inventory.get("/stock/LAPTOP-14")["locations"][0]["reserved"] == 1


def test_backorders_are_filled_in_order_when_stock_arrives_and_a_cancelled_one_is_withdrawn(
    services: Services, channel: Channel, topic: Topics
) -> None:
    order, inventory = services("order", "inventory")
    orders_topic = topic("order.events.v1")
    stock_topic = topic("inventory.events.v1")
    first, second, third = (str(order_id_for("webshop", number)) for number in ("B1", "B2", "B3"))
    for number, order_id in (("B1", first), ("B2", second), ("B3", third)):
        # one after the other: backorders queue in the order inventory learns of them
        channel.send(channel_order(number, lines=[("LAPTOP-14", 1)]))
        eventually(partial(backordered, order, order_id), what=f"{number} backordered")

    order.post(f"/orders/{second}/cancel", {"reason": "customer changed mind"})
    (withdrawn,) = eventually(
        lambda: stock_topic.events("StockItemBackorderWithdrawn"), what="the backorder withdrawn"
    )
    assert withdrawn["payload"]["order_id"] == second

    inventory.receive_stock("LAPTOP-14", "WH-A", 1)  # one unit: the oldest backorder gets it
    (filled,) = eventually(lambda: stock_topic.events("BackorderFilled"), what="BackorderFilled")
    assert filled["payload"]["order_id"] == first
    (allocated,) = eventually(
        lambda: orders_topic.events("OrderBackorderAllocated"), what="OrderBackorderAllocated"
    )
    assert allocated["payload"]["order_id"] == first
    assert [e["payload"]["order_id"] for e in stock_topic.events("StockItemBackorderReserved")] == [
        first
    ]
    assert order.get(f"/orders/{third}")["status"] == "backordered"
    assert inventory.get("/stock/LAPTOP-14")["locations"][0]["reserved"] == 1


def backordered(order: ServiceProcess, order_id: str) -> bool:
    path = f"/orders/{order_id}"
    return order.exists(path) and order.get(path)["status"] == "backordered"
