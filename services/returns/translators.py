"""Returns domain ↔ public contracts. Pure functions."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from contracts import returns as contracts
from contracts.base import IntegrationEvent
from contracts.channel import ShippingAddress
from contracts.warehouse import ShipmentConfirmed
from services.returns import projections
from services.returns.application import ShippedLine
from services.returns.domain import Rma


def shipped_lines(event: ShipmentConfirmed) -> list[ShippedLine]:
    """How many units of each order line the parcel holds, serialized or not."""
    return [
        ShippedLine(line_number=number, sku=sku, quantity=quantity)
        for number, sku, quantity in projections.units_per_line(event)
    ]


def to_contract(event: Any) -> IntegrationEvent:
    """The public event for a recorded RMA event: every one has exactly one."""
    common = {
        "rma_id": event.originator_id,
        "order_id": event.order_id,
        "line_number": event.line_number,
        "sku": event.sku,
    }
    if isinstance(event, Rma.Requested):
        return contracts.ReturnRequested(
            **common, reason=event.reason, customer_note=event.customer_note
        )
    if isinstance(event, Rma.Authorised):
        return contracts.ReturnAuthorised(
            **common,
            basis=event.basis,
            eligibility=event.eligibility,
            expected_serials=list(event.expected_serials),
            return_from=ShippingAddress(**asdict(event.return_from)),
            return_to=event.return_to,
        )
    if isinstance(event, Rma.Rejected):
        return contracts.ReturnRejected(**common, reason=event.reason)
    if isinstance(event, Rma.ReceiptRecorded):
        return contracts.ReturnReceiptRecorded(
            **common,
            serial=event.serial,
            location=event.location,
            serial_matches=event.serial_matches,
        )
    if isinstance(event, Rma.RefundBlocked):
        return contracts.RefundBlocked(**common, reason=event.reason)
    if isinstance(event, Rma.ReviewResolved):
        return contracts.ReviewResolved(
            **common, decision=event.decision, reviewer=event.reviewer, note=event.note
        )
    if isinstance(event, Rma.Inspected):
        return contracts.ReturnInspected(
            **common,
            checklist=dict(event.checklist),
            grade=event.grade,
            derived_grade=event.derived_grade,
            override_reason=event.override_reason,
            inspector=event.inspector,
        )
    if isinstance(event, Rma.Dispositioned):
        return contracts.ReturnDispositioned(
            **common,
            serial=event.serial,
            location=event.location,
            grade=event.grade,
            condition=event.condition,
            awaiting_signoff=event.awaiting_signoff,
        )
    if isinstance(event, Rma.SignedOff):
        return contracts.ReturnSignedOff(
            **common, serial=event.serial, location=event.location, technician=event.technician
        )
    if isinstance(event, Rma.RefundIssued):
        return contracts.RefundIssued(
            **common, channel=event.channel, amount=event.amount, currency=event.currency
        )
    raise TypeError(f"no contract for returns event {type(event).__qualname__}")
