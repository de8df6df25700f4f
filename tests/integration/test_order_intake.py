"""No silent drops at intake: a channel's re-sent order is a duplicate, an amendment or a refusal,
and the connector reads which on `channel.feedback.v1`."""

from __future__ import annotations

import json
import urllib.error
from typing import Any

import pytest

from infra import cli
from services.runtime.privacy import is_sealed, revealed
from tests.integration.harness import (
    Channel,
    CustomerKeys,
    Record,
    Services,
    Stack,
    Topics,
    channel_order,
    eventually,
    register_in_pim,
)

pytestmark = pytest.mark.integration


def feedback_of(records: list[Record], key: str) -> list[dict[str, Any]]:
    return [record.json()["payload"] for record in records if record.key == key.encode()]


def test_a_re_send_is_amended_before_payment_refused_after_release_and_a_repeat_is_harmless(
    services: Services, channel: Channel, topic: Topics, stack: Stack
) -> None:
    pim, order, inventory = services("pim", "order", "inventory")
    register_in_pim(pim, order, "LAPTOP-14")
    inventory.receive_stock("LAPTOP-14", "WH-A", 5)
    feedback = topic("channel.feedback.v1")
    dead_letters = topic("order.deadletter.v1")
    orders_topic = topic("order.events.v1")
    key = "webshop:4101"
    placed = channel_order("4101", lines=[("LAPTOP-14", 1)], paid=False)
    corrected: dict[str, Any] = placed | {
        "lines": [{"sku": "LAPTOP-14", "quantity": 2, "unit_price": "1199.00"}],
        "shipping_address": placed["shipping_address"] | {"line1": "3 Compiler Road"},
    }
    paid = corrected | {"payment_status": "paid"}
    too_late = paid | {"lines": [{"sku": "LAPTOP-14", "quantity": 3, "unit_price": "1199.00"}]}

    channel.send(placed)
    channel.send(corrected)
    channel.send(paid)
    released = eventually(
        lambda: orders_topic.events("OrderReleasedToWarehouse"), what="the amended order released"
    )
    assert released[0]["payload"]["shipments"][0]["lines"][0]["quantity"] == 2
    # The address travels sealed under the customer's key; the order service opens it.
    assert is_sealed(released[0]["payload"]["ship_to"]["line1"])
    assert order.get("/orders/by-channel/webshop/4101")["shipping_address"]["line1"] == (
        "3 Compiler Road"
    )
    assert inventory.get("/stock/LAPTOP-14")["locations"][0]["reserved"] == 2

    channel.send(too_late)
    channel.send(paid)  # an exact repeat: nothing to say
    channel.send(paid | {"order_status": "cancelled"})  # one key, one partition: handled last
    eventually(lambda: orders_topic.events("OrderCancelled"), what="the cancellation")

    outcomes = eventually(
        lambda: o if len(o := feedback_of(feedback.poll(), key)) >= 3 else None,
        what="three outcomes fed back",
    )
    assert [outcome["outcome"] for outcome in outcomes] == ["accepted", "amended", "rejected"]
    changes = {c["field"]: (c["recorded"], c["received"]) for c in outcomes[1]["changes"]}
    assert changes.keys() == {"lines[1].quantity", "shipping_address.line1"}
    assert changes["lines[1].quantity"] == ("1", "2")
    assert all(is_sealed(value) for value in changes["shipping_address.line1"])  # never in clear
    rejection = outcomes[2]
    assert rejection["reason"] == (
        "re-send of webshop:4101 refused: lines[1].quantity '2' → '3' may change only before "
        "payment (the order is released-to-warehouse)"
    )
    (parked,) = eventually(dead_letters.poll, what="the refused re-send parked")
    assert parked.key == key.encode()
    kept = json.loads(parked.value)
    assert is_sealed(kept["customer"]["name"])
    assert is_sealed(kept["shipping_address"]["line1"])
    assert revealed(kept, CustomerKeys(order, stack)) == too_late, "kept whole, sealed"
    assert parked.headers["error"] == f"rule violated: {rejection['reason']}"
    view = order.get("/orders/by-channel/webshop/4101")
    assert (view["status"], view["lines"][0]["quantity"]) == ("cancelled", 2)
    assert [
        e["event_type"] for e in orders_topic.events() if e["event_type"].startswith("OrderAm")
    ] == [
        "OrderAmended",
        "OrderAmendmentRefused",
    ]

    # The durable HTTP intake answers a refused re-send with the reason, having recorded it.
    with pytest.raises(urllib.error.HTTPError) as refused:
        order.post("/intake/channel.orders.v1", too_late | {"fraud_score": 50})
    assert refused.value.code == 422
    assert json.loads(refused.value.read())["error"]["message"].startswith(
        "rule violated: re-send of webshop:4101 refused: fraud_score '4.5' → '50' (the order is "
        "cancelled)"
    )
    assert eventually(
        lambda: len(o := feedback_of(feedback.poll(), key)) == 4 and o[-1]["outcome"] == "rejected",
        what="the HTTP re-send's rejection fed back",
    )


def test_a_line_for_a_sku_unknown_to_the_pim_holds_the_order_until_the_pim_registers_it(
    services: Services, channel: Channel, topic: Topics, capsys: pytest.CaptureFixture[str]
) -> None:
    pim, order, inventory = services("pim", "order", "inventory")
    register_in_pim(pim, order, "LAPTOP-14")
    inventory.receive_stock("LAPTOP-14", "WH-A", 5)
    inventory.receive_stock("DRONE-X", "WH-A", 5)
    orders_topic = topic("order.events.v1")

    channel.send(channel_order("4201", lines=[("LAPTOP-14", 1), ("DRONE-X", 1)]))
    held = eventually(lambda: orders_topic.events("OrderHeld"), what="the order held")
    reason = "unknown-sku: line 2 (DRONE-X) is not registered in the PIM"
    assert held[0]["payload"] | {"order_id": None} == {
        "order_id": None,
        "reason": reason,
        "actor": "catalogue-rules",
    }
    eventually(lambda: orders_topic.events("OrderAllocated"), what="stock reserved while held")
    view = order.get("/orders/by-channel/webshop/4201")
    assert (view["on_hold"], view["hold_reason"], view["unknown_skus"]) == (
        True,
        reason,
        ["DRONE-X"],
    )
    capsys.readouterr()
    assert cli.main(["--order-url", order.url, "where", "webshop:4201"]) == 0
    assert f"status    allocated (on hold: {reason})" in capsys.readouterr().out
    assert orders_topic.events("OrderReleasedToWarehouse") == []

    register_in_pim(pim, order, "DRONE-X")

    released = eventually(
        lambda: orders_topic.events("OrderReleasedToWarehouse"), what="the release"
    )
    assert [line["sku"] for line in released[0]["payload"]["shipments"][0]["lines"]] == [
        "LAPTOP-14",
        "DRONE-X",
    ]
    (lifted,) = orders_topic.events("OrderHoldReleased")
    assert lifted["payload"]["note"] == "registered in the PIM: DRONE-X"
    view = order.get("/orders/by-channel/webshop/4201")
    assert (view["status"], view["on_hold"], view["hold_reason"]) == (
        "released-to-warehouse",
        False,
        None,
    )
