"""Holds, releases, cancellations and the signature rule, through the running services."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from contracts.channel import order_id_for
from services.runtime.auth import Role
from tests.integration.harness import (
    Channel,
    ServiceProcess,
    Services,
    Topics,
    channel_order,
    eventually,
    register_in_pim,
    request,
)

pytestmark = pytest.mark.integration


def refused(service: ServiceProcess, path: str, body: dict[str, Any]) -> tuple[int, str]:
    """POST that is expected to fail: the status and the error detail."""
    with pytest.raises(urllib.error.HTTPError) as failure:
        service.post(path, body)
    return failure.value.code, json.loads(failure.value.read())["error"]["message"]


def test_a_high_fraud_score_holds_the_order_until_a_reviewer_releases_it(
    services: Services, channel: Channel, topic: Topics
) -> None:
    pim, order, inventory = services("pim", "order", "inventory")
    register_in_pim(pim, order, "LAPTOP-14")
    inventory.receive_stock("LAPTOP-14", "WH-A", 5)
    orders_topic = topic("order.events.v1")
    risky = channel_order("6001") | {"fraud_score": 92}

    channel.send(risky)
    held = eventually(lambda: orders_topic.events("OrderHeld"), what="OrderHeld")
    assert held[0]["payload"]["reason"] == "fraud score 92 is at or above 80"
    eventually(lambda: orders_topic.events("OrderAllocated"), what="stock reserved while held")
    assert orders_topic.events("OrderReleasedToWarehouse") == []
    order_path = f"/orders/{order_id_for('webshop', '6001')}"
    assert order.get(order_path)["on_hold"] is True
    (listed,) = order.get("/orders/held")["orders"]
    assert (listed["channel_order_id"], listed["held_because"]) == (
        "6001",
        "fraud score 92 is at or above 80",
    )
    states = order.get("/orders/states")
    assert (states["held"], states["stuck"], states["states"]["allocated"]["orders"]) == (1, 0, 1)
    (stuck,) = order.get("/orders/stuck?stuck_after_seconds=0.001")["orders"]
    assert (stuck["state"], stuck["order_id"]) == (
        "allocated",
        str(order_id_for("webshop", "6001")),
    )
    with urllib.request.urlopen(f"{order.url}/metrics", timeout=5) as reply:
        scraped = reply.read().decode()
    assert 'unitrail_orders_held{service="order",state="allocated"} 1.0' in scraped
    channel_token = order.stack.token(Role.CHANNEL, "webshop-connector", channel="webshop")
    assert request(order, "GET", "/orders/states", token=channel_token)[0] == 403, (
        "a channel sees its own orders, not everyone's"
    )

    reviewer = order.stack.token(Role.CUSTOMER_SERVICE, "reviewer-7")
    order.post(f"{order_path}/release-hold", {"note": "called customer"}, token=reviewer)

    released = eventually(
        lambda: orders_topic.events("OrderReleasedToWarehouse"), what="the release"
    )
    assert order.get("/orders/held")["orders"] == []
    assert released[0]["payload"]["shipments"][0]["location"] == "WH-A"
    (by,) = orders_topic.events("OrderHoldReleased")
    assert by["payload"]["actor"] == "reviewer-7 (customer-service)", "the actor is the token's"
    assert refused(order, f"{order_path}/release-hold", {}) == (
        409,
        f"order {order_id_for('webshop', '6001')} is not on hold",
    )


def test_orders_over_500_need_a_signature_and_cheaper_ones_do_not(
    services: Services, channel: Channel, topic: Topics
) -> None:
    pim, order, inventory = services("pim", "order", "inventory")
    register_in_pim(pim, order, "LAPTOP-14")
    inventory.receive_stock("LAPTOP-14", "WH-A", 5)
    orders_topic = topic("order.events.v1")
    expensive = channel_order("6101")
    expensive["lines"][0]["unit_price"] = "650.00"
    cheap = channel_order("6102")
    cheap["lines"][0]["unit_price"] = "250.00"

    channel.send(expensive)
    channel.send(cheap)

    def two_releases() -> list[dict[str, Any]] | None:
        releases = orders_topic.events("OrderReleasedToWarehouse")
        return releases if len(releases) == 2 else None

    releases = eventually(two_releases, what="two releases")
    by_value = {r["payload"]["declared_value"]: r["payload"] for r in releases}
    assert by_value["650.00"]["signature_required"] is True
    assert by_value["250.00"]["signature_required"] is False


def test_a_cancelled_order_gives_its_stock_back(
    services: Services, channel: Channel, topic: Topics
) -> None:
    order, inventory = services("order", "inventory")
    inventory.receive_stock("LAPTOP-14", "WH-A", 2)
    orders_topic = topic("order.events.v1")
    inventory_topic = topic("inventory.events.v1")

    channel.send(channel_order("6201", lines=[("LAPTOP-14", 2)]))
    eventually(lambda: orders_topic.events("OrderAllocated"), what="allocation")
    assert inventory.get("/stock/LAPTOP-14")["locations"][0]["available"] == 0

    channel.send(channel_order("6201", lines=[("LAPTOP-14", 2)]) | {"order_status": "cancelled"})

    eventually(lambda: inventory_topic.events("ReservationReleased"), what="the release")
    level = inventory.get("/stock/LAPTOP-14")["locations"][0]
    assert (level["reserved"], level["available"]) == (0, 2)
    cancelled = order.get("/orders/by-channel/webshop/6201")
    assert (cancelled["status"], cancelled["cancellation_reason"]) == (
        "cancelled",
        "cancelled in the channel",
    )

    order_path = f"/orders/{order_id_for('webshop', '6201')}"
    status, detail = refused(order, f"{order_path}/hold", {"reason": "x"})
    assert (status, detail.endswith("is cancelled and cannot be put on hold")) == (409, True)


def test_an_operator_cancels_an_order_over_http_and_bad_commands_get_a_4xx(
    services: Services, channel: Channel, topic: Topics
) -> None:
    pim, order, inventory = services("pim", "order", "inventory")
    register_in_pim(pim, order, "LAPTOP-14")
    inventory.receive_stock("LAPTOP-14", "WH-A", 1)
    inventory_topic = topic("inventory.events.v1")
    orders_topic = topic("order.events.v1")
    channel.send(channel_order("6301"))
    order_path = f"/orders/{order_id_for('webshop', '6301')}"
    eventually(lambda: orders_topic.events("OrderReleasedToWarehouse"), what="the release")

    order.post(
        f"{order_path}/cancel",
        {"reason": "customer called", "on_behalf_of": "the customer, by phone"},
        token=order.stack.token(Role.CUSTOMER_SERVICE, "support-3"),
    )

    eventually(lambda: inventory_topic.events("StockItemReservationReleased"), what="release")
    assert inventory.get("/stock/LAPTOP-14")["locations"][0]["available"] == 1
    (cancelled,) = eventually(lambda: orders_topic.events("OrderCancelled"), what="cancelled")
    assert cancelled["payload"]["actor"] == (
        "support-3 (customer-service) on behalf of the customer, by phone"
    )
    assert refused(order, f"{order_path}/cancel", {})[0] == 422
    unknown = "/orders/00000000-0000-0000-0000-000000000000/cancel"
    assert refused(order, unknown, {"reason": "x"})[0] == 404
