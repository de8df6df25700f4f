"""Service levels and rate tables as data: a channel order asks for standard, express, next-day or
a delivery date; shipping buys the cheapest service that keeps it with the rates in force, and says
when none can. Rates are versioned tables, uploaded with an effective date.

The channel connector and the 3PL here are written only from the published contract
(`SchemaBuiltChannel`, `SchemaBuiltThreePL`): the connector lists what the catalogue feed lists,
sells what availability allows, sends orders checked against `ChannelOrderMessage.v1` and learns
their ids from the feedback topic; the 3PL reads its requests from its own topic; every event
either reads is checked against its published schema, every message it sends too.
"""

from __future__ import annotations

import json
import urllib.error
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.runtime.auth import Role
from tests.integration.harness import (
    Channel,
    SchemaBuiltChannel,
    SchemaBuiltThreePL,
    ServiceProcess,
    Services,
    Stack,
    Topics,
    channel_order,
    eventually,
    labels_by_order,
    receive_serials,
    register_product,
    schema_validator,
)

pytestmark = pytest.mark.integration

ACME_EXPRESS = {
    "carrier": "acme",
    "service": "express",
    "mode": "air",
    "transit_days_domestic": 2,
    "transit_days_international": 6,
    "base_cost": "9.00",
    "cost_per_kg": "1.00",
    "international_surcharge": "50",
}
"""A cheaper two-day service than any of the packaged table's."""


def refusal(call: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
    """The status and error body of a call that must be refused."""
    with pytest.raises(urllib.error.HTTPError) as refused:
        call()
    return refused.value.code, json.loads(refused.value.read())


def test_rate_tables_are_versioned_data_with_an_effective_date(
    services: Services, topic: Topics, stack: Stack
) -> None:
    (shipping,) = services("shipping")
    shipping_events = topic("shipping.events.v1")
    listed = shipping.get("/rate-tables")
    today = datetime.now(UTC).date()
    assert listed["in_force"] == "2026-01"
    (packaged,) = listed["tables"]
    assert (packaged["state"], packaged["in_force_from"]) == ("in force", today.isoformat())

    tomorrow = (today + timedelta(days=1)).isoformat()
    scheduled = {"version": "2027-01", "effective_from": tomorrow, "services": [ACME_EXPRESS]}
    recorded = shipping.post("/rate-tables", scheduled)
    assert (recorded["state"], recorded["in_force_from"]) == ("scheduled", tomorrow)
    assert shipping.post("/rate-tables", scheduled)["state"] == "scheduled"  # the same: nothing
    assert shipping.get("/rate-tables")["in_force"] == "2026-01"

    changed = scheduled | {"services": [ACME_EXPRESS | {"base_cost": "8.00"}]}
    status, body = refusal(lambda: shipping.post("/rate-tables", changed))
    assert status == 409
    assert "give a changed table a new version" in body["error"]["message"]
    status, body = refusal(lambda: shipping.post("/rate-tables", scheduled | {"services": []}))
    assert status == 422
    assert "services" in json.dumps(body["error"])
    channel_token = stack.token(Role.CHANNEL, "webshop-connector", channel="webshop")
    status, _ = refusal(lambda: shipping.post("/rate-tables", scheduled, token=channel_token))
    assert status == 403

    # The packaged table's event may be on the topic before the scheduled one's: wait for it.
    (table_recorded,) = eventually(
        lambda: [
            e["payload"]
            for e in shipping_events.events("RateTableRecorded")
            if e["payload"]["version"] == "2027-01"
        ],
        what="the scheduled table recorded",
    )
    assert table_recorded["recorded_by"].startswith("test (")
    assert table_recorded["in_force_from"] == tomorrow
    published = [e["payload"] for e in shipping_events.events("RateCardPublished")]
    assert all(card["version"] == "2026-01" for card in published), "2027-01 is not in force yet"


def test_the_cheapest_service_that_keeps_the_promise_and_a_flag_when_none_can(
    services: Services, channel: Channel, topic: Topics
) -> None:
    pim, orders, inventory, _, shipping = services(
        "pim", "order", "inventory", "warehouse_adapter", "shipping"
    )
    register_product(pim, shipping, "DOCK-1", 900, lithium=False)
    register_product(pim, shipping, "LAPTOP-14", 2_100, lithium=True)
    receive_serials(inventory, "DOCK-1", "WH-A", *(f"D-{n}" for n in range(1, 6)))
    receive_serials(inventory, "LAPTOP-14", "WH-A", "L-1")
    shipping_events = topic("shipping.events.v1")
    order_events = topic("order.events.v1")
    threepl = SchemaBuiltThreePL(channel, topic)
    connector = SchemaBuiltChannel(channel, topic)
    eventually(lambda: connector.listed("US", "DOCK-1"), what="the dock listed in the US feed")
    eventually(lambda: connector.available("DOCK-1") == 5, what="the docks available to sell")

    # A cheaper express service, in force today: the whole packaged table, and it.
    packaged = shipping.get("/rate-tables")["tables"][0]["services"]
    today = datetime.now(UTC).date()
    table = {
        "version": "2026-12-acme",
        "effective_from": (today - timedelta(days=3)).isoformat(),
        "services": [*packaged, ACME_EXPRESS],
    }
    recorded = shipping.post("/rate-tables", table)
    assert (recorded["state"], recorded["in_force_from"]) == ("in force", today.isoformat())
    eventually(
        lambda: any(
            e["payload"]["version"] == "2026-12-acme"
            for e in shipping_events.events("RateCardPublished")
        ),
        what="the new rates published",
    )

    def dock_order(number: str, **promise: Any) -> dict[str, Any]:
        return channel_order(number, lines=[("DOCK-1", 1)]) | promise

    connector.send(dock_order("7001"))
    connector.send(dock_order("7002", service_level="express"))
    connector.send(dock_order("7003", service_level="next-day"))
    connector.send(dock_order("7004", deliver_by=today.isoformat()))
    connector.send(channel_order("7005", lines=[("LAPTOP-14", 1)]) | {"service_level": "next-day"})
    for n, request in enumerate(threepl.requests(5), start=1):
        laptop = request["lines"][0]["sku"] == "LAPTOP-14"
        threepl.pick_and_pack(request, "L-1" if laptop else f"D-{n}")
    labels = labels_by_order(shipping_events, 5)

    def label(number: str) -> dict[str, Any]:
        return labels[connector.order_id(number)]

    def choice(number: str) -> tuple[str, str, int, bool]:
        bought = label(number)
        return bought["carrier"], bought["service"], bought["transit_days"], bought["promise_met"]

    assert choice("7001") == ("usps", "ground-advantage", 5, True)
    assert choice("7002") == ("acme", "express", 2, True)
    assert label("7002")["service_level"] == "express"
    assert choice("7003") == ("ups", "next-day-air", 1, True)
    # Promised for today: no service arrives in 0 days; the fastest goes, flagged.
    assert choice("7004") == ("ups", "next-day-air", 1, False)
    assert label("7004")["deliver_by"] == today.isoformat()
    # A lithium battery may not fly: the fastest ground service, flagged.
    assert choice("7005") == ("ups", "ground", 4, False)

    placed = {
        e["payload"]["channel_order_id"]: e["payload"] for e in order_events.events("OrderPlaced")
    }
    assert placed["7002"]["service_level"] == "express"
    assert placed["7004"]["deliver_by"] == today.isoformat()
    view = orders.get(f"/orders/{connector.order_id('7003')}")
    assert view["service_level"] == "next-day"
    consignment = shipping_consignment(shipping, label("7003")["shipment_id"])
    assert consignment["service_level"] == "next-day"


def shipping_consignment(shipping: ServiceProcess, shipment_id: str) -> dict[str, Any]:
    consignment: dict[str, Any] = shipping.get(f"/consignments/{shipment_id}")
    return consignment


def test_a_delivery_date_before_the_order_was_placed_is_dead_lettered_with_the_reason(
    services: Services, channel: Channel, topic: Topics
) -> None:
    services("order")
    dead_letters = topic("order.deadletter.v1")
    message = channel_order("7101") | {"deliver_by": "2020-01-01"}
    schema_validator("ChannelOrderMessage.v1").validate(message)  # the schema cannot say it
    channel.send(message)
    (letter,) = eventually(lambda: dead_letters.poll() or None, what="the dead letter")
    assert "deliver_by 2020-01-01 is before the order was placed" in letter.headers["error"]
