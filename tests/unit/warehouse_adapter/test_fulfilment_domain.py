"""Fulfilment requests to 3PL warehouses, without any infrastructure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.runtime.aggregate import DomainError
from services.warehouse_adapter.domain import (
    Destination,
    Fulfilment,
    FulfilmentLine,
    FulfilmentStatus,
    PackedUnit,
)

SHIP_TO = Destination("Ada", "1 Way", None, "London", None, "N1", "GB")


def request(*lines: FulfilmentLine) -> Fulfilment:
    return Fulfilment.request(
        shipment_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        location="WH-A",
        lines=lines,
        ship_to=SHIP_TO,
        signature_required=True,
    )


def test_a_fulfilment_is_requested_for_a_shipment_and_can_be_cancelled_once() -> None:
    fulfilment = request(FulfilmentLine(1, "LAPTOP-14", 2))
    fulfilment.cancel("order cancelled")
    fulfilment.cancel("order cancelled")
    assert fulfilment.status is FulfilmentStatus.CANCELLED
    assert [type(e).__name__ for e in fulfilment.collect_events()] == ["Requested", "Cancelled"]


def test_a_fulfilment_needs_units() -> None:
    with pytest.raises(DomainError, match="at least one unit"):
        request()
    with pytest.raises(DomainError, match="at least one unit"):
        request(FulfilmentLine(1, "LAPTOP-14", 0))


AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_a_verified_scan_captures_each_serial_and_completes_the_pack() -> None:
    fulfilment = request(FulfilmentLine(1, "CAM", 2))
    fulfilment.confirm_picked(AT)
    units = (PackedUnit(1, "CAM", "S1"), PackedUnit(1, "CAM", "S2"))
    fulfilment.record_scan(units, AT)
    fulfilment.record_scan(units, AT)  # reported twice: one scan
    assert (fulfilment.status, fulfilment.scans) == (FulfilmentStatus.SCANNED, 1)
    fulfilment.serials_verified(scan=1)
    assert fulfilment.status is FulfilmentStatus.PACKED
    captured = [
        e for e in fulfilment.collect_events() if isinstance(e, Fulfilment.UnitSerialCaptured)
    ]
    assert [(e.serial, e.line_number, e.location) for e in captured] == [
        ("S1", 1, "WH-A"),
        ("S2", 1, "WH-A"),
    ]


def test_a_scan_that_does_not_match_the_shipment_is_rejected_at_once() -> None:
    fulfilment = request(FulfilmentLine(1, "CAM", 2))
    fulfilment.record_scan((PackedUnit(1, "LENS", "S1"), PackedUnit(2, "CAM", "S1")), AT)
    rejected = fulfilment.collect_events()[-1]
    assert isinstance(rejected, Fulfilment.PackRejected)
    assert rejected.problems == (
        "line 1 (CAM) needs 2 units, 0 scanned",
        "line 1 is CAM, a LENS was scanned",
        "line 2 is not in this shipment",
        "serials scanned twice: S1",
    )


def status(fulfilment: Fulfilment) -> FulfilmentStatus:
    """Read afresh after each command (a plain attribute read would stay narrowed for mypy)."""
    return fulfilment.status


def test_only_a_packed_shipment_ships_and_a_refused_scan_must_be_repeated() -> None:
    fulfilment = request(FulfilmentLine(1, "CAM", 1))
    fulfilment.record_scan((PackedUnit(1, "CAM", "BAD"),), AT)
    with pytest.raises(DomainError, match="only a packed shipment"):
        fulfilment.confirm_shipped(carrier="ups", service="ground", tracking_number="1Z", at=AT)
    fulfilment.serials_refused(scan=1, problems=("serial BAD is not a CAM in stock",))
    assert status(fulfilment) is FulfilmentStatus.PICKED
    fulfilment.serials_verified(scan=1)  # a late answer to the refused scan changes nothing
    assert status(fulfilment) is FulfilmentStatus.PICKED
    fulfilment.record_scan((PackedUnit(1, "CAM", "GOOD"),), AT)
    fulfilment.serials_verified(scan=2)
    with pytest.raises(DomainError, match="has no label: it cannot ship"):
        fulfilment.confirm_shipped(carrier="ups", service="ground", tracking_number="1Z", at=AT)
    fulfilment.attach_label(carrier="ups", service="ground", tracking_number="1Z")
    with pytest.raises(DomainError, match="must ship with its label ups 1Z, not fedex 7"):
        fulfilment.confirm_shipped(carrier="fedex", service="ground", tracking_number="7", at=AT)
    fulfilment.confirm_shipped(carrier="ups", service="ground", tracking_number="1Z", at=AT)
    fulfilment.confirm_shipped(carrier="ups", service="ground", tracking_number="1Z", at=AT)
    assert status(fulfilment) is FulfilmentStatus.SHIPPED
    with pytest.raises(DomainError, match="has shipped and cannot be withdrawn"):
        fulfilment.cancel("too late")


def test_a_scan_reported_again_after_the_parcel_shipped_changes_nothing_and_another_is_refused() -> (
    None
):
    """A 3PL that restarts reports again the work it had done: the same scan is a repeat."""
    fulfilment = request(FulfilmentLine(1, "CAM", 1))
    units = (PackedUnit(1, "CAM", "S1"),)
    fulfilment.record_scan(units, AT)
    fulfilment.serials_verified(scan=1)
    fulfilment.attach_label(carrier="ups", service="ground", tracking_number="1Z")
    fulfilment.confirm_shipped(carrier="ups", service="ground", tracking_number="1Z", at=AT)
    fulfilment.collect_events()

    fulfilment.confirm_picked(AT)
    fulfilment.record_scan(units, AT)
    assert status(fulfilment) is FulfilmentStatus.SHIPPED
    assert fulfilment.collect_events() == []
    with pytest.raises(DomainError, match="has shipped with other units"):
        fulfilment.record_scan((PackedUnit(1, "CAM", "S2"),), AT)
