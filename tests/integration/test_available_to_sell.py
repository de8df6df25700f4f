"""Available-to-sell: computed only by inventory and published per channel, less each channel's
safety buffer, as stock arrives and orders reserve it."""

from __future__ import annotations

from typing import Any

import pytest

from services.runtime.auth import Role
from tests.integration.harness import (
    CERTIFIED_EVERYWHERE,
    Channel,
    Services,
    Topics,
    channel_order,
    eventually,
    request,
)

pytestmark = pytest.mark.integration


def test_every_channel_learns_what_it_may_sell_as_stock_arrives_and_orders_reserve_it(
    services: Services, channel: Channel, topic: Topics, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNITRAIL_INVENTORY_SALES_CHANNELS", '{"webshop": 0, "amazon-us": 2}')
    _, inventory = services("order", "inventory")
    events = topic("inventory.events.v1")

    def latest() -> dict[str, tuple[int, int]]:
        figures: dict[str, tuple[int, int]] = {}
        for event in events.events("AvailableToSellChanged"):
            payload: dict[str, Any] = event["payload"]
            figures[payload["channel"]] = (payload["new"], payload["open_box"])
        return figures

    inventory.receive_stock("LAPTOP-14", "WH-A", 3)
    inventory.receive_stock("LAPTOP-14", "WH-B", 2)
    eventually(lambda: latest() == {"webshop": (5, 0), "amazon-us": (3, 0)}, what="stock published")
    # A channel reads what it may sell, not the stock, the other channels' figures or their orders.
    webshop = inventory.stack.token(Role.CHANNEL, "webshop-connector", channel="webshop")
    status, own = request(inventory, "GET", "/stock/LAPTOP-14", token=webshop)
    assert (status, own) == (200, {"sku": "LAPTOP-14", "available_to_sell": [
        {"channel": "webshop", "new": 5, "open_box": 0, "refurbished": 0}
    ]}), own  # fmt: skip
    assert "amazon-us" in str(inventory.get("/stock/LAPTOP-14")["available_to_sell"])
    channel.send(channel_order("9501", lines=[("LAPTOP-14", 3)]))
    eventually(lambda: latest() == {"webshop": (2, 0), "amazon-us": (0, 0)}, what="the reservation")


def test_a_bundle_may_be_sold_as_often_as_its_scarcest_component_allows(
    services: Services, channel: Channel, topic: Topics
) -> None:
    pim, _, inventory = services("pim", "order", "inventory")
    events = topic("inventory.events.v1")
    for sku in ("CAMERA-X", "LENS-50"):
        pim.put(
            f"/products/{sku}",
            {
                "name": sku,
                "weight_grams": 600,
                "lithium_ion": False,
                "certifications": CERTIFIED_EVERYWHERE,
            },
        )
    pim.put(
        "/products/CAMERA-KIT",
        {
            "name": "Camera kit",
            "weight_grams": 1_400,
            "lithium_ion": False,
            "certifications": CERTIFIED_EVERYWHERE,
            "components": [{"sku": "CAMERA-X", "quantity": 1}, {"sku": "LENS-50", "quantity": 2}],
        },
    )
    inventory.receive_stock("CAMERA-X", "WH-A", 5)
    inventory.receive_stock("LENS-50", "WH-A", 4)
    inventory.receive_stock("LENS-50", "WH-B", 2)

    def kits() -> int | None:
        published = [
            e["payload"]["new"]
            for e in events.events("BundleAvailableToSellChanged")
            if e["payload"]["sku"] == "CAMERA-KIT" and e["payload"]["channel"] == "webshop"
        ]
        return published[-1] if published else None

    # 5 cameras, 6 lenses (2 per kit): the lenses allow 3
    eventually(lambda: kits() == 3, what="3 kits published")
    assert inventory.get("/stock/bundles/CAMERA-KIT") == {
        "sku": "CAMERA-KIT",
        "components": {"CAMERA-X": 1, "LENS-50": 2},
        "available_to_sell": {"webshop": 3},
        "backorders": [],
    }
    webshop = inventory.stack.token(Role.CHANNEL, "webshop-connector", channel="webshop")
    amazon = inventory.stack.token(Role.CHANNEL, "amazon-connector", channel="amazon-us")
    seen_by = {
        token: request(inventory, "GET", "/stock/bundles/CAMERA-KIT", token=token)[1]
        for token in (webshop, amazon)
    }
    assert seen_by[webshop] == {
        "sku": "CAMERA-KIT",
        "components": {"CAMERA-X": 1, "LENS-50": 2},
        "available_to_sell": {"webshop": 3},
    }
    assert seen_by[amazon]["available_to_sell"] == {}
    # an order takes 3 lenses: one kit is left; then the cameras become the scarce ones
    channel.send(channel_order("9601", lines=[("LENS-50", 3)]))
    eventually(lambda: kits() == 1, what="1 kit after the lens order")
    channel.send(channel_order("9602", lines=[("CAMERA-X", 5)]))
    eventually(lambda: kits() == 0, what="no kit without cameras")
