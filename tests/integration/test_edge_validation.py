"""Text no store can hold never gets past the edge: a channel order is dead-lettered with the
field named, an HTTP command is refused with a 422 naming the field, and the rest flows on."""

from __future__ import annotations

import json
import urllib.error
import uuid

import pytest

from services.runtime.privacy import is_sealed, revealed
from tests.integration.harness import (
    Channel,
    CustomerKeys,
    Services,
    Stack,
    Topics,
    channel_order,
    eventually,
)

pytestmark = pytest.mark.integration


def test_a_nul_in_a_name_is_dead_lettered_or_refused_naming_the_field_and_nothing_else_stops(
    services: Services, channel: Channel, topic: Topics, stack: Stack
) -> None:
    (order,) = services("order")
    dead_letters = topic("order.deadletter.v1")
    orders_topic = topic("order.events.v1")
    poisoned = channel_order("4001") | {
        "customer": {"customer_id": "C-9", "name": "Nul\x00Person", "email": "nul@example.com"}
    }

    channel.send(poisoned, key="webshop:4001")
    channel.send(channel_order("4002"), key="webshop:4001")

    (parked,) = eventually(dead_letters.poll, what="the poisoned order dead-lettered")
    kept = json.loads(parked.value)
    assert is_sealed(kept["customer"]["name"]), "kept sealed, as every dead letter"
    assert revealed(kept, CustomerKeys(order, stack))["customer"]["name"] == "Nul\x00Person"
    assert parked.headers["error"].startswith("schema violation: customer.name: contains a control")
    placed = eventually(lambda: orders_topic.events("OrderPlaced"), what="the next order")
    assert [event["payload"]["channel_order_id"] for event in placed] == ["4002"]

    with pytest.raises(urllib.error.HTTPError) as refused:
        order.post(f"/orders/{uuid.uuid4()}/hold", {"reason": "check\x00"})
    assert refused.value.code == 422
    (problem,) = json.loads(refused.value.read())["error"]["details"]
    assert problem["loc"] == ["body", "reason"]
    assert "U+0000" in problem["msg"]
