"""Goods from suppliers: what a warehouse is to expect under a purchase order, and what its 3PL
received. Pure: no I/O.

Inventory is the authority on purchase orders; the adapter only passes them on. It tells the
3PL what to expect (`Inbound`, from inventory's confirmed orders and ASNs) and records each goods
receipt the 3PL reports, once (`InboundReceipt`), for inventory to receive or reject. A receipt
under a purchase order no warehouse was told to expect is refused at once: there is nothing for
inventory to receive it against.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Self

from services.runtime.aggregate import Aggregate, DomainError

INBOUND_NAMESPACE = uuid.UUID("9d3c6a1e-4b7f-4e28-8a5d-2c1f0e9b6d47")
INBOUND_RECEIPT_NAMESPACE = uuid.UUID("e2a7b9c4-1d6f-4a83-9e5b-7c0d3f8a2b61")


def inbound_id_for(purchase_order_id: str) -> uuid.UUID:
    return uuid.uuid5(INBOUND_NAMESPACE, purchase_order_id)


def inbound_receipt_id_for(receipt_id: str) -> uuid.UUID:
    return uuid.uuid5(INBOUND_RECEIPT_NAMESPACE, receipt_id)


@dataclass(frozen=True)
class InboundLine:
    """Units of one SKU expected or received, with their serials and batch when known."""

    sku: str
    quantity: int
    serials: tuple[str, ...] = ()
    batch: str | None = None


class Inbound(Aggregate):
    """What a warehouse is to receive under one confirmed purchase order: the order, then each
    ASN; nothing more once it is cancelled."""

    class Expected(Aggregate.Created):
        purchase_order_id: str
        supplier: str
        location: str
        expected_on: date
        lines: tuple[InboundLine, ...]

        def apply(self, inbound: Inbound) -> None:
            inbound.purchase_order_id = self.purchase_order_id
            inbound.supplier = self.supplier
            inbound.location = self.location
            inbound.asns = set()
            inbound.cancelled = False

    class Advised(Aggregate.Event):
        """The supplier's ASN: what one shipment under the order carries."""

        purchase_order_id: str
        asn_id: str
        supplier: str
        location: str
        expected_on: date
        lines: tuple[InboundLine, ...]

        def apply(self, inbound: Inbound) -> None:
            inbound.asns.add(self.asn_id)

    class Cancelled(Aggregate.Event):
        purchase_order_id: str
        location: str
        reason: str

        def apply(self, inbound: Inbound) -> None:
            inbound.cancelled = True

    if TYPE_CHECKING:
        purchase_order_id: str
        supplier: str
        location: str
        asns: set[str]
        cancelled: bool

    @classmethod
    def expect(
        cls,
        *,
        purchase_order_id: str,
        supplier: str,
        location: str,
        expected_on: date,
        lines: tuple[InboundLine, ...],
    ) -> Self:
        return cls._create(
            cls.Expected,
            id=inbound_id_for(purchase_order_id),
            purchase_order_id=purchase_order_id,
            supplier=supplier,
            location=location,
            expected_on=expected_on,
            lines=lines,
        )

    def advise(self, *, asn_id: str, expected_on: date, lines: tuple[InboundLine, ...]) -> None:
        """Pass on an ASN; one already passed on, or one after the cancellation, changes nothing."""
        if asn_id in self.asns or self.cancelled:
            return
        self.trigger_event(
            self.Advised,
            purchase_order_id=self.purchase_order_id,
            asn_id=asn_id,
            supplier=self.supplier,
            location=self.location,
            expected_on=expected_on,
            lines=lines,
        )

    def cancel(self, reason: str) -> None:
        """Expect nothing more; once."""
        if self.cancelled:
            return
        self.trigger_event(
            self.Cancelled,
            purchase_order_id=self.purchase_order_id,
            location=self.location,
            reason=reason,
        )


class InboundReceipt(Aggregate):
    """A goods receipt a 3PL reported, recorded once under its receipt id; then, if inventory
    refused it, why."""

    class Recorded(Aggregate.Created):
        """Recorded for inventory to receive against the purchase order."""

        receipt_id: str
        purchase_order_id: str
        asn_id: str | None
        location: str
        received_at: datetime
        received_by: str
        lines: tuple[InboundLine, ...]

        def apply(self, receipt: InboundReceipt) -> None:
            receipt.start(self)
            receipt.problems = ()

    class Refused(Aggregate.Created):
        """Refused at once: no warehouse was told to expect goods under the purchase order."""

        receipt_id: str
        purchase_order_id: str
        asn_id: str | None
        location: str
        received_at: datetime
        received_by: str
        lines: tuple[InboundLine, ...]
        problems: tuple[str, ...]

        def apply(self, receipt: InboundReceipt) -> None:
            receipt.start(self)
            receipt.problems = tuple(self.problems)

    class Rejected(Aggregate.Event):
        """Inventory refused the receipt; nothing of it is in stock. Repeats the receipt, so a
        3PL reading it needs no earlier event."""

        receipt_id: str
        purchase_order_id: str
        asn_id: str | None
        location: str
        received_at: datetime
        lines: tuple[InboundLine, ...]
        problems: tuple[str, ...]

        def apply(self, receipt: InboundReceipt) -> None:
            receipt.problems = tuple(self.problems)

    if TYPE_CHECKING:
        receipt_id: str
        purchase_order_id: str
        asn_id: str | None
        location: str
        received_at: datetime
        received_by: str
        lines: tuple[InboundLine, ...]
        problems: tuple[str, ...]
        """Why it was refused; empty unless it was."""

    def start(self, event: Recorded | Refused) -> None:
        self.receipt_id = event.receipt_id
        self.purchase_order_id = event.purchase_order_id
        self.asn_id = event.asn_id
        self.location = event.location
        self.received_at = event.received_at
        self.received_by = event.received_by
        self.lines = tuple(event.lines)

    @classmethod
    def record(
        cls,
        *,
        receipt_id: str,
        purchase_order_id: str,
        asn_id: str | None,
        location: str,
        received_at: datetime,
        received_by: str,
        lines: tuple[InboundLine, ...],
        expected: Inbound | None,
    ) -> Self:
        """Record a 3PL's goods receipt; refused at once when no inbound was `expected` under
        its purchase order (never confirmed, or unknown)."""
        if not receipt_id.strip() or not location.strip() or not lines:
            raise DomainError("a goods receipt needs a receipt id, a location and lines")
        fields: dict[str, Any] = {
            "receipt_id": receipt_id,
            "purchase_order_id": purchase_order_id,
            "asn_id": asn_id,
            "location": location,
            "received_at": received_at,
            "received_by": received_by,
            "lines": lines,
        }
        if expected is None:
            problem = (
                f"no inbound is expected under purchase order {purchase_order_id} "
                "(unknown, or not confirmed)"
            )
            return cls._create(
                cls.Refused, id=inbound_receipt_id_for(receipt_id), problems=(problem,), **fields
            )
        return cls._create(cls.Recorded, id=inbound_receipt_id_for(receipt_id), **fields)

    def conflicts_with(
        self,
        *,
        purchase_order_id: str,
        asn_id: str | None,
        location: str,
        lines: tuple[InboundLine, ...],
    ) -> str | None:
        """Why a second message with this receipt id is not a repeat of this one, if it is not.

        The time and who received are left out: an adapter re-sending after a restart may stamp
        them anew."""
        if (purchase_order_id, asn_id, location, lines) == (
            self.purchase_order_id,
            self.asn_id,
            self.location,
            self.lines,
        ):
            return None
        return (
            f"receipt {self.receipt_id} was already recorded under purchase order "
            f"{self.purchase_order_id} with other goods; send a corrected receipt under a new id"
        )

    def reject(self, problems: tuple[str, ...]) -> None:
        """Inventory refused the receipt; once."""
        if self.problems:
            return
        self.trigger_event(
            self.Rejected,
            receipt_id=self.receipt_id,
            purchase_order_id=self.purchase_order_id,
            asn_id=self.asn_id,
            location=self.location,
            received_at=self.received_at,
            lines=self.lines,
            problems=problems,
        )
