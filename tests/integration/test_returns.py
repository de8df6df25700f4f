"""Returns end to end: an order delivered by the simulated partners, an RMA over HTTP, the return
label shipping buys, the dock receipt a 3PL publishes, inspection, disposition and refund."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from contracts.channel import order_id_for
from services.runtime.auth import Role
from tests.integration.harness import (
    CERTIFIED_EVERYWHERE,
    Channel,
    ServiceProcess,
    Services,
    Simulators,
    SimulatorsProcess,
    TopicReader,
    Topics,
    channel_order,
    eventually,
    receive_serials,
)

pytestmark = pytest.mark.integration

SERVICES = ("pim", "order", "inventory", "warehouse_adapter", "shipping", "returns")
PASSED = {
    "powers_on": True,
    "screen_intact": True,
    "accessories_complete": True,
    "factory_seal_intact": True,
    "cosmetic_condition": True,
}


def call(
    service: ServiceProcess, path: str, body: dict[str, Any], token: str | None = None
) -> tuple[int, Any]:
    """POST (with `token`, or an admin token), answering the status code and the JSON body, also
    of a 4xx."""
    request = urllib.request.Request(
        f"{service.url}{path}",
        data=json.dumps(body, default=str).encode(),
        headers={"content-type": "application/json"} | service.authorization(token),
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def register_product(
    pim: ServiceProcess,
    shipping: ServiceProcess,
    sku: str,
    *,
    warranty_months: int,
    serialized: bool = True,
) -> None:
    pim.put(
        f"/products/{sku}",
        {
            "name": sku,
            "weight_grams": 2_100,
            "lithium_ion": True,
            "warranty_months": warranty_months,
            "serialized": serialized,
            "certifications": CERTIFIED_EVERYWHERE,
        },
    )
    eventually(lambda: shipping.exists(f"/consignments/product-facts/{sku}"), what=f"{sku} facts")


def deliver(
    order: ServiceProcess, channel: Channel, channel_order_id: str, sku: str, code: str = "webshop"
) -> uuid.UUID:
    """Send a paid order of one unit and wait until the simulated partners delivered it."""
    channel.send(channel_order(channel_order_id, channel=code, lines=[(sku, 1)]))
    order_id = order_id_for(code, channel_order_id)

    def delivered() -> bool:
        path = f"/orders/{order_id}"
        return order.exists(path) and order.get(path)["status"] == "delivered"

    eventually(delivered, timeout=90, what=f"order {channel_order_id} to be delivered")
    return order_id


def request_rma(returns: ServiceProcess, order_id: uuid.UUID, **fields: Any) -> dict[str, Any]:
    """Ask for an RMA once returns knows of the delivery (its read models follow the events)."""
    body = {"order_id": str(order_id), "line_number": 1, "reason": "fan noise"} | fields

    def created() -> dict[str, Any] | None:
        status, view = call(returns, "/rmas", body)
        if status == 409 and "no delivered unit" in view["error"]["message"]:
            return None  # the delivery has not reached returns yet
        assert status == 201, view
        result: dict[str, Any] = view
        return result

    return eventually(created, what=f"an RMA for order {order_id}")


def rma_until(
    returns: ServiceProcess, rma_id: str, check: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    def view() -> dict[str, Any] | None:
        found: dict[str, Any] = returns.get(f"/rmas/{rma_id}")
        return found if check(found) else None

    return eventually(view, what=what)


def dock_receipt(channel: Channel, rma_id: str, sku: str, serial: str | None) -> None:
    """The 3PL scanned the returned unit at its dock (`ReturnArrival`, threepl.receipts.v1)."""
    message = {
        "type": "return_received",
        "rma_id": rma_id,
        "location": "WH-A",
        "sku": sku,
        "serial": serial,
        "at": datetime.now(UTC).isoformat(),
    }
    channel.publish("threepl.receipts.v1", json.dumps(message).encode(), key=rma_id)


def event_types(events: TopicReader, rma_id: str) -> list[str]:
    return [event["event_type"] for event in events.events() if event["aggregate_id"] == rma_id]


def stop_partners_once_delivered(partners: SimulatorsProcess) -> None:
    """What comes back is the test's to say, not the simulated 3PL's."""
    partners.stop()


def test_a_delivered_unit_comes_back_is_graded_b_goes_to_open_box_and_is_refunded(
    services: Services, simulators: Simulators, channel: Channel, topic: Topics
) -> None:
    pim, order, inventory, _, shipping, returns = services(*SERVICES)
    partners = simulators()
    register_product(pim, shipping, "LAPTOP-14", warranty_months=24)
    receive_serials(inventory, "LAPTOP-14", "WH-A", "SN-R1")
    order_id = deliver(order, channel, "7501", "LAPTOP-14")
    stop_partners_once_delivered(partners)
    returns_events = topic("returns.events.v1")

    unknown_order = {"order_id": str(uuid.uuid4()), "line_number": 1, "reason": "x"}
    status, unknown = call(returns, "/rmas", unknown_order)
    assert (status, unknown["error"]["message"]) == (404, f"no order {unknown_order['order_id']}")
    status, no_line = call(
        returns, "/rmas", {"order_id": str(order_id), "line_number": 2, "reason": "x"}
    )
    assert (status, no_line["error"]["message"]) == (
        404,
        f"order {order_id} has no line 2 (lines: 1)",
    )

    rma = request_rma(returns, order_id, customer_note="it rattles")
    rma_id = rma["rma_id"]
    assert rma["status"] == "authorised"
    assert rma["eligibility"]["basis"] == "return-window"
    assert "within the 30-day return window of webshop" in rma["eligibility"]["decision"]
    assert (rma["expected_serials"], rma["return_to"]) == (["SN-R1"], "WH-A")
    status, again = call(
        returns, "/rmas", {"order_id": str(order_id), "line_number": 1, "reason": "fan noise"}
    )
    assert (status, again["rma_id"]) == (200, rma_id), "a retried request is the same RMA"
    assert [view["rma_id"] for view in returns.get(f"/rmas?order_id={order_id}")] == [rma_id]

    labelled = rma_until(returns, rma_id, lambda v: v["label"] is not None, "the return label")
    assert labelled["label"]["return_to"] == "WH-A"
    assert labelled["label"]["tracking_number"]

    inspection = {"checklist": PASSED}
    status, early = call(returns, f"/rmas/{rma_id}/inspection", inspection)
    assert (status, early["error"]["message"]) == (
        409,
        f"RMA {rma_id} is authorised: it cannot be inspected",
    )

    dock_receipt(channel, rma_id, "LAPTOP-14", "SN-R1")
    arrived = rma_until(returns, rma_id, lambda v: v["receipt"] is not None, "the dock receipt")
    assert arrived["status"] == "received"
    assert arrived["receipt"]["serial_matches"] is True

    status, inspected = call(
        returns,
        f"/rmas/{rma_id}/inspection",
        {"checklist": PASSED | {"factory_seal_intact": False}},
    )
    assert status == 200, inspected
    assert (inspected["status"], inspected["inspection"]["grade"]) == ("refunded", "B")
    assert inspected["disposition"] == {"condition": "open-box", "awaiting_signoff": False}
    assert inspected["refund"] == {"channel": "webshop", "amount": "1199.00", "currency": "USD"}
    status, not_a = call(returns, f"/rmas/{rma_id}/sign-off", {})
    assert status == 409
    assert "only a grade-A unit awaiting sign-off" in not_a["error"]["message"]

    published = eventually(
        lambda: (types := event_types(returns_events, rma_id))[-1:] == ["RefundIssued"] and types,
        what="the refund to be published",
    )
    assert published == [
        "ReturnRequested",
        "ReturnAuthorised",
        "ReturnReceiptRecorded",
        "ReturnInspected",
        "ReturnGraded",
        "ReturnDispositioned",
        "RefundIssued",
    ]
    (graded,) = [e for e in returns_events.events("ReturnGraded") if e["aggregate_id"] == rma_id]
    assert {key: graded["payload"][key] for key in ("serial", "grade", "inspector", "sku")} == {
        "serial": "SN-R1",
        "grade": "B",
        "inspector": inspected["inspection"]["inspector"],  # the caller, from the token
        "sku": "LAPTOP-14",
    }
    assert graded["payload"]["checklist"]["factory_seal_intact"] is False
    (refund,) = [e for e in returns_events.events("RefundIssued") if e["aggregate_id"] == rma_id]
    assert (refund["payload"]["amount"], refund["payload"]["order_id"]) == (
        "1199.00",
        str(order_id),
    )

    def held_open_box() -> bool:
        (level,) = inventory.get("/stock/LAPTOP-14")["locations"]
        return bool(level["held"].get("open-box") == 1)

    eventually(held_open_box, what="inventory to hold the unit as open-box")
    (unit,) = eventually(
        lambda: inventory.get("/stock/LAPTOP-14/returned-units")["units"],
        what="inventory to know the unit's grade",
    )
    assert (unit["rma_id"], unit["serial"], unit["grade"], unit["failed_checks"]) == (
        rma_id,
        "SN-R1",
        "B",
        ["factory_seal_intact"],
    )


def test_a_different_serial_blocks_the_refund_and_a_rejecting_review_closes_the_case(
    services: Services, simulators: Simulators, channel: Channel, topic: Topics
) -> None:
    pim, order, inventory, _, shipping, returns = services(*SERVICES)
    partners = simulators()
    register_product(pim, shipping, "CAMERA-X", warranty_months=24)
    receive_serials(inventory, "CAMERA-X", "WH-A", "CAM-S1")
    order_id = deliver(order, channel, "7601", "CAMERA-X")
    stop_partners_once_delivered(partners)
    returns_events = topic("returns.events.v1")
    rma_id = request_rma(returns, order_id, reason="not as described")["rma_id"]

    dock_receipt(channel, rma_id, "CAMERA-X", "CAM-CHEAP-KNOCKOFF")
    blocked = rma_until(returns, rma_id, lambda v: v["status"] == "under-review", "the block")
    assert blocked["receipt"]["serial_matches"] is False
    assert blocked["refund_blocked"] == (
        "serial mismatch: expected CAM-S1, received CAM-CHEAP-KNOCKOFF"
    )
    status, refused = call(returns, f"/rmas/{rma_id}/inspection", {"checklist": PASSED})
    assert status == 409
    assert "a reviewer must decide first" in refused["error"]["message"]

    status, reviewed = call(
        returns,
        f"/rmas/{rma_id}/review",
        {"decision": "reject", "note": "another camera, not ours"},
        token=returns.stack.token(Role.CUSTOMER_SERVICE, "rita"),
    )
    assert status == 200, reviewed
    assert reviewed["status"] == "refused"
    assert reviewed["review"] == {
        "decision": "reject",
        "reviewer": "rita (customer-service)",
        "note": "another camera, not ours",
    }
    status, _ = call(returns, f"/rmas/{rma_id}/inspection", {"checklist": PASSED})
    assert status == 409
    assert (reviewed["refund"], reviewed["disposition"]) == (None, None)

    published = eventually(
        lambda: (types := event_types(returns_events, rma_id))[-1:] == ["ReviewResolved"] and types,
        what="the review to be published",
    )
    assert published == [
        "ReturnRequested",
        "ReturnAuthorised",
        "ReturnReceiptRecorded",
        "RefundBlocked",
        "ReviewResolved",
    ]


def test_a_late_return_is_authorised_under_warranty_and_one_outside_both_is_rejected(
    services: Services,
    simulators: Simulators,
    channel: Channel,
    topic: Topics,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No waiting 30 days: the marketplace's return window ends at delivery.
    monkeypatch.setenv("UNITRAIL_RETURNS_CHANNEL_RETURN_WINDOW_DAYS", '{"marketplace": 0}')
    pim, order, inventory, _, shipping, returns = services(*SERVICES)
    partners = simulators()
    register_product(pim, shipping, "LAPTOP-14", warranty_months=24)
    register_product(pim, shipping, "HEADPHONES-NC", warranty_months=0)
    receive_serials(inventory, "LAPTOP-14", "WH-A", "SN-L1")
    receive_serials(inventory, "HEADPHONES-NC", "WH-A", "HP-L1")
    laptop_order = deliver(order, channel, "7701", "LAPTOP-14", code="marketplace")
    headphones_order = deliver(order, channel, "7702", "HEADPHONES-NC", code="marketplace")
    stop_partners_once_delivered(partners)
    returns_events = topic("returns.events.v1")
    day = r"(\d{4}-\d{2}-\d{2})"

    laptop = request_rma(returns, laptop_order, reason="stopped charging")
    assert (laptop["status"], laptop["eligibility"]["basis"]) == ("authorised", "warranty")
    assert re.fullmatch(
        rf"requested {day}, after the 0-day return window of marketplace "
        rf"\(delivered {day}, ends {day}\) but within the 24-month warranty \(ends {day}\)",
        laptop["eligibility"]["decision"],
    )

    headphones = request_rma(returns, headphones_order, reason="stopped charging")
    assert (headphones["status"], headphones["eligibility"]["basis"]) == ("rejected", None)
    rejected = re.fullmatch(
        rf"requested {day}, after the 0-day return window of marketplace "
        rf"\(delivered {day}, ends {day}\) and after the 0-month warranty \(ends {day}\)",
        headphones["eligibility"]["decision"],
    )
    assert rejected is not None, headphones["eligibility"]
    requested, delivered, window_ends, warranty_ends = rejected.groups()
    assert delivered == window_ends == warranty_ends <= requested
    rejected_id = headphones["rma_id"]
    published = eventually(
        lambda: len(types := event_types(returns_events, rejected_id)) == 2 and types,
        what="the rejection to be published",
    )
    assert published == ["ReturnRequested", "ReturnRejected"]
    (rejection,) = returns_events.events("ReturnRejected")
    assert rejection["payload"]["reason"] == headphones["eligibility"]["decision"]


def test_a_unit_of_an_unserialized_product_comes_back_without_a_serial_and_is_refunded(
    services: Services, simulators: Simulators, channel: Channel, topic: Topics
) -> None:
    pim, order, inventory, _, shipping, returns = services(*SERVICES)
    partners = simulators()
    register_product(pim, shipping, "CABLE-USB-C", warranty_months=12, serialized=False)
    inventory.receive_stock("CABLE-USB-C", "WH-A", 1)
    order_id = deliver(order, channel, "7801", "CABLE-USB-C")
    stop_partners_once_delivered(partners)
    returns_events = topic("returns.events.v1")

    rma = request_rma(returns, order_id, reason="frayed")
    rma_id = rma["rma_id"]
    assert (rma["status"], rma["eligibility"]["basis"]) == ("authorised", "return-window")
    assert (rma["expected_serials"], rma["serialized"], rma["return_to"]) == ([], False, "WH-A")
    labelled = rma_until(returns, rma_id, lambda v: v["label"] is not None, "the return label")
    assert labelled["label"]["tracking_number"]

    dock_receipt(channel, rma_id, "CABLE-USB-C", None)
    arrived = rma_until(returns, rma_id, lambda v: v["receipt"] is not None, "the dock receipt")
    assert (arrived["status"], arrived["refund_blocked"]) == ("received", None)
    assert (arrived["receipt"]["serial"], arrived["receipt"]["serial_matches"]) == (None, True)

    status, inspected = call(
        returns,
        f"/rmas/{rma_id}/inspection",
        {"checklist": PASSED | {"factory_seal_intact": False}},
    )
    assert status == 200, inspected
    assert (inspected["status"], inspected["inspection"]["grade"]) == ("refunded", "B")
    assert inspected["disposition"] == {"condition": "open-box", "awaiting_signoff": False}
    assert inspected["refund"] == {"channel": "webshop", "amount": "1199.00", "currency": "USD"}

    def held_open_box() -> bool:
        (level,) = inventory.get("/stock/CABLE-USB-C")["locations"]
        return bool(level["held"].get("open-box") == 1)

    eventually(held_open_box, what="inventory to hold the cable as open-box")
    published = eventually(
        lambda: (types := event_types(returns_events, rma_id))[-1:] == ["RefundIssued"] and types,
        what="the refund to be published",
    )
    assert published == [
        "ReturnRequested",
        "ReturnAuthorised",
        "ReturnReceiptRecorded",
        "ReturnInspected",
        "ReturnGraded",
        "ReturnDispositioned",
        "RefundIssued",
    ]
    (disposition,) = returns_events.events("ReturnDispositioned")
    assert (disposition["payload"]["serial"], disposition["payload"]["condition"]) == (
        None,
        "open-box",
    )
    status, again = call(
        returns, "/rmas", {"order_id": str(order_id), "line_number": 1, "reason": "another"}
    )
    assert status == 409, "one unit shipped, one RMA"
    assert "every delivered unit of line 1" in again["error"]["message"]
