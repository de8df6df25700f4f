"""Routing by shipping cost: of the locations that have the whole order, the one that ships it
cheapest by shipping's published rate card is chosen."""

from __future__ import annotations

import pytest

from contracts.channel import order_id_for
from tests.integration.harness import (
    Channel,
    Services,
    channel_order,
    eventually,
    receive_serials,
    register_product,
)

pytestmark = pytest.mark.integration


def test_an_order_ships_from_the_location_that_ships_it_cheapest(
    services: Services, channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNITRAIL_SHIPPING_LOCATION_ORIGINS", '{"WH-UK": "GB"}')
    pim, order, inventory, shipping = services("pim", "order", "inventory", "shipping")
    register_product(pim, shipping, "LAPTOP-14", 2_100, lithium=True)
    card = eventually(
        lambda: (
            inventory.exists("/stock/routing/rate-card")
            and inventory.get("/stock/routing/rate-card")
        ),
        what="the rate card to reach inventory",
    )
    assert card["location_origins"] == [{"location": "WH-UK", "country": "GB"}]
    receive_serials(inventory, "LAPTOP-14", "WH-A", "SN-A1", "SN-A2")
    receive_serials(inventory, "LAPTOP-14", "WH-UK", "SN-U1", "SN-U2")

    channel.send(channel_order("9101", country="GB"))
    channel.send(channel_order("9102", country="US"))

    def shipped_from(channel_order_id: str) -> list[str] | None:
        path = f"/orders/{order_id_for('webshop', channel_order_id)}"
        if not order.exists(path):
            return None
        view = order.get(path)
        return [s["location"] for s in view["shipments"]] or None

    assert eventually(lambda: shipped_from("9101"), what="the UK order") == ["WH-UK"]
    assert eventually(lambda: shipped_from("9102"), what="the US order") == ["WH-A"]
