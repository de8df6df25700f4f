"""Released orders become fulfilment requests that any 3PL adapter can read."""

from __future__ import annotations

import time
from typing import Any

import pytest

from contracts.channel import order_id_for
from contracts.topics import THREEPL_FULFILMENT_REQUESTS
from tests.integration.harness import (
    Channel,
    Services,
    Stack,
    Topics,
    channel_order,
    eventually,
    register_in_pim,
)

pytestmark = pytest.mark.integration


def test_each_location_of_a_released_order_gets_a_fulfilment_request_and_a_cancellation_withdraws_it(
    services: Services, channel: Channel, topic: Topics
) -> None:
    pim, order_service, inventory, warehouse = services(
        "pim", "order", "inventory", "warehouse_adapter"
    )
    register_in_pim(pim, order_service, "CAMERA-X", "LENS-50")
    inventory.receive_stock("CAMERA-X", "WH-A", 1)
    inventory.receive_stock("LENS-50", "WH-B", 1)
    requests_topic = topic("warehouse_adapter.events.v1")

    order = channel_order("7001", lines=[("CAMERA-X", 1), ("LENS-50", 1)])
    order["lines"][0]["unit_price"] = "900.00"
    channel.send(order)

    def two_requests() -> list[dict[str, Any]] | None:
        requests = requests_topic.events("FulfilmentRequested")
        return requests if len(requests) == 2 else None

    requests = {r["payload"]["location"]: r for r in eventually(two_requests, what="2 requests")}
    camera, lens = requests["WH-A"]["payload"], requests["WH-B"]["payload"]
    not_a_kit: dict[str, Any] = {"components": [], "kit_sku": None}
    assert camera["lines"] == [{"line_number": 1, "sku": "CAMERA-X", "quantity": 1} | not_a_kit]
    assert lens["lines"] == [{"line_number": 2, "sku": "LENS-50", "quantity": 1} | not_a_kit]
    assert camera["order_id"] == str(order_id_for("webshop", "7001"))
    assert camera["ship_to"]["country"] == "US"
    assert camera["signature_required"] is True
    fulfilment = warehouse.get(f"/fulfilments/{camera['shipment_id']}")
    assert (fulfilment["status"], fulfilment["location"]) == ("requested", "WH-A")

    channel.send(order | {"order_status": "cancelled"})

    def two_cancellations() -> list[dict[str, Any]] | None:
        cancelled = requests_topic.events("FulfilmentCancelled")
        return cancelled if len(cancelled) == 2 else None

    cancelled = eventually(two_cancellations, what="both requests withdrawn")
    assert {c["payload"]["shipment_id"] for c in cancelled} == {
        camera["shipment_id"],
        lens["shipment_id"],
    }
    assert warehouse.get(f"/fulfilments/{camera['shipment_id']}")["status"] == "cancelled"


def test_a_request_for_a_3pl_waits_while_keys_cannot_be_asked_for_then_goes_out_once_in_clear(
    stack: Stack, services: Services, channel: Channel, topic: Topics
) -> None:
    pim, order_service, inventory, _ = services("pim", "order", "inventory", "warehouse_adapter")
    register_in_pim(pim, order_service, "CAMERA-X")
    inventory.receive_stock("CAMERA-X", "WH-A", 1)
    # The warehouse adapter's token for the key lookup goes bad: the order service refuses it.
    token_file = stack.issuer.personal_data_token_file()
    good_token = token_file.read_text()
    token_file.write_text("not-a-token")
    stored = topic("warehouse_adapter.events.v1")
    for_partners = topic(THREEPL_FULFILMENT_REQUESTS.name)

    channel.send(channel_order("7101", lines=[("CAMERA-X", 1)]))
    eventually(lambda: stored.events("FulfilmentRequested"), timeout=120, what="the request")
    time.sleep(5)  # the partner feed tries meanwhile, and waits
    assert for_partners.events("FulfilmentRequested") == []

    token_file.write_text(good_token)
    (request,) = eventually(
        lambda: for_partners.events("FulfilmentRequested"), timeout=120, what="the 3PL's request"
    )
    assert request["payload"]["ship_to"]["line1"] == "2 Compiler Road"
    time.sleep(2)
    assert len(for_partners.events("FulfilmentRequested")) == 1
