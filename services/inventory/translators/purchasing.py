"""Purchase orders' recorded events → their public events (registered on `to_contract`). Pure
functions."""

from __future__ import annotations

from typing import Any

from contracts import inventory as contracts
from contracts.base import IntegrationEvent
from services.inventory.domain import DeliveredLine, PurchaseOrder
from services.inventory.translators.events import to_contract


def _delivered(lines: tuple[DeliveredLine, ...]) -> list[contracts.DeliveredUnits]:
    return [
        contracts.DeliveredUnits(
            sku=line.sku, quantity=line.quantity, serials=list(line.serials), batch=line.batch
        )
        for line in lines
    ]


def _purchase_order_fields(
    event: PurchaseOrder.Raised | PurchaseOrder.Confirmed,
) -> dict[str, Any]:
    return {
        "purchase_order_id": event.purchase_order_id,
        "supplier": event.supplier,
        "location": event.location,
        "expected_on": event.expected_on,
        "lines": [
            contracts.PurchaseOrderLine(
                sku=line.sku,
                quantity=line.quantity,
                unit_cost=line.unit_cost,
                currency=line.currency,
            )
            for line in event.lines
        ],
        "actor": event.actor,
    }


@to_contract.register
def _purchase_order_raised(event: PurchaseOrder.Raised) -> IntegrationEvent:
    return contracts.PurchaseOrderRaised(**_purchase_order_fields(event))


@to_contract.register
def _purchase_order_confirmed(event: PurchaseOrder.Confirmed) -> IntegrationEvent:
    return contracts.PurchaseOrderConfirmed(**_purchase_order_fields(event))


@to_contract.register
def _purchase_order_asn_recorded(event: PurchaseOrder.AsnRecorded) -> IntegrationEvent:
    return contracts.AdvanceShippingNoticeRecorded(
        purchase_order_id=event.purchase_order_id,
        asn_id=event.asn.asn_id,
        supplier=event.supplier,
        location=event.location,
        expected_on=event.asn.expected_on,
        lines=_delivered(event.asn.lines),
        actor=event.actor,
    )


@to_contract.register
def _purchase_order_received(event: PurchaseOrder.Received) -> IntegrationEvent:
    receipt = event.receipt
    return contracts.PurchaseOrderReceived(
        purchase_order_id=event.purchase_order_id,
        receipt_id=receipt.receipt_id,
        asn_id=receipt.asn_id,
        location=receipt.location,
        received_at=receipt.received_at,
        lines=_delivered(receipt.lines),
        actor=receipt.actor,
        fully_received=event.fully_received,
    )


@to_contract.register
def _purchase_order_receipt_rejected(event: PurchaseOrder.ReceiptRejected) -> IntegrationEvent:
    receipt = event.receipt
    return contracts.PurchaseOrderReceiptRejected(
        purchase_order_id=event.purchase_order_id,
        receipt_id=receipt.receipt_id,
        asn_id=receipt.asn_id,
        location=receipt.location,
        received_at=receipt.received_at,
        lines=_delivered(receipt.lines),
        problems=list(event.problems),
    )


@to_contract.register
def _purchase_order_cancelled(event: PurchaseOrder.Cancelled) -> IntegrationEvent:
    return contracts.PurchaseOrderCancelled(
        purchase_order_id=event.purchase_order_id,
        location=event.location,
        reason=event.reason,
        actor=event.actor,
        cancelled=[
            contracts.CancelledUnits(sku=sku, quantity=quantity)
            for sku, quantity in sorted(event.units_cancelled.items())
        ],
    )
