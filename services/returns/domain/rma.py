"""The RMA: one unit of one order line on its way back, from the request to the refund.

Pure: no I/O. Every event maps onto one public event of `contracts/returns.py`; its states are
drawn in `case`. The aggregate is one class: its state and queries are in `state`, and the
settlement of a received unit (inspection, disposition, refund, sign-off) in `settlement` as a
mixin, with its events.

The request is decided at once: `ReturnRequested` and `ReturnAuthorised` (or `ReturnRejected`)
are recorded together. A line of a serialized product names the serials shipped for it, and the
unit that comes back must carry one of them; a line of an unserialized product names none: nothing
to compare, so its receipt is checked by SKU only, and its unit goes back to stock without a serial.
A unit under a blocked refund is never inspected, dispositioned or refunded until a reviewer decided
`refund`; a `reject` decision closes the case: no refund, and the unit that arrived never enters
stock (it is not the unit that was sold; operations handle it outside Unitrail).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Self

from services.returns.domain.case import (
    Decision,
    Receipt,
    Review,
    RmaStatus,
)
from services.returns.domain.eligibility import Basis, ReturnPolicy, decide_eligibility
from services.returns.domain.order_facts import Address, DeliveredUnits, ReturnLine
from services.returns.domain.settlement import RmaSettlement
from services.returns.domain.state import RmaEvent
from services.runtime.aggregate import Aggregate, Conflict, DomainError

RMA_NAMESPACE = uuid.UUID("4c2a8f0e-7d1b-4b6a-9e35-2f8d1c6b0a97")


def rma_id_for(order_id: uuid.UUID, line_number: int, request: int | str) -> uuid.UUID:
    """The RMA of the `request`-th return request of an order line (or of a client's idempotency
    key): the same request asked twice is the same RMA."""
    return uuid.uuid5(RMA_NAMESPACE, f"{order_id}:{line_number}:{request}")


class Rma(RmaSettlement, Aggregate):
    """One unit of one order line on its way back (id from `rma_id_for`).

    The settlement mixin stays a direct base: the library redefines the events of direct bases as
    `Rma.<Event>`, which is the topic they are stored under, wherever they are written.
    """

    class Event(RmaEvent):
        """The base of the RMA's events; the settlement's are redefined on it, as the library does
        with a direct base's events."""

    class Requested(Event, Aggregate.Created):
        channel: str
        unit_price: Decimal
        currency: str
        reason: str
        customer_note: str
        requested_at: datetime
        kit_sku: str | None = None
        """The kit the unit (its component) was part of; None: no kit (and RMAs stored before)."""

        def apply(self, rma: Rma) -> None:
            rma.order_id = self.order_id
            rma.line_number = self.line_number
            rma.sku = self.sku
            rma.channel = self.channel
            rma.unit_price = self.unit_price
            rma.currency = self.currency
            rma.reason = self.reason
            rma.customer_note = self.customer_note
            rma.requested_at = self.requested_at
            rma.kit_sku = self.kit_sku
            rma.status = RmaStatus.REQUESTED
            rma.basis = None
            rma.eligibility = None
            rma.expected_serials = ()
            rma.return_from = None
            rma.return_to = None
            rma.receipt = None
            rma.block_reason = None
            rma.review = None
            rma.inspection = None
            rma.disposition = None
            rma.signed_off_by = None
            rma.refund = None

    class Authorised(Event):
        basis: Basis
        eligibility: str
        expected_serials: tuple[str, ...]
        return_from: Address
        return_to: str

        def apply(self, rma: Rma) -> None:
            rma.basis = self.basis
            rma.eligibility = self.eligibility
            rma.expected_serials = tuple(self.expected_serials)
            rma.return_from = self.return_from
            rma.return_to = self.return_to
            rma.status = RmaStatus.AUTHORISED

    class Rejected(Event):
        reason: str

        def apply(self, rma: Rma) -> None:
            rma.eligibility = self.reason
            rma.status = RmaStatus.REJECTED

    class ReceiptRecorded(Event):
        serial: str | None
        location: str
        received_sku: str
        received_at: datetime
        serial_matches: bool

        def apply(self, rma: Rma) -> None:
            rma.receipt = Receipt(
                serial=self.serial,
                location=self.location,
                sku=self.received_sku,
                received_at=self.received_at,
                serial_matches=self.serial_matches,
            )
            rma.status = RmaStatus.RECEIVED

    class RefundBlocked(Event):
        reason: str

        def apply(self, rma: Rma) -> None:
            rma.block_reason = self.reason
            rma.status = RmaStatus.UNDER_REVIEW

    class ReviewResolved(Event):
        decision: Decision
        reviewer: str
        note: str

        def apply(self, rma: Rma) -> None:
            rma.review = Review(self.decision, self.reviewer, self.note)
            rma.status = RmaStatus.RECEIVED if self.decision == "refund" else RmaStatus.REFUSED

    # -- the request, decided at once ---------------------------------------------------------

    @staticmethod
    def check_reason(reason: str) -> None:
        """A return request says why the unit comes back."""
        if not reason.strip():
            raise DomainError("a return request needs a reason")

    @classmethod
    def request(
        cls,
        rma_id: uuid.UUID,
        *,
        line: ReturnLine,
        units: DeliveredUnits,
        warranty_months: int,
        reason: str,
        customer_note: str,
        requested_at: datetime,
        policy: ReturnPolicy,
    ) -> Self:
        """Record the request and decide it: authorised within the return window or the
        warranty (see `eligibility`), rejected outside both, with the dates in the reason."""
        cls.check_reason(reason)
        rma = cls._create(
            cls.Requested,
            id=rma_id,
            order_id=line.order_id,
            line_number=line.line_number,
            sku=line.sku,
            channel=line.channel,
            unit_price=line.unit_price,
            currency=line.currency,
            reason=reason,
            customer_note=customer_note,
            requested_at=requested_at,
            kit_sku=line.kit_sku,
        )
        eligibility = decide_eligibility(
            policy,
            channel=line.channel,
            delivered_at=units.delivered_at,
            warranty_months=warranty_months,
            requested_at=requested_at,
        )
        if eligibility.basis is None:
            rma._trigger(cls.Rejected, reason=eligibility.explanation)
        else:
            rma._trigger(
                cls.Authorised,
                basis=eligibility.basis,
                eligibility=eligibility.explanation,
                expected_serials=units.serials,
                return_from=line.ship_to,
                return_to=units.shipped_from,
            )
        return rma

    # -- the unit comes back --------------------------------------------------------------------

    def record_receipt(
        self, *, location: str, sku: str, serial: str | None, received_at: datetime
    ) -> None:
        """The unit arrived at a dock: compare it with what was shipped. A unit that is not one
        shipped for this line blocks the refund until a reviewer decides."""
        if self.receipt is not None:
            if (self.receipt.location, self.receipt.sku, self.receipt.serial) == (
                location,
                sku,
                serial,
            ):
                return  # the same dock receipt again
            received = self.receipt
            raise Conflict(
                f"RMA {self.id} was already received at {received.location} as {received.sku}"
                f" serial {received.serial}; a second unit under one RMA is refused"
            )
        if self.status is not RmaStatus.AUTHORISED:
            raise Conflict(f"RMA {self.id} is {self.status}: no unit is expected back")
        mismatch = self._mismatch(sku, serial)
        self._trigger(
            self.ReceiptRecorded,
            serial=serial,
            location=location,
            received_sku=sku,
            received_at=received_at,
            serial_matches=mismatch is None,
        )
        if mismatch is not None:
            self._trigger(self.RefundBlocked, reason=mismatch)

    def _mismatch(self, sku: str, serial: str | None) -> str | None:
        """Why the unit that arrived is not the one shipped, if it is not. A unit of a product
        that carries no serial has nothing to compare: a serial scanned anyway decides nothing."""
        if sku != self.sku:
            return f"SKU mismatch: expected {self.sku}, received {sku}"
        if not self.serialized or serial in self.expected_serials:
            return None
        return (
            f"serial mismatch: expected {' or '.join(self.expected_serials)}, "
            f"received {serial if serial is not None else 'no serial'}"
        )

    def resolve_review(self, decision: Decision, *, reviewer: str, note: str) -> None:
        """A reviewer decides a blocked RMA: `refund` lets the inspection go ahead, `reject`
        closes the case without a refund."""
        if self.review is not None:
            if self.review.decision == decision:
                return  # the same decision again
            raise Conflict(
                f"RMA {self.id} was already decided {self.review.decision} by "
                f"{self.review.reviewer}"
            )
        if self.status is not RmaStatus.UNDER_REVIEW:
            raise Conflict(f"RMA {self.id} is {self.status}: nothing to review")
        if not reviewer.strip():
            raise DomainError("a review needs the reviewer")
        self._trigger(self.ReviewResolved, decision=decision, reviewer=reviewer, note=note)
