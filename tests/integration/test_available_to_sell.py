"""Available-to-sell: computed only by inventory and published per channel, less each channel's
safety buffer, as stock arrives and orders reserve it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.harness import Channel, Services, Topics, channel_order, eventually

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
    channel.send(channel_order("9501", lines=[("LAPTOP-14", 3)]))
    eventually(lambda: latest() == {"webshop": (2, 0), "amazon-us": (0, 0)}, what="the reservation")
