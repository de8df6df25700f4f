"""What the other services do for a return: shipping buys the return label, the warehouse adapter
records the dock receipt, inventory takes the graded unit back in its condition.

The RMA events are published exactly as the returns service's relay publishes them, so these
services are tested against the contract alone, and as a later release might publish them: each
envelope and payload with a field this release does not know, which the consumers ignore.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from contracts.personal import AddressOnRecord
from contracts.returns import (
    ReturnAuthorised,
    ReturnDispositioned,
    ReturnInspected,
    ReturnReceiptRecorded,
    ReturnRequested,
    ReturnSignedOff,
    RmaEvent,
)
from tests.integration.harness import (
    Channel,
    Services,
    Simulators,
    Topics,
    eventually,
    published,
    receive_serials,
    register_product,
)
from tests.shipping_rates import packaged_table

pytestmark = pytest.mark.integration

CUSTOMER = AddressOnRecord(
    name="Grace Hopper",
    line1="2 Compiler Road",
    city="Arlington",
    region="VA",
    postal_code="22201",
    country="US",
)


class Rma:
    """One RMA's events, published in order as the returns service would."""

    def __init__(self, channel: Channel, sku: str) -> None:
        self.channel = channel
        self.rma_id = uuid.uuid4()
        self.common = {
            "rma_id": self.rma_id,
            "order_id": uuid.uuid4(),
            "line_number": 1,
            "sku": sku,
        }
        self.version = 0

    def publish(self, event: type[RmaEvent], **fields: Any) -> None:
        self.version += 1
        payload = event(**self.common, **fields)
        envelope = json.loads(
            published(payload, producer="returns", aggregate_id=self.rma_id, version=self.version)
        )
        envelope["tenant"] = "eu-1"  # fields added by a later release: a compatible change
        envelope["payload"]["carbon_grams"] = 120
        self.channel.publish(
            "returns.events.v1", json.dumps(envelope).encode(), key=str(self.rma_id)
        )


def test_an_authorised_return_gets_a_ground_label_to_its_warehouse(
    services: Services, channel: Channel, topic: Topics
) -> None:
    pim, shipping = services("pim", "shipping")
    register_product(pim, shipping, "LAPTOP-14", 2_100, lithium=True)
    rma = Rma(channel, "LAPTOP-14")
    rma.publish(ReturnRequested, reason="does not fit")
    rma.publish(
        ReturnAuthorised,
        basis="return-window",
        eligibility="delivered 3 days ago, within 30",
        expected_serials=["SN-1"],
        return_from=CUSTOMER,
        return_to="WH-A",
    )
    shipping_events = topic("shipping.events.v1")
    (label,) = eventually(lambda: shipping_events.events("ReturnLabelPurchased"), what="label")
    assert label["payload"]["rma_id"] == str(rma.rma_id)
    assert label["payload"]["return_to"] == "WH-A"
    ground = {(s.carrier, s.service) for s in packaged_table().services if s.mode == "ground"}
    assert (label["payload"]["carrier"], label["payload"]["service"]) in ground
    assert float(label["payload"]["cost"]) > 0


def test_a_dock_receipt_is_recorded_once_and_a_second_unit_under_the_rma_is_refused(
    services: Services, channel: Channel, topic: Topics
) -> None:
    services("warehouse_adapter")
    rma_id = str(uuid.uuid4())

    def arrival(serial: str) -> bytes:
        message = {
            "type": "return_received",
            "rma_id": rma_id,
            "location": "WH-A",
            "sku": "LAPTOP-14",
            "serial": serial,
            "at": datetime.now(UTC).isoformat(),
        }
        return json.dumps(message).encode()

    channel.publish("threepl.receipts.v1", arrival("SN-1"), key=rma_id)
    channel.publish("threepl.receipts.v1", arrival("SN-1"), key=rma_id)
    channel.publish("threepl.receipts.v1", arrival("SN-2"), key=rma_id)
    dead_letters = topic("warehouse_adapter.deadletter.v1")
    (parked,) = eventually(dead_letters.poll, what="the second unit to be refused")
    assert "a second unit under one RMA is refused" in parked.headers["error"]
    warehouse_events = topic("warehouse_adapter.events.v1")
    (received,) = eventually(lambda: warehouse_events.events("ReturnReceived"), what="receipt")
    assert (received["payload"]["serial"], received["payload"]["location"]) == ("SN-1", "WH-A")


def test_graded_returns_re_enter_stock_in_their_condition_and_only_signed_off_units_as_new(
    services: Services, channel: Channel
) -> None:
    (inventory,) = services("inventory")
    receive_serials(inventory, "DOCK-1", "WH-A", "D-1")
    returns = []
    for serial, grade, condition in (("D-7", "B", "open-box"), ("D-8", "A", "quarantined")):
        rma = Rma(channel, "DOCK-1")
        rma.publish(ReturnRequested, reason="changed mind")
        rma.publish(
            ReturnAuthorised,
            basis="return-window",
            eligibility="within 30 days",
            expected_serials=[serial],
            return_from=CUSTOMER,
            return_to="WH-A",
        )
        rma.publish(ReturnReceiptRecorded, serial=serial, location="WH-A", serial_matches=True)
        rma.publish(
            ReturnInspected,
            checklist={"powers_on": True},
            grade=grade,
            derived_grade=grade,
            inspector="ines",
        )
        rma.publish(
            ReturnDispositioned,
            serial=serial,
            location="WH-A",
            grade=grade,
            condition=condition,
            awaiting_signoff=grade == "A",
        )
        returns.append(rma)

    def level() -> dict[str, Any]:
        found: dict[str, Any] = inventory.get("/stock/DOCK-1")["locations"][0]
        return found

    held = eventually(
        lambda: (lv := level())["held"] == {"quarantined": 1, "open-box": 1, "damaged": 0} and lv,
        what="both units held",
    )
    assert (held["on_hand"], held["available"]) == (1, 1), "neither is available as new"

    returns[1].publish(ReturnSignedOff, serial="D-8", location="WH-A", technician="tom")
    signed = eventually(lambda: (lv := level())["available"] == 2 and lv, what="sign-off")
    assert signed["held"] == {"quarantined": 0, "open-box": 1, "damaged": 0}
    assert signed["serials_in_stock"] == 2


def test_the_simulated_customer_sends_an_authorised_return_back_to_the_dock(
    services: Services, channel: Channel, topic: Topics, simulators: Simulators
) -> None:
    pim, shipping, _ = services("pim", "shipping", "warehouse_adapter")
    register_product(pim, shipping, "LAPTOP-14", 2_100, lithium=True)
    simulators()
    rma = Rma(channel, "LAPTOP-14")
    rma.publish(ReturnRequested, reason="does not fit")
    rma.publish(
        ReturnAuthorised,
        basis="return-window",
        eligibility="delivered 3 days ago, within 30",
        expected_serials=["SN-4"],
        return_from=CUSTOMER,
        return_to="WH-B",
    )
    warehouse_events = topic("warehouse_adapter.events.v1")
    (received,) = eventually(lambda: warehouse_events.events("ReturnReceived"), what="receipt")
    assert {key: received["payload"][key] for key in ("rma_id", "sku", "serial", "location")} == {
        "rma_id": str(rma.rma_id),
        "sku": "LAPTOP-14",
        "serial": "SN-4",
        "location": "WH-B",
    }
