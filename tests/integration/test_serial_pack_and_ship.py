"""Pick, pack with one serial per unit, ship: a 3PL adapter written with confluent-kafka works the
documented protocol, and only serials that may ship in the parcel are accepted."""

from __future__ import annotations

from functools import partial

import pytest

from contracts.channel import order_id_for
from infra import cli
from tests.integration.harness import (
    Channel,
    Services,
    ThreePL,
    Topics,
    channel_order,
    eventually,
    receive_serials,
    register_in_pim,
    register_product,
)

pytestmark = pytest.mark.integration


def test_a_unit_is_packed_by_serial_and_shipped_and_the_order_knows_which_serial_it_got(
    services: Services, channel: Channel, topic: Topics, capsys: pytest.CaptureFixture[str]
) -> None:
    pim, order, inventory, _, shipping = services(
        "pim", "order", "inventory", "warehouse_adapter", "shipping"
    )
    register_product(pim, shipping, "LAPTOP-14", 2_100, lithium=True)
    receive_serials(inventory, "LAPTOP-14", "WH-A", "SN-0001", "SN-0002")
    threepl = ThreePL(channel, topic)
    channel.send(channel_order("8001", lines=[("LAPTOP-14", 1)]))

    (request,) = threepl.requests(1)
    shipment = request["shipment_id"]
    threepl.send("picked", shipment)
    threepl.pack(shipment, (1, "LAPTOP-14", "SN-0002"))
    (verdict,) = threepl.answer(shipment)
    assert verdict["event_type"] == "FulfilmentPacked"
    label = threepl.ship(shipment)

    order_path = f"/orders/{order_id_for('webshop', '8001')}"
    shipped = eventually(
        lambda: (view := order.get(order_path))["status"] == "shipped" and view, what="shipped"
    )
    (parcel,) = shipped["shipments"]
    assert (parcel["serials"], parcel["carrier"], parcel["tracking_number"]) == (
        ["SN-0002"],
        label["carrier"],
        label["tracking_number"],
    )
    assert cli.main(["--order-url", order.url, "where", "webshop:8001"]) == 0
    answer = capsys.readouterr().out
    assert "status    shipped" in answer
    assert (
        f"parcel from WH-A: shipped {label['carrier']} {label['service']} "
        f"{label['tracking_number']}" in answer
    )
    assert "serials: SN-0002" in answer
    (birth_certificate,) = threepl.events.events("UnitSerialCaptured")
    assert {
        key: birth_certificate["payload"][key]
        for key in ("serial", "sku", "line_number", "location", "order_id")
    } == {
        "serial": "SN-0002",
        "sku": "LAPTOP-14",
        "line_number": 1,
        "location": "WH-A",
        "order_id": str(order_id_for("webshop", "8001")),
    }
    level = eventually(
        lambda: (lv := inventory.get("/stock/LAPTOP-14")["locations"][0])["on_hand"] == 1 and lv,
        what="stock to leave",
    )
    assert (level["reserved"], level["serials_in_stock"]) == (0, 1)


def test_a_serial_that_may_not_ship_in_the_parcel_is_rejected_and_the_pack_does_not_complete(
    services: Services, channel: Channel, topic: Topics
) -> None:
    pim, order, inventory, _ = services("pim", "order", "inventory", "warehouse_adapter")
    register_in_pim(pim, order, "LAPTOP-14")
    receive_serials(inventory, "LAPTOP-14", "WH-A", "SN-A1")
    receive_serials(inventory, "LAPTOP-14", "WH-B", "SN-B1")
    receive_serials(inventory, "PHONE-9", "WH-A", "PH-01")
    threepl = ThreePL(channel, topic)
    dead_letters = topic("warehouse_adapter.deadletter.v1")
    channel.send(channel_order("8101", lines=[("LAPTOP-14", 1)]))
    shipment = threepl.requests(1)[0]["shipment_id"]

    wrong_serials = ["SN-NEVER-SEEN", "SN-B1", "PH-01", None]
    for scan, serial in enumerate(wrong_serials, start=1):
        threepl.pack(shipment, (1, "LAPTOP-14", serial))
        threepl.answer(shipment, count=scan)  # a 3PL scans again only after the verdict
    threepl.send("shipped", shipment, carrier="ups", service="ground", tracking_number="1Z-EARLY")

    rejections = threepl.answer(shipment, count=4)
    problems = [r["payload"]["problems"] for r in rejections]
    assert {r["event_type"] for r in rejections} == {"PackScanRejected"}
    assert problems == [
        ["line 1: serial SN-NEVER-SEEN is not a LAPTOP-14 in stock"],
        ["line 1: serial SN-B1 of LAPTOP-14 is at WH-B, not at WH-A"],
        ["line 1: serial PH-01 is not a LAPTOP-14 in stock"],
        ["line 1: LAPTOP-14 units carry serials; one was not scanned"],
    ]
    parked = eventually(dead_letters.poll, what="the early shipment to be refused")
    assert "only a packed shipment with verified serials can ship" in parked[0].headers["error"]

    threepl.pack(shipment, (1, "LAPTOP-14", "SN-A1"))
    assert threepl.answer(shipment, count=5)[-1]["event_type"] == "FulfilmentPacked"


def test_a_split_order_is_partly_shipped_until_its_last_parcel_leaves(
    services: Services, channel: Channel, topic: Topics
) -> None:
    pim, order, inventory, _, shipping = services(
        "pim", "order", "inventory", "warehouse_adapter", "shipping"
    )
    register_product(pim, shipping, "CAMERA-X", 800, lithium=True)
    register_product(pim, shipping, "LENS-50", 400, lithium=False)
    receive_serials(inventory, "CAMERA-X", "WH-A", "CAM-1")
    receive_serials(inventory, "LENS-50", "WH-B", "LENS-1")
    threepl = ThreePL(channel, topic)
    channel.send(channel_order("8201", lines=[("CAMERA-X", 1), ("LENS-50", 1)]))
    by_location = {r["location"]: r["shipment_id"] for r in threepl.requests(2)}
    order_path = f"/orders/{order_id_for('webshop', '8201')}"

    def status_is(expected: str) -> bool:
        return bool(order.get(order_path)["status"] == expected)

    for location, (line, sku, serial) in (
        ("WH-A", (1, "CAMERA-X", "CAM-1")),
        ("WH-B", (2, "LENS-50", "LENS-1")),
    ):
        threepl.pack(by_location[location], (line, sku, serial))
        threepl.answer(by_location[location])
        threepl.ship(by_location[location])
        expected = "partly-shipped" if location == "WH-A" else "shipped"
        eventually(partial(status_is, expected), what=expected)


def test_a_backordered_line_ships_as_a_later_parcel_when_its_stock_arrives(
    services: Services, channel: Channel, topic: Topics
) -> None:
    """Camera now, lens later: the lens ships from the same location in a parcel of its own, and
    the order is shipped only when both have left."""
    pim, order, inventory, _, shipping = services(
        "pim", "order", "inventory", "warehouse_adapter", "shipping"
    )
    register_product(pim, shipping, "CAMERA-X", 800, lithium=True)
    register_product(pim, shipping, "LENS-50", 400, lithium=False)
    receive_serials(inventory, "CAMERA-X", "WH-A", "CAM-1")
    threepl = ThreePL(channel, topic)
    channel.send(channel_order("8301", lines=[("CAMERA-X", 1), ("LENS-50", 1)]))
    order_path = f"/orders/{order_id_for('webshop', '8301')}"

    (camera,) = threepl.requests(1)
    assert [line["sku"] for line in camera["lines"]] == ["CAMERA-X"]
    threepl.pack(camera["shipment_id"], (1, "CAMERA-X", "CAM-1"))
    threepl.answer(camera["shipment_id"])
    threepl.ship(camera["shipment_id"])
    view = eventually(
        lambda: (v := order.get(order_path))["status"] == "partly-shipped" and v, what="camera"
    )
    assert [line["quantity_backordered"] for line in view["allocation"]] == [0, 1]
    assert inventory.get("/stock/LENS-50")["backordered"] == 1

    receive_serials(inventory, "LENS-50", "WH-A", "LENS-1", "LENS-2")
    _, lens = threepl.requests(2)
    assert (lens["location"], [line["sku"] for line in lens["lines"]]) == ("WH-A", ["LENS-50"])
    assert lens["shipment_id"] != camera["shipment_id"]
    level = inventory.get("/stock/LENS-50")
    assert (level["backordered"], level["locations"][0]["available"]) == (0, 1)
    threepl.pack(lens["shipment_id"], (2, "LENS-50", "LENS-2"))
    threepl.answer(lens["shipment_id"])
    threepl.ship(lens["shipment_id"])
    shipped = eventually(
        lambda: (v := order.get(order_path))["status"] == "shipped" and v, what="the lens"
    )
    assert sorted(serial for parcel in shipped["shipments"] for serial in parcel["serials"]) == [
        "CAM-1",
        "LENS-2",
    ]
