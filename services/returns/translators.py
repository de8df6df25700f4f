"""Returns domain ↔ public contracts. Pure functions."""

from __future__ import annotations

import functools
from dataclasses import asdict
from typing import Any

from contracts import returns as contracts
from contracts.base import IntegrationEvent
from contracts.personal import AddressOnRecord
from contracts.warehouse import ShipmentConfirmed
from services.returns import projections
from services.returns.application import ShippedLine
from services.returns.domain import Rma, RmaEvent


def shipped_lines(event: ShipmentConfirmed) -> list[ShippedLine]:
    """How many units of each order line the parcel holds, serialized or not."""
    return [
        ShippedLine(line_number=number, sku=sku, quantity=quantity)
        for number, sku, quantity in projections.units_per_line(event)
    ]


@functools.singledispatch
def to_contract(event: object) -> IntegrationEvent:
    """The public event for a recorded RMA event: every one has exactly one (a function per
    event class, registered below)."""
    raise TypeError(f"no contract for returns event {type(event).__qualname__}")


def _about(event: RmaEvent) -> dict[str, Any]:
    return {
        "rma_id": event.originator_id,
        "order_id": event.order_id,
        "line_number": event.line_number,
        "sku": event.sku,
    }


@to_contract.register
def _requested(event: Rma.Requested) -> contracts.ReturnRequested:
    return contracts.ReturnRequested(
        **_about(event),
        reason=event.reason,
        customer_note=event.customer_note,
        kit_sku=event.kit_sku,
    )


@to_contract.register
def _authorised(event: Rma.Authorised) -> contracts.ReturnAuthorised:
    return contracts.ReturnAuthorised(
        **_about(event),
        basis=event.basis,
        eligibility=event.eligibility,
        expected_serials=list(event.expected_serials),
        return_from=AddressOnRecord(**asdict(event.return_from)),
        return_to=event.return_to,
    )


@to_contract.register
def _rejected(event: Rma.Rejected) -> contracts.ReturnRejected:
    return contracts.ReturnRejected(**_about(event), reason=event.reason)


@to_contract.register
def _receipt_recorded(event: Rma.ReceiptRecorded) -> contracts.ReturnReceiptRecorded:
    return contracts.ReturnReceiptRecorded(
        **_about(event),
        serial=event.serial,
        location=event.location,
        serial_matches=event.serial_matches,
    )


@to_contract.register
def _refund_blocked(event: Rma.RefundBlocked) -> contracts.RefundBlocked:
    return contracts.RefundBlocked(**_about(event), reason=event.reason)


@to_contract.register
def _review_resolved(event: Rma.ReviewResolved) -> contracts.ReviewResolved:
    return contracts.ReviewResolved(
        **_about(event), decision=event.decision, reviewer=event.reviewer, note=event.note
    )


@to_contract.register
def _inspected(event: Rma.Inspected) -> contracts.ReturnInspected:
    return contracts.ReturnInspected(
        **_about(event),
        checklist=dict(event.checklist),
        grade=event.grade,
        derived_grade=event.derived_grade,
        override_reason=event.override_reason,
        inspector=event.inspector,
    )


@to_contract.register
def _graded(event: Rma.Graded) -> contracts.ReturnGraded:
    return contracts.ReturnGraded(
        **_about(event),
        serial=event.serial,
        grade=event.grade,
        checklist=dict(event.checklist),
        derived_grade=event.derived_grade,
        override_reason=event.override_reason,
        inspector=event.inspector,
    )


@to_contract.register
def _dispositioned(event: Rma.Dispositioned) -> contracts.ReturnDispositioned:
    return contracts.ReturnDispositioned(
        **_about(event),
        serial=event.serial,
        location=event.location,
        grade=event.grade,
        condition=event.condition,
        awaiting_signoff=event.awaiting_signoff,
    )


@to_contract.register
def _signed_off(event: Rma.SignedOff) -> contracts.ReturnSignedOff:
    return contracts.ReturnSignedOff(
        **_about(event), serial=event.serial, location=event.location, technician=event.technician
    )


@to_contract.register
def _refund_issued(event: Rma.RefundIssued) -> contracts.RefundIssued:
    return contracts.RefundIssued(
        **_about(event), channel=event.channel, amount=event.amount, currency=event.currency
    )
