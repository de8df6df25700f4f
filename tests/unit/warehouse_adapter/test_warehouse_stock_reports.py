"""The warehouse adapter's side of transfers and shelf reports: a transfer passed on to both
3PLs once, its arrival checked against it and recorded once, and the 3PLs' cycle counts and
damages recorded once under their report ids (in-memory store), published as the contracts say."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from contracts import warehouse as contracts
from services.runtime.aggregate import DomainError
from services.warehouse_adapter import translators
from services.warehouse_adapter.application import WarehouseAdapterApplication
from services.warehouse_adapter.domain import (
    CycleCount,
    Damage,
    TransferArrival,
    shelf_report_id_for,
    warehouse_transfer_id_for,
)

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TRANSFER = uuid.UUID("00000000-0000-4000-8000-0000000000aa")


def published(warehouse: WarehouseAdapterApplication, aggregate_id: uuid.UUID) -> list[object]:
    return [
        translators.to_contract(event)
        for event in warehouse.repository.event_store.get(aggregate_id)
    ]


def requested() -> WarehouseAdapterApplication:
    warehouse = WarehouseAdapterApplication(None)
    for _ in range(2):  # inventory's event delivered twice: passed on once
        warehouse.request_transfer(
            transfer_id=TRANSFER,
            sku="CAMERA-X",
            from_location="WH-A",
            to_location="WH-B",
            quantity=2,
            serials=("C-1", "C-2"),
            reason="rebalance",
        )
    return warehouse


def arrival(*serials: str, location: str = "WH-B", quantity: int | None = None) -> TransferArrival:
    count = len(serials) if quantity is None else quantity
    return TransferArrival(location, count, serials, AT, "dock-2")


def test_a_transfer_is_passed_on_once_and_its_arrival_recorded_once() -> None:
    warehouse = requested()
    warehouse.receive_transfer(TRANSFER, "CAMERA-X", arrival("C-1"))
    warehouse.receive_transfer(TRANSFER, "CAMERA-X", arrival("C-1"))  # sent again: harmless
    request, arrived = published(warehouse, warehouse_transfer_id_for(TRANSFER))
    assert request == contracts.TransferRequested(
        transfer_id=TRANSFER,
        sku="CAMERA-X",
        from_location="WH-A",
        to_location="WH-B",
        quantity=2,
        serials=["C-1", "C-2"],
        reason="rebalance",
    )
    assert arrived == contracts.TransferArrived(
        transfer_id=TRANSFER,
        sku="CAMERA-X",
        location="WH-B",
        quantity_received=1,
        serials_received=["C-1"],
        received_at=AT,
        received_by="dock-2",
    )
    with pytest.raises(DomainError, match="a second, different arrival is refused"):
        warehouse.receive_transfer(TRANSFER, "CAMERA-X", arrival("C-1", "C-2"))


@pytest.mark.parametrize(
    ("sku", "reported", "problem"),
    [
        ("LAPTOP-14", arrival("C-1"), "moves CAMERA-X, not LAPTOP-14"),
        ("CAMERA-X", arrival("C-1", location="WH-C"), "goes to WH-B, not WH-C"),
        ("CAMERA-X", arrival(quantity=3), "3 units reported, 2 were sent"),
        ("CAMERA-X", arrival("C-1", quantity=2), "1 serials for 2 units"),
        ("CAMERA-X", arrival("C-9"), "serials not sent under transfer"),
    ],
)
def test_an_arrival_that_does_not_fit_the_transfer_is_refused_with_the_reason(
    sku: str, reported: TransferArrival, problem: str
) -> None:
    warehouse = requested()
    with pytest.raises(DomainError, match=problem):
        warehouse.receive_transfer(TRANSFER, sku, reported)
    with pytest.raises(DomainError, match="was requested of any warehouse"):
        warehouse.receive_transfer(uuid.uuid4(), "CAMERA-X", arrival("C-1"))


def report(
    warehouse: WarehouseAdapterApplication, report_id: str, finding: CycleCount | Damage
) -> None:
    warehouse.record_shelf_report(
        report_id=report_id,
        location="WH-A",
        sku="CAMERA-X",
        reported_at=AT,
        reported_by="night shift",
        finding=finding,
    )


def test_counts_and_damages_are_recorded_once_under_their_report_ids() -> None:
    warehouse = WarehouseAdapterApplication(None)
    for _ in range(2):
        report(warehouse, "CC-1", CycleCount(3, ("C-1", "C-3", "C-4")))
        report(warehouse, "DMG-1", Damage(1, ("C-4",), "cracked lens"))
    (count,) = published(warehouse, shelf_report_id_for("CC-1"))
    (damage,) = published(warehouse, shelf_report_id_for("DMG-1"))
    common = {
        "location": "WH-A",
        "sku": "CAMERA-X",
        "reported_at": AT,
        "reported_by": "night shift",
    }
    assert count == contracts.CycleCountReported(
        report_id="CC-1", counted=3, serials=["C-1", "C-3", "C-4"], **common
    )
    assert damage == contracts.DamageReported(
        report_id="DMG-1", quantity=1, serials=["C-4"], note="cracked lens", **common
    )
    with pytest.raises(DomainError, match="report CC-1 was already recorded"):
        report(warehouse, "CC-1", CycleCount(9, None))
    with pytest.raises(DomainError, match="one per unit"):
        report(warehouse, "DMG-2", Damage(2, ("C-1",), None))
