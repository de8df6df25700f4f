"""Receiving stock with serial numbers and batch, through the running inventory service."""

from __future__ import annotations

import json
import urllib.error

import pytest

from tests.integration.harness import Services, Topics, eventually

pytestmark = pytest.mark.integration


def test_received_serials_are_recorded_published_and_never_accepted_twice(
    services: Services, topic: Topics
) -> None:
    (inventory,) = services("inventory")
    inventory_topic = topic("inventory.events.v1")
    receipt = {
        "sku": "LAPTOP-14",
        "location": "WH-A",
        "quantity": 2,
        "reason": "purchase-receipt",
        "reference": "PO-77",
        "serials": ["SN-0001", "SN-0002"],
        "batch": "B-2026-11",
    }

    inventory.post("/stock/receipts", receipt)

    (received,) = eventually(lambda: inventory_topic.events("StockReceived"), what="the receipt")
    assert received["payload"]["serials"] == ["SN-0001", "SN-0002"]
    assert received["payload"]["batch"] == "B-2026-11"
    assert inventory.get("/stock/LAPTOP-14")["locations"][0]["serials_in_stock"] == 2

    again = receipt | {"location": "WH-B", "serials": ["SN-0002", "SN-0003"]}
    with pytest.raises(urllib.error.HTTPError) as refused:
        inventory.post("/stock/receipts", again)
    assert refused.value.code == 422
    detail = json.loads(refused.value.read())["error"]["message"]
    assert detail == "LAPTOP-14 serials already in stock: SN-0002 (at WH-A)"
    assert len(inventory_topic.events("StockReceived")) == 1
