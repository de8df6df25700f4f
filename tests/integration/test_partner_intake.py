"""The durable HTTP intake: a partner's message is committed to the service's store before the
answer, applied exactly as the same message from Kafka would be (and only once), and an invalid
one is refused with the reason."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from contracts.channel import order_id_for
from tests.integration.harness import ServiceProcess, Services, channel_order

pytestmark = pytest.mark.integration


def hand_over(service: ServiceProcess, topic: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{service.url}/intake/{topic}",
        data=body,
        headers={"content-type": "application/json"} | service.authorization(),
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_channel_order_handed_over_by_http_is_stored_before_the_answer_and_once(
    services: Services,
) -> None:
    (order,) = services("order")
    message = json.dumps(channel_order("8801")).encode()

    status, answer = hand_over(order, "channel.orders.v1", message)
    assert (status, answer["outcome"]) == (202, "applied")
    # No waiting: the answer came after the commit.
    placed = order.get(f"/orders/{order_id_for('webshop', '8801')}")
    assert (placed["status"], placed["channel_order_id"]) == ("paid", "8801")

    again, _ = hand_over(order, "channel.orders.v1", message)
    assert again == 202
    history = order.get(f"/orders/{order_id_for('webshop', '8801')}")
    assert history == placed, "the same message again changes nothing"


def test_an_invalid_or_misdirected_message_is_refused_with_the_reason(services: Services) -> None:
    (order,) = services("order")
    invalid = channel_order("8802") | {"currency": "dollars"}

    status, answer = hand_over(order, "channel.orders.v1", json.dumps(invalid).encode())
    assert status == 422
    assert "currency" in str(answer)
    assert not order.exists(f"/orders/{order_id_for('webshop', '8802')}")

    elsewhere, answer = hand_over(order, "threepl.receipts.v1", b"{}")
    assert elsewhere == 404
    assert "channel.orders.v1" in answer["error"]["message"]
