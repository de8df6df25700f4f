"""Crashes lose nothing and double nothing; racing orders never oversell."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from eventsourcing.persistence import IntegrityError

from services.inventory.application import InventoryApplication
from services.inventory.domain import Receipt, RequestedLine
from services.runtime.database import PostgresLocation, ensure_database
from tests.integration.harness import (
    Channel,
    Services,
    Topics,
    by_order,
    channel_order,
    eventually,
)

pytestmark = pytest.mark.integration


def test_services_killed_mid_stream_and_restarted_lose_no_event_and_apply_none_twice(
    services: Services, channel: Channel, topic: Topics
) -> None:
    order, inventory = services("order", "inventory")
    inventory.receive_stock("LAPTOP-14", "WH-A", 1000)
    orders_topic = topic("order.events.v1")
    inventory_topic = topic("inventory.events.v1")
    total = 60

    def publish_steadily() -> None:
        for number in range(total):
            channel.send(channel_order(f"K{number:04}", lines=[("LAPTOP-14", 1)]))
            time.sleep(0.03)

    publisher = threading.Thread(target=publish_steadily)
    publisher.start()
    eventually(lambda: len(orders_topic.distinct_events("OrderPaid")) >= 10, what="10 paid")
    inventory.kill()
    inventory.start()
    eventually(lambda: len(orders_topic.distinct_events("OrderAllocated")) >= 25, what="25")
    order.kill()
    order.start()
    publisher.join()

    allocated = eventually(
        lambda: len(orders_topic.distinct_events("OrderAllocated")) == total,
        timeout=60,
        what=f"{total} allocated orders",
    )
    assert allocated
    assert inventory.get("/stock/LAPTOP-14")["locations"][0]["reserved"] == total
    reservations = inventory_topic.distinct_events("StockReserved").values()
    assert sorted(len(events) for events in by_order(reservations).values()) == [1] * total
    assert len(inventory_topic.distinct_events("StockItemReserved")) == total
    per_order = by_order(orders_topic.distinct_events("OrderAllocated").values())
    assert len(per_order) == total
    assert all(len(events) == 1 for events in per_order.values())


def test_fifty_orders_from_three_channels_racing_for_ten_units_reserve_exactly_ten(
    services: Services, channel: Channel, topic: Topics
) -> None:
    # Two inventory processes share the order topic's partitions, so reservations of the same
    # SKU really run at the same time in different processes.
    order, inventory, _ = services("order", "inventory", "inventory")
    inventory.receive_stock("CONSOLE-X", "WH-A", 6)
    inventory.receive_stock("CONSOLE-X", "WH-B", 4)
    orders_topic = topic("order.events.v1")
    channels = ["webshop", "amazon-us", "ebay-us"]

    def send_orders(name: str, count: int) -> None:
        connector = Channel(channel.bootstrap_servers)  # each channel has its own connector
        for number in range(count):
            connector.send(
                channel_order(f"{name}-{number}", channel=name, lines=[("CONSOLE-X", 1)])
            )

    senders = [
        threading.Thread(target=send_orders, args=(name, count))
        for name, count in zip(channels, (17, 17, 16), strict=True)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()

    def decided() -> list[dict[str, object]] | None:
        events = orders_topic.events("OrderAllocated") + orders_topic.events("OrderBackordered")
        return events if len(events) == 50 else None

    outcomes = eventually(decided, timeout=90, what="50 decided orders")
    allocated = [e for e in outcomes if e["event_type"] == "OrderAllocated"]
    assert len(allocated) == 10
    levels = inventory.get("/stock/CONSOLE-X")["locations"]
    assert {level["location"]: level["reserved"] for level in levels} == {"WH-A": 6, "WH-B": 4}
    assert all(level["available"] == 0 for level in levels)
    assert order.healthy()


@pytest.fixture
def inventory_application(postgres_dsn: str) -> Iterator[InventoryApplication]:
    location = PostgresLocation.from_dsn(postgres_dsn).with_database(
        f"race_{uuid.uuid4().hex[:10]}"
    )
    asyncio.run(ensure_database(location))
    application = InventoryApplication(location)
    yield application
    application.close()


def test_concurrent_reservations_of_the_last_units_never_both_commit(
    inventory_application: InventoryApplication,
) -> None:
    inventory_application.receive_stock(
        "PHONE-9", Receipt(location="WH-A", quantity=10, reason="initial-count", actor="test")
    )
    conflicts = 0
    lock = threading.Lock()

    def reserve_one() -> None:
        nonlocal conflicts
        order_id = uuid.uuid4()
        while True:
            try:
                inventory_application.reserve_for_order(order_id, [RequestedLine(1, "PHONE-9", 1)])
                return
            except IntegrityError:
                with lock:
                    conflicts += 1

    with ThreadPoolExecutor(max_workers=8) as workers:
        for _ in range(40):
            workers.submit(reserve_one)

    (level,) = inventory_application.get_stock_levels("PHONE-9")
    assert (level.on_hand, level.reserved, level.available) == (10, 10, 0)
    assert conflicts > 0, "the threads did not race; the test proved nothing"
