"""The simulated 3PL and carriers: shelves and serial choice, scans and rescans, carrier codes,
and which offsets may be committed. No broker: the logic alone, at zero delays."""

from __future__ import annotations

import asyncio
import functools
import random
import uuid
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from aiokafka import TopicPartition

from contracts.base import IntegrationEvent
from contracts.envelope import Envelope
from contracts.inventory import (
    StockAdjusted,
    StockReceived,
    StockSerialPacked,
    StockShipped,
    StockTransferredIn,
    StockTransferredOut,
)
from contracts.order import ShipmentLine
from contracts.personal import AddressOnRecord
from contracts.threepl import (
    CycleCount,
    GoodsReceipt,
    PackConfirmation,
    PickConfirmation,
    ScannedUnit,
    ShelfDamage,
    ShipConfirmation,
    TransferArrival,
)
from contracts.warehouse import (
    FulfilmentCancelled,
    FulfilmentLabelled,
    FulfilmentRequested,
    InboundCancelled,
    InboundExpected,
    InboundUnits,
    PackScanRejected,
    ShipmentConfirmed,
    TransferRequested,
)
from infra.simulators.carriers import (
    CARRIER_CODES,
    Milestone,
    SimulatedCarriersSettings,
    tracking_plan,
)
from infra.simulators.kafka import (
    KafkaSettings,
    OffsetTracker,
    RecentIds,
    Record,
    Subscription,
    consume_group,
)
from infra.simulators.packing import plan_scan, serials_blamed
from infra.simulators.receiving import goods_receipt_for
from infra.simulators.returns import ExpectedReturn, SimulatedReturnsSettings, arrival_for
from infra.simulators.shelf_feed import learn
from infra.simulators.shelves import Shelves
from infra.simulators.threepl import SimulatedThreePL
from infra.simulators.threepl_bridge import (
    FULFILMENT_REQUESTS,
    WAREHOUSE_EVENTS,
    Confirmation,
    ShipmentsInOrder,
)
from infra.simulators.threepl_settings import SimulatedThreePLSettings
from infra.stack import simulators_wanted
from services.shipping.domain import Tracking, normalise_tracking
from tests.component.inbox import record

ORDER = uuid.UUID("00000000-0000-0000-0000-00000000000a")
ADDRESS = AddressOnRecord(
    name="Grace Hopper",
    line1="2 Compiler Road",
    city="Arlington",
    postal_code="22201",
    country="US",
)


def request(*lines: tuple[str, int], location: str = "WH-A") -> FulfilmentRequested:
    return FulfilmentRequested(
        shipment_id=uuid.uuid4(),
        order_id=ORDER,
        location=location,
        lines=[
            ShipmentLine(line_number=number, sku=sku, quantity=quantity)
            for number, (sku, quantity) in enumerate(lines, start=1)
        ],
        ship_to=ADDRESS,
        signature_required=False,
    )


def stocked() -> Shelves:
    shelves = Shelves()
    shelves.received("LAPTOP-14", "WH-A", ["L-1", "L-2", "L-3"])
    shelves.received("LAPTOP-14", "WH-B", ["L-9"])
    shelves.received("CAMERA-X", "WH-A", ["C-1"])
    return shelves


def serials(units: tuple[ScannedUnit, ...] | list[ScannedUnit]) -> list[str | None]:
    return [unit.serial for unit in units]


# -- shelves and the choice of serials -----------------------------------------------------------


def test_serials_are_picked_oldest_first_at_the_shipment_location_and_never_twice() -> None:
    shelves = stocked()
    assert serials(plan_scan(request(("LAPTOP-14", 2)), shelves).units) == ["L-1", "L-2"]
    assert serials(plan_scan(request(("LAPTOP-14", 1)), shelves).units) == ["L-3"]
    plan = plan_scan(request(("LAPTOP-14", 1)), shelves)
    assert serials(plan.units) == [None]
    assert plan.missing == ("line 1: 1 x LAPTOP-14 not on the shelves at WH-A",)


def test_a_shipment_scanned_again_takes_the_units_it_already_holds() -> None:
    shelves = stocked()
    shipment = request(("LAPTOP-14", 1))
    assert serials(plan_scan(shipment, shelves).units) == ["L-1"]
    assert serials(plan_scan(shipment, shelves).units) == ["L-1"]


def test_units_packed_or_shipped_elsewhere_are_not_free_and_put_back_units_are() -> None:
    shelves = stocked()
    other = uuid.uuid4()
    shelves.packed("L-1", "LAPTOP-14", "WH-A", other)
    shelves.shipped("LAPTOP-14", ["L-2"])
    cancelled = request(("LAPTOP-14", 1))
    assert serials(plan_scan(cancelled, shelves).units) == ["L-3"]
    assert serials(plan_scan(request(("LAPTOP-14", 1)), shelves).units) == [None]
    shelves.put_back(cancelled.shipment_id)
    assert serials(plan_scan(request(("LAPTOP-14", 1)), shelves).units) == ["L-3"]


def test_a_unit_inventory_packed_into_the_shipment_is_scanned_for_it_first() -> None:
    shelves = stocked()
    shipment = request(("LAPTOP-14", 1))
    shelves.packed("L-3", "LAPTOP-14", "WH-A", shipment.shipment_id)
    assert shelves.packed_into(shipment.shipment_id)
    assert serials(plan_scan(shipment, shelves).units) == ["L-3"]


def test_a_parcel_counts_as_packed_while_any_unit_is_packed_into_it() -> None:
    shelves = stocked()
    first, second = uuid.uuid4(), uuid.uuid4()
    shelves.packed("L-1", "LAPTOP-14", "WH-A", first)
    shelves.packed("L-2", "LAPTOP-14", "WH-A", first)
    shelves.packed("L-2", "LAPTOP-14", "WH-A", second)  # moved to another parcel
    assert shelves.packed_into(first)
    assert shelves.packed_into(second)
    shelves.shipped("LAPTOP-14", ["L-1"])
    assert not shelves.packed_into(first)
    assert shelves.shipped_in(first)
    shelves.left(["L-2"])
    assert not shelves.packed_into(second)
    assert shelves.free("LAPTOP-14", "WH-A", second) == ["L-3"]


def test_a_returned_unit_is_the_newest_on_its_shelf_and_free_again() -> None:
    shelves = stocked()
    parcel = uuid.uuid4()
    shelves.packed("L-1", "LAPTOP-14", "WH-A", parcel)
    shelves.shipped("LAPTOP-14", ["L-1"])
    assert shelves.free("LAPTOP-14", "WH-A", uuid.uuid4()) == ["L-2", "L-3"]
    shelves.received("LAPTOP-14", "WH-B", ["L-1"])  # came back to the other warehouse
    assert shelves.free("LAPTOP-14", "WH-B", uuid.uuid4()) == ["L-9", "L-1"]
    assert shelves.free("LAPTOP-14", "WH-A", uuid.uuid4()) == ["L-2", "L-3"]
    assert not shelves.packed_into(parcel)


def test_unserialized_products_are_scanned_without_a_serial() -> None:
    shelves = stocked()
    plan = plan_scan(request(("CABLE-USBC", 2), ("CAMERA-X", 1)), shelves)
    assert [(u.line_number, u.sku, u.serial) for u in plan.units] == [
        (1, "CABLE-USBC", None),
        (1, "CABLE-USBC", None),
        (2, "CAMERA-X", "C-1"),
    ]
    assert plan.missing == ()


def test_a_mis_scan_takes_a_neighbouring_unit_of_another_sku_else_misreads_the_serial() -> None:
    shelves = stocked()
    plan = plan_scan(request(("LAPTOP-14", 1)), shelves, mis_scan=True)
    assert serials(plan.units) == ["C-1"]
    assert plan.mis_scanned == {"C-1"}

    lonely = Shelves()
    lonely.received("LENS-50", "WH-B", ["LN-0001"])
    plan = plan_scan(request(("LENS-50", 1), location="WH-B"), lonely, mis_scan=True)
    (wrong,) = serials(plan.units)
    assert wrong not in (None, "LN-0001")
    assert wrong is not None
    assert len(wrong) == len("LN-0001")
    assert plan.mis_scanned == {wrong}


def test_the_serials_named_in_the_problems_are_the_ones_blamed() -> None:
    units = (
        ScannedUnit(line_number=1, sku="LAPTOP-14", serial="L-1"),
        ScannedUnit(line_number=1, sku="LAPTOP-14", serial="L-10"),
        ScannedUnit(line_number=2, sku="CABLE-USBC", serial=None),
    )
    problems = ["line 1: serial L-10 of LAPTOP-14 is already packed in shipment 42"]
    assert serials_blamed(problems, units) == {"L-10"}


def envelope(event: IntegrationEvent, producer: str = "inventory") -> Envelope:
    return Envelope.of(
        event,
        producer=producer,
        aggregate_id=uuid.uuid4(),
        aggregate_version=1,
        occurred_at=datetime.now(UTC),
        correlation_id="test",
    )


def test_the_shelves_learn_from_inventory_events() -> None:
    shelves = Shelves()
    shipment = uuid.uuid4()
    received = StockReceived(
        sku="DOCK-1",
        location="WH-A",
        quantity=2,
        reason="purchase-receipt",
        actor="dock",
        serials=["D-1", "D-2"],
    )
    assert learn(shelves, envelope(received))
    assert shelves.is_serialized("DOCK-1")
    packed = StockSerialPacked(
        sku="DOCK-1", serial="D-1", location="WH-A", shipment_id=shipment, order_id=ORDER
    )
    assert learn(shelves, envelope(packed))
    assert shelves.free("DOCK-1", "WH-A", uuid.uuid4()) == ["D-2"]
    shipped = StockShipped(
        sku="DOCK-1",
        location="WH-A",
        order_id=ORDER,
        line_number=1,
        quantity=1,
        serials=["D-1"],
        shipment_id=shipment,
    )
    assert learn(shelves, envelope(shipped))
    assert shelves.free("DOCK-1", "WH-A", shipment) == ["D-2"]
    assert not learn(shelves, envelope(received, producer="order"))


# -- the simulated 3PL at work -------------------------------------------------------------------


class Outbox:
    """The publish callback, collecting what the 3PL sends."""

    def __init__(self) -> None:
        self.sent: list[Confirmation] = []

    async def __call__(self, confirmation: Confirmation) -> None:
        self.sent.append(confirmation)

    def kinds(self) -> list[str]:
        return [message.type for message in self.sent]

    def packs(self) -> list[PackConfirmation]:
        return [message for message in self.sent if isinstance(message, PackConfirmation)]


def instant(**overrides: object) -> SimulatedThreePLSettings:
    values: dict[str, object] = {
        "pick_delay": 0,
        "pack_delay": 0,
        "ship_delay": 0,
        "mis_scan_rate": 0,
        "duplicate_rate": 0,
        "serial_wait": 0,
        "receive_delay": 0,
    }
    return SimulatedThreePLSettings.model_validate(values | overrides)


async def started(settings: SimulatedThreePLSettings) -> tuple[SimulatedThreePL, Outbox]:
    threepl = SimulatedThreePL(settings, stocked())
    outbox = Outbox()
    await threepl.start(outbox)
    return threepl, outbox


def label_for(shipment: FulfilmentRequested) -> FulfilmentLabelled:
    return FulfilmentLabelled(
        shipment_id=shipment.shipment_id,
        order_id=ORDER,
        carrier="ups",
        service="ground",
        tracking_number="1Z999",
    )


async def test_a_request_is_picked_packed_with_real_serials_and_shipped_with_its_label() -> None:
    threepl, outbox = await started(instant())
    shipment = request(("LAPTOP-14", 1), ("CABLE-USBC", 1))
    await threepl.fulfilment_requested(shipment)
    await threepl.fulfilment_requested(shipment)  # a repeat changes nothing
    await threepl.idle()
    assert outbox.kinds() == ["picked", "packed"]
    assert serials(outbox.packs()[0].units) == ["L-1", None]

    await threepl.fulfilment_labelled(label_for(shipment))
    await threepl.idle()
    shipped = outbox.sent[-1]
    assert isinstance(shipped, ShipConfirmation)
    assert (shipped.carrier, shipped.service, shipped.tracking_number) == ("ups", "ground", "1Z999")
    assert isinstance(outbox.sent[0], PickConfirmation)


async def test_a_mis_scan_is_rejected_and_the_right_serials_are_scanned_again() -> None:
    threepl, outbox = await started(instant(mis_scan_rate=1.0))
    shipment = request(("LAPTOP-14", 1))
    await threepl.fulfilment_requested(shipment)
    await threepl.idle()
    assert serials(outbox.packs()[0].units) == ["C-1"]

    rejection = PackScanRejected(
        shipment_id=shipment.shipment_id,
        order_id=ORDER,
        problems=["line 1: serial C-1 is not a LAPTOP-14 in stock"],
    )
    await threepl.pack_scan_rejected(rejection)
    await threepl.pack_scan_rejected(rejection)  # the same verdict again: one rescan
    await threepl.idle()
    assert outbox.kinds() == ["picked", "packed", "packed"]
    assert serials(outbox.packs()[1].units) == ["L-1"]


async def test_a_serial_inventory_refuses_is_set_aside_for_the_rescan() -> None:
    threepl, outbox = await started(instant())
    shipment = request(("LAPTOP-14", 1))
    await threepl.fulfilment_requested(shipment)
    await threepl.idle()
    await threepl.pack_scan_rejected(
        PackScanRejected(
            shipment_id=shipment.shipment_id,
            order_id=ORDER,
            problems=["line 1: serial L-1 of LAPTOP-14 has already shipped"],
        )
    )
    await threepl.idle()
    assert [serials(pack.units) for pack in outbox.packs()] == [["L-1"], ["L-2"]]


async def test_a_unit_refused_for_its_missing_serial_is_scanned_again_once_its_serial_is_known() -> (
    None
):
    threepl, outbox = await started(instant(serial_wait=30))
    shipment = request(("LENS-50", 1))
    await threepl.fulfilment_requested(shipment)
    await threepl.idle()
    assert serials(outbox.packs()[0].units) == [None]  # the shelves know of no LENS-50 serials

    await threepl.pack_scan_rejected(
        PackScanRejected(
            shipment_id=shipment.shipment_id,
            order_id=ORDER,
            problems=["line 1: LENS-50 units carry serials; one was not scanned"],
        )
    )
    await asyncio.sleep(0.05)
    assert len(outbox.packs()) == 1  # the packer waits for the unit to show up
    threepl.shelves.received("LENS-50", "WH-A", ["N-1"])
    threepl.shelves_changed()
    await threepl.idle()
    assert [serials(pack.units) for pack in outbox.packs()] == [[None], ["N-1"]]


async def test_after_max_scans_the_3pl_stops_scanning() -> None:
    threepl, outbox = await started(instant(max_scans=1))
    shipment = request(("LAPTOP-14", 1))
    await threepl.fulfilment_requested(shipment)
    await threepl.idle()
    await threepl.pack_scan_rejected(
        PackScanRejected(shipment_id=shipment.shipment_id, order_id=ORDER, problems=["?"])
    )
    await threepl.idle()
    assert outbox.kinds() == ["picked", "packed"]


async def test_a_cancelled_shipment_puts_its_units_back_and_is_not_worked_on_again() -> None:
    threepl, outbox = await started(instant())
    shipment = request(("CAMERA-X", 1))
    await threepl.fulfilment_requested(shipment)
    await threepl.idle()
    await threepl.fulfilment_cancelled(
        FulfilmentCancelled(shipment_id=shipment.shipment_id, order_id=ORDER, reason="cancelled")
    )
    await threepl.fulfilment_requested(shipment)
    await threepl.fulfilment_labelled(label_for(shipment))
    await threepl.idle()
    assert outbox.kinds() == ["picked", "packed"]
    assert threepl.shelves.free("CAMERA-X", "WH-A", uuid.uuid4()) == ["C-1"]


async def test_shipments_at_locations_it_does_not_operate_are_left_alone() -> None:
    threepl, outbox = await started(instant(locations="WH-B, WH-C"))
    await threepl.fulfilment_requested(request(("LAPTOP-14", 1), location="WH-A"))
    await threepl.fulfilment_requested(request(("LAPTOP-14", 1), location="WH-B"))
    await threepl.idle()
    assert serials(outbox.packs()[0].units) == ["L-9"]
    assert len(outbox.packs()) == 1


async def test_a_3pl_restarted_after_its_parcel_shipped_does_not_pick_or_pack_it_again() -> None:
    """Its shelves saw the parcel's units leave (inventory's events) before it read that the
    shipment shipped: the request read again after the restart is not worked on."""
    shipment = request(("LAPTOP-14", 1))
    threepl, outbox = await started(instant())
    threepl.shelves.packed("L-1", "LAPTOP-14", "WH-A", shipment.shipment_id)
    threepl.shelves.shipped("LAPTOP-14", ["L-1"])
    await threepl.fulfilment_requested(shipment)
    await threepl.fulfilment_labelled(label_for(shipment))
    await threepl.idle()
    assert outbox.sent == []

    packed_only = request(("LAPTOP-14", 1))
    threepl.shelves.packed("L-2", "LAPTOP-14", "WH-A", packed_only.shipment_id)
    await threepl.fulfilment_requested(packed_only)
    await threepl.idle()
    assert outbox.kinds() == ["picked", "packed"]
    assert serials(outbox.packs()[0].units) == ["L-2"]


async def test_confirmations_are_sometimes_sent_twice() -> None:
    threepl, outbox = await started(instant(duplicate_rate=1.0))
    shipment = request(("LAPTOP-14", 1))
    await threepl.fulfilment_requested(shipment)
    await threepl.idle()
    assert outbox.kinds() == ["picked", "picked", "packed", "packed"]
    confirmed = ShipmentConfirmed(
        shipment_id=shipment.shipment_id,
        order_id=ORDER,
        location="WH-A",
        units=[],
        carrier="ups",
        service="ground",
        tracking_number="1Z999",
        shipped_at=datetime.now(UTC),
    )
    await threepl.shipment_confirmed(confirmed)
    await threepl.fulfilment_labelled(label_for(shipment))  # too late: the parcel is gone
    await threepl.idle()
    assert len(outbox.sent) == 4


def expected(asn_id: str | None, *lines: InboundUnits, location: str = "WH-A") -> InboundExpected:
    return InboundExpected(
        purchase_order_id="PO-1",
        asn_id=asn_id,
        supplier="Acme",
        location=location,
        expected_on=datetime(2026, 3, 2).date(),
        lines=list(lines),
    )


def receipts(outbox: Outbox) -> list[GoodsReceipt]:
    return [message for message in outbox.sent if isinstance(message, GoodsReceipt)]


def test_the_dock_scans_the_declared_serials_or_new_ones_and_never_more_than_is_left() -> None:
    asn = expected(
        "ASN-1",
        InboundUnits(sku="LAPTOP-14", quantity=2, serials=["S1", "S2"], batch="B1"),
        InboundUnits(sku="CABLE-USBC", quantity=5),
    )
    received = goods_receipt_for(asn, {"LAPTOP-14": 2, "CABLE-USBC": 3}, random.Random(1))
    assert received is not None
    laptop, cable = received.lines
    assert (laptop.serials, laptop.batch) == (["S1", "S2"], "B1")
    assert cable.quantity == 3
    assert cable.serials == [], "the ASN names no serials for cables: none are made up"
    assert cable.batch is not None
    again = goods_receipt_for(asn, {"LAPTOP-14": 2, "CABLE-USBC": 3}, random.Random(1))
    assert again is not None
    assert (again.receipt_id, again.lines) == (received.receipt_id, received.lines)
    assert goods_receipt_for(asn, {"LAPTOP-14": 0}, random.Random(1)) is None


async def test_an_order_without_an_asn_is_received_whole_and_one_with_asns_by_its_asns() -> None:
    threepl, outbox = await started(instant())
    await threepl.inbound_expected(expected(None, InboundUnits(sku="LAPTOP-14", quantity=3)))
    await threepl.idle()
    (whole,) = receipts(outbox)
    assert (whole.asn_id, whole.lines[0].quantity, len(whole.lines[0].serials)) == (None, 3, 3)
    await threepl.inbound_expected(  # the goods are in already: nothing left to receive
        expected("ASN-1", InboundUnits(sku="LAPTOP-14", quantity=3))
    )
    await threepl.idle()
    assert len(receipts(outbox)) == 1

    threepl, outbox = await started(instant(receive_delay=0.05))
    await threepl.inbound_expected(expected(None, InboundUnits(sku="LAPTOP-14", quantity=3)))
    await threepl.inbound_expected(
        expected("ASN-1", InboundUnits(sku="LAPTOP-14", quantity=2, serials=["S1", "S2"]))
    )
    await threepl.idle()
    (by_asn,) = receipts(outbox)
    assert (by_asn.asn_id, by_asn.lines[0].serials) == ("ASN-1", ["S1", "S2"])


async def test_goods_of_a_cancelled_order_or_for_other_locations_are_not_received() -> None:
    threepl, outbox = await started(instant(receive_delay=0.05, locations="WH-A"))
    await threepl.inbound_expected(expected(None, InboundUnits(sku="LAPTOP-14", quantity=3)))
    await threepl.inbound_cancelled(
        InboundCancelled(purchase_order_id="PO-1", location="WH-A", reason="late")
    )
    await threepl.inbound_expected(
        expected(None, InboundUnits(sku="LAPTOP-14", quantity=1), location="WH-B")
    )
    await threepl.idle()
    assert receipts(outbox) == []


# -- carriers ------------------------------------------------------------------------------------


def carrier_settings(**overrides: object) -> SimulatedCarriersSettings:
    return SimulatedCarriersSettings.model_validate({"exception_rate": 0} | overrides)


def test_a_parcel_is_picked_up_carried_and_delivered_in_the_carrier_s_own_codes() -> None:
    plan = tracking_plan("ups", carrier_settings(), random.Random(1))
    assert [scan.code for scan in plan] == ["P", "I", "O", "D"]
    fedex = tracking_plan("fedex", carrier_settings(), random.Random(1))
    assert [scan.code for scan in fedex] == ["PU", "IT", "OD", "DL"]


def test_a_failed_delivery_attempt_is_an_exception_and_the_parcel_is_delivered_later() -> None:
    plan = tracking_plan("usps", carrier_settings(exception_rate=1), random.Random(1))
    assert [scan.code for scan in plan] == ["03", "10", "OF", "02", "OF", "01"]
    assert [scan.milestone for scan in plan][-3:] == [
        Milestone.EXCEPTION,
        Milestone.OUT_FOR_DELIVERY,
        Milestone.DELIVERED,
    ]


def test_an_unknown_carrier_reports_generic_codes() -> None:
    plan = tracking_plan("acme-post", carrier_settings(), random.Random(1))
    assert [scan.code for scan in plan] == [
        "in_transit",
        "in_transit",
        "out_for_delivery",
        "delivered",
    ]


def test_delays_follow_the_settings_and_zero_means_at_once() -> None:
    settings = carrier_settings(
        pickup_delay=2, transit_delay=4, delivery_delay=3, redelivery_delay=5, jitter=0
    )
    plan = tracking_plan("dhl", settings.model_copy(update={"exception_rate": 1}), random.Random())
    assert [scan.after for scan in plan] == [2, 2, 2, 3, 5, 3]
    instant_plan = tracking_plan(
        "dhl", carrier_settings(pickup_delay=0, transit_delay=0, delivery_delay=0), random.Random()
    )
    assert {scan.after for scan in instant_plan} == {0}


EXPECTED_MEANING = {
    Milestone.PICKED_UP: Tracking.IN_TRANSIT,
    Milestone.IN_TRANSIT: Tracking.IN_TRANSIT,
    Milestone.OUT_FOR_DELIVERY: Tracking.IN_TRANSIT,
    Milestone.DELIVERED: Tracking.DELIVERED,
    Milestone.EXCEPTION: Tracking.EXCEPTION,
}


@pytest.mark.parametrize("carrier", [*CARRIER_CODES, "acme-post"])
def test_every_code_a_simulated_carrier_sends_means_what_shipping_reads_it_as(carrier: str) -> None:
    plan = tracking_plan(carrier, carrier_settings(exception_rate=1), random.Random(1))
    for scan in plan:
        assert normalise_tracking(carrier, scan.code) is EXPECTED_MEANING[scan.milestone]


# -- offsets -------------------------------------------------------------------------------------


def test_offsets_are_committed_up_to_the_oldest_unfinished_work() -> None:
    tracker = OffsetTracker()
    for offset in range(3):
        tracker.consumed(0, offset)
    assert tracker.committable() == {0: 3}
    tracker.opened("a", 0, 3)
    tracker.consumed(0, 3)
    tracker.opened("b", 0, 4)
    tracker.opened("a", 0, 9)  # a repeat keeps the first offset
    tracker.consumed(0, 4)
    tracker.consumed(1, 0)
    assert tracker.committable() == {0: 3, 1: 1}
    tracker.closed("a")
    assert tracker.committable() == {0: 4, 1: 1}
    tracker.closed("b")
    assert tracker.committable() == {0: 5, 1: 1}


def test_recent_ids_recognise_repeats_and_forget_the_oldest() -> None:
    recent = RecentIds(size=2)
    assert recent.add("a")
    assert recent.add("b")
    assert not recent.add("a")
    assert recent.add("c")
    assert recent.add("a")  # forgotten: only the last two are kept


# -- the launcher ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag_off", "env", "wanted"),
    [
        (False, {}, True),
        (False, {"UNITRAIL_SIMULATORS": "on"}, True),
        (False, {"UNITRAIL_SIMULATORS": "OFF"}, False),
        (False, {"UNITRAIL_SIMULATORS": "false"}, False),
        (True, {}, False),
    ],
)
def test_the_launcher_starts_the_simulators_unless_told_not_to(
    flag_off: bool, env: dict[str, str], wanted: bool
) -> None:
    assert simulators_wanted(flag_off, env) is wanted


def test_the_dock_scans_the_shipped_unit_or_at_the_switcheroo_rate_another_one() -> None:
    rma = uuid.uuid4()
    expected = ExpectedReturn("LAPTOP-14", ("SN-1", "SN-2"))
    at = datetime(2026, 11, 24, tzinfo=UTC)
    honest = arrival_for(rma, expected, "WH-A", SimulatedReturnsSettings(switcheroo_rate=0), at)
    assert (honest.serial, honest.sku, honest.location) == ("SN-1", "LAPTOP-14", "WH-A")
    fraud = arrival_for(rma, expected, "WH-A", SimulatedReturnsSettings(switcheroo_rate=1), at)
    assert fraud.serial is not None
    assert fraud.serial not in expected.serials
    again = arrival_for(rma, expected, "WH-A", SimulatedReturnsSettings(switcheroo_rate=1), at)
    assert again == fraud, "the same RMA tells the same story"
    unserialized = ExpectedReturn("CABLE-1", ())
    assert arrival_for(rma, unserialized, "WH-A", SimulatedReturnsSettings(), at).serial is None


# -- transfers and shelf reports -----------------------------------------------------------------


def transfer(to_location: str = "WH-B") -> TransferRequested:
    return TransferRequested(
        transfer_id=uuid.UUID("00000000-0000-4000-8000-0000000000aa"),
        sku="LAPTOP-14",
        from_location="WH-A",
        to_location=to_location,
        quantity=2,
        serials=["L-1", "L-2"],
    )


async def test_a_transfer_is_received_at_its_destination_with_every_serial_sent() -> None:
    threepl, outbox = await started(instant(transfer_delay=0, locations="WH-B"))
    await threepl.transfer_requested(transfer())
    await threepl.transfer_requested(transfer())  # delivered again: received once
    await threepl.transfer_requested(transfer(to_location="WH-C"))  # not one of its docks
    await threepl.idle()
    (arrived,) = outbox.sent
    assert isinstance(arrived, TransferArrival)
    assert (arrived.location, arrived.quantity, arrived.serials) == ("WH-B", 2, ["L-1", "L-2"])


def test_the_shelves_follow_transfers_and_adjustments() -> None:
    shelves = stocked()
    moved = uuid.uuid4()
    out = StockTransferredOut(
        sku="LAPTOP-14",
        transfer_id=moved,
        from_location="WH-A",
        to_location="WH-B",
        quantity=1,
        serials=["L-1"],
        actor="ops",
    )
    arrived = StockTransferredIn(
        sku="LAPTOP-14",
        transfer_id=moved,
        from_location="WH-A",
        to_location="WH-B",
        quantity=1,
        serials=["L-1"],
        actor="dock",
    )
    damaged = StockAdjusted(
        sku="LAPTOP-14",
        location="WH-A",
        quantity_delta=-1,
        reason_code="damage",
        actor="3pl",
        serials=["L-2"],
        on_hand_before=2,
        on_hand_after=1,
    )
    assert all(learn(shelves, envelope(event)) for event in (out, arrived, damaged))
    assert shelves.in_building("WH-A") == {"LAPTOP-14": ["L-3"], "CAMERA-X": ["C-1"]}
    assert shelves.in_building("WH-B") == {"LAPTOP-14": ["L-9", "L-1"]}


async def test_a_cycle_count_reports_every_sku_and_the_units_found_damaged() -> None:
    threepl, outbox = await started(instant(locations="WH-A", damage_rate=1))
    await threepl.count_shelves()
    reports = [m for m in outbox.sent if isinstance(m, CycleCount | ShelfDamage)]
    assert [(m.type, m.sku, m.serials) for m in reports] == [
        ("damage_found", "CAMERA-X", ["C-1"]),
        ("cycle_counted", "CAMERA-X", []),
        ("damage_found", "LAPTOP-14", ["L-1", "L-2", "L-3"]),
        ("cycle_counted", "LAPTOP-14", []),
    ]
    threepl, outbox = await started(instant(locations="WH-A"))
    await threepl.count_shelves()
    counts = [m for m in outbox.sent if isinstance(m, CycleCount)]
    assert [(m.sku, m.counted, m.serials) for m in counts] == [
        ("CAMERA-X", 1, ["C-1"]),
        ("LAPTOP-14", 3, ["L-1", "L-2", "L-3"]),
    ]


# -- a shipment's messages from two topics -------------------------------------------------------


def copy(
    topic: str,
    event_type: str,
    shipment: str,
    version: int,
    position: int,
    offset: int | None = None,
    broker_life: str = "life-1",
) -> Record:
    """A record as the warehouse adapter's relays write it (one partition per topic here), at
    offset `position` unless told."""
    headers = [
        ("event_type", event_type.encode()),
        ("aggregate_id", shipment.encode()),
        ("aggregate_version", str(version).encode()),
        ("notification_id", str(position).encode()),
        ("broker_incarnation", broker_life.encode()),
    ]
    at = position if offset is None else offset
    return record(topic, b"{}", at, key=shipment, headers=headers)


sealed = functools.partial(copy, WAREHOUSE_EVENTS)
"""A record of the events topic (the request's ship-to sealed)."""
clear = functools.partial(copy, FULFILMENT_REQUESTS, "FulfilmentRequested")
"""A request on the requests topic (its ship-to in clear)."""


def in_order() -> ShipmentsInOrder:
    return ShipmentsInOrder({WAREHOUSE_EVENTS: 1, FULFILMENT_REQUESTS: 1})


def names(records: list[Record]) -> list[tuple[str, str]]:
    return [
        (record.topic.split(".")[0], dict(record.headers)["event_type"].decode())
        for record in records
    ]


def test_a_request_read_first_in_clear_is_handed_on_in_the_place_of_its_sealed_copy() -> None:
    order = in_order()
    assert order.from_requests(clear("S1", 1, 10)).deliver == []
    done = order.from_events(sealed("FulfilmentRequested", "S1", 1, 10))
    assert (names(done.deliver), done.drop) == ([("threepl", "FulfilmentRequested")], [])
    assert names(order.from_events(sealed("FulfilmentLabelled", "S1", 5, 14)).deliver) == [
        ("warehouse_adapter", "FulfilmentLabelled")
    ]


def test_requests_read_first_in_clear_each_wait_for_their_own_sealed_copy() -> None:
    order = in_order()
    order.from_requests(clear("S1", 1, 3))
    order.from_requests(clear("S2", 1, 4))
    first = order.from_events(sealed("FulfilmentRequested", "S1", 1, 3))
    second = order.from_events(sealed("FulfilmentRequested", "S2", 1, 4))
    assert [(len(done.deliver), done.drop) for done in (first, second)] == [(1, []), (1, [])]
    assert [dict(done.deliver[0].headers)["aggregate_id"] for done in (first, second)] == [
        b"S1",
        b"S2",
    ]


def test_what_follows_a_sealed_request_waits_for_its_clear_copy_and_other_shipments_go_on() -> None:
    order = in_order()
    assert order.from_events(sealed("FulfilmentRequested", "S1", 1, 10)).deliver == []
    assert order.from_events(sealed("PackScanRejected", "S1", 4, 12)).deliver == []
    other = order.from_events(sealed("InboundExpected", "PO-1", 1, 13)).deliver
    assert names(other) == [("warehouse_adapter", "InboundExpected")]
    done = order.from_requests(clear("S1", 1, 10))
    assert names(done.deliver) == [
        ("threepl", "FulfilmentRequested"),
        ("warehouse_adapter", "PackScanRejected"),
    ]
    assert done.drop == []


def test_a_copy_whose_counterpart_was_read_before_the_start_is_dropped_and_nothing_waits() -> None:
    order = in_order()
    # Read again after a restart: S1 finished, the events topic's offset had passed its request.
    assert order.from_requests(clear("S1", 1, 10)).deliver == []
    done = order.from_events(sealed("FulfilmentLabelled", "S2", 5, 11))
    assert names(done.deliver) == [("warehouse_adapter", "FulfilmentLabelled")]
    assert [record.topic for record in done.drop] == [FULFILMENT_REQUESTS]
    # The other way round: the request topic's offset had passed S3's request.
    order.from_requests(clear("S4", 1, 20))
    assert order.from_events(sealed("FulfilmentRequested", "S3", 1, 15)).drop != []
    assert order.from_events(sealed("ShipmentConfirmed", "S3", 9, 16)).deliver != []


def test_a_relay_s_repeat_of_either_copy_is_not_handed_on_twice() -> None:
    order = in_order()
    order.from_events(sealed("FulfilmentRequested", "S1", 1, 10))
    assert len(order.from_requests(clear("S1", 1, 10)).deliver) == 1
    repeat = order.from_requests(clear("S1", 1, 10))
    assert (repeat.deliver, len(repeat.drop)) == ([], 1)
    repeat = order.from_events(sealed("FulfilmentRequested", "S1", 1, 10))
    assert (repeat.deliver, len(repeat.drop)) == ([], 1)


class Fetches:
    """A group consumer that hands over prepared fetches, one per poll, then stops the loop."""

    def __init__(self, fetches: list[list[Record]], stop: asyncio.Event) -> None:
        self._fetches = fetches
        self._stop = stop
        self.committed: dict[TopicPartition, int] = {}

    async def getmany(self, timeout_ms: int) -> dict[TopicPartition, list[Record]]:
        if not self._fetches:
            self._stop.set()
            return {}
        fetched = self._fetches.pop(0)
        return {TopicPartition(fetched[0].topic, fetched[0].partition): fetched}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.committed.update(offsets)


async def test_what_relays_published_for_the_broker_s_last_life_is_passed_over_and_no_request_lost() -> (
    None
):
    """The broker came back empty. The adapter's relays had not yet noticed and published S59's
    request to both topics, stamped with the old life, at the head of each; then its whole store
    again, stamped with the new one. Read where they stand, the strays would tell that both topics
    had come to position 59, and S57's two copies, read after them, would each be dropped as if
    the other had been read before: S57 would never be picked."""
    life = "life-2"
    order = in_order()
    handed_on: list[Record] = []

    async def from_events(event: Record) -> None:
        handed_on.extend(order.from_events(event).deliver)

    async def from_requests(request: Record) -> None:
        handed_on.extend(order.from_requests(request).deliver)

    tracker = OffsetTracker()
    stop = asyncio.Event()
    consumer = Fetches(
        [
            [clear("S59", 1, 59, offset=0, broker_life="life-1")],
            [
                sealed("FulfilmentRequested", "S59", 1, 59, offset=0, broker_life="life-1"),
                sealed("FulfilmentRequested", "S57", 1, 57, offset=1, broker_life=life),
                sealed("FulfilmentRequested", "S59", 1, 59, offset=2, broker_life=life),
            ],
            [
                clear("S57", 1, 57, offset=1, broker_life=life),
                clear("S59", 1, 59, offset=2, broker_life=life),
            ],
        ],
        stop,
    )
    subscription = Subscription(
        {WAREHOUSE_EVENTS: from_events, FULFILMENT_REQUESTS: from_requests}, tracker
    )

    await consume_group(cast(Any, consumer), [subscription], stop, KafkaSettings(), life)

    assert [
        (record.topic, dict(record.headers)["aggregate_id"], record.offset) for record in handed_on
    ] == [(FULFILMENT_REQUESTS, b"S57", 1), (FULFILMENT_REQUESTS, b"S59", 2)]
    assert consumer.committed == {
        TopicPartition(WAREHOUSE_EVENTS, 0): 3,
        TopicPartition(FULFILMENT_REQUESTS, 0): 3,
    }
