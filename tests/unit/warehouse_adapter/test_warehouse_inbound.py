"""The warehouse adapter's side of purchase orders: what a 3PL is told to expect, and its goods
receipts recorded once (in-memory store), published as the contracts say."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from contracts import warehouse as contracts
from services.runtime.aggregate import DomainError
from services.warehouse_adapter import translators
from services.warehouse_adapter.application import WarehouseAdapterApplication
from services.warehouse_adapter.domain import (
    InboundLine,
    inbound_id_for,
    inbound_receipt_id_for,
)

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SERIALIZED = (InboundLine("LAPTOP-14", 2, ("S1", "S2"), "B1"),)


def expecting() -> WarehouseAdapterApplication:
    warehouse = WarehouseAdapterApplication(None)
    warehouse.expect_inbound(
        purchase_order_id="PO-1",
        supplier="Acme",
        location="WH-A",
        expected_on=date(2026, 3, 2),
        lines=(InboundLine("LAPTOP-14", 3),),
    )
    return warehouse


def receive(
    warehouse: WarehouseAdapterApplication,
    receipt_id: str = "R-1",
    lines: tuple[InboundLine, ...] = SERIALIZED,
    purchase_order_id: str = "PO-1",
) -> None:
    warehouse.receive_goods(
        receipt_id=receipt_id,
        purchase_order_id=purchase_order_id,
        asn_id=None,
        location="WH-A",
        received_at=AT,
        received_by="dock-2",
        lines=lines,
    )


def published(warehouse: WarehouseAdapterApplication, aggregate_id: uuid.UUID) -> list[object]:
    return [
        translators.to_contract(event)
        for event in warehouse.repository.event_store.get(aggregate_id)
    ]


def test_a_goods_receipt_is_recorded_once_and_published_for_inventory() -> None:
    warehouse = expecting()
    receive(warehouse)
    receive(warehouse)  # the 3PL sent it again: harmless
    (received,) = published(warehouse, inbound_receipt_id_for("R-1"))
    assert received == contracts.GoodsReceived(
        receipt_id="R-1",
        purchase_order_id="PO-1",
        asn_id=None,
        location="WH-A",
        received_at=AT,
        lines=[
            contracts.InboundUnits(sku="LAPTOP-14", quantity=2, serials=["S1", "S2"], batch="B1")
        ],
        received_by="dock-2",
    )
    with pytest.raises(DomainError, match="send a corrected receipt under a new id"):
        receive(warehouse, lines=(InboundLine("LAPTOP-14", 2, ("S1", "S3"), "B1"),))


def test_inventory_s_rejection_is_passed_on_once_and_an_unexpected_order_is_refused_at_once() -> (
    None
):
    warehouse = expecting()
    receive(warehouse)
    warehouse.goods_receipt_rejected(
        "R-1", ("line 1: serial S1 of LAPTOP-14 was already received",)
    )
    warehouse.goods_receipt_rejected("R-1", ("again",))
    _, rejected = published(warehouse, inbound_receipt_id_for("R-1"))
    assert isinstance(rejected, contracts.GoodsReceiptRejected)
    assert rejected.problems == ["line 1: serial S1 of LAPTOP-14 was already received"]

    receive(warehouse, receipt_id="R-2", purchase_order_id="PO-404")
    (refused,) = published(warehouse, inbound_receipt_id_for("R-2"))
    assert isinstance(refused, contracts.GoodsReceiptRejected)
    assert refused.problems == [
        "no inbound is expected under purchase order PO-404 (unknown, or not confirmed)"
    ]


def test_the_3pl_is_told_what_to_expect_per_order_and_asn_until_cancelled() -> None:
    warehouse = expecting()
    for _ in range(2):
        warehouse.advise_inbound(
            purchase_order_id="PO-1", asn_id="ASN-1", expected_on=date(2026, 3, 1), lines=SERIALIZED
        )
    warehouse.cancel_inbound("PO-1", reason="late")
    warehouse.cancel_inbound("PO-1", reason="late")
    warehouse.advise_inbound(
        purchase_order_id="PO-1", asn_id="ASN-2", expected_on=date(2026, 3, 1), lines=SERIALIZED
    )
    order, asn, cancelled = published(warehouse, inbound_id_for("PO-1"))
    assert isinstance(order, contracts.InboundExpected)
    assert (order.asn_id, order.lines[0].quantity) == (None, 3)
    assert isinstance(asn, contracts.InboundExpected)
    assert (asn.asn_id, asn.lines[0].serials, asn.lines[0].batch) == ("ASN-1", ["S1", "S2"], "B1")
    assert cancelled == contracts.InboundCancelled(
        purchase_order_id="PO-1", location="WH-A", reason="late"
    )
