"""Purchase orders: raised, confirmed, announced by the supplier (ASN), received, cancelled.

Pure: no I/O. Two aggregates take part, saved together, as a transfer does with the stock:
- `PurchaseOrder` (one per purchase order): its lines, what each received, its ASNs and every
  receipt it accepted or rejected;
- `SkuStock`: the units still due on each confirmed purchase order at its destination (inbound,
  the `StockInbound` mixin of `inbound.py`), and, as receipts, the units that arrived.

A goods receipt is judged whole: it is received whole or rejected whole with every problem found,
so what a warehouse reported and what stock says never differ by a line. A receipt id is accepted
or rejected once; a repeat changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Self

from services.inventory.domain.state import StockState
from services.inventory.domain.stock import Receipt
from services.runtime.aggregate import Aggregate, Conflict, DomainError

PURCHASE_ORDER_NAMESPACE = uuid.UUID("5b8e2f14-9c3a-4d7b-a6e1-3f0c8d2b7a95")
PURCHASE_RECEIPT = "purchase-receipt"
"""The reason of every stock receipt booked against a purchase order."""

RAISED = "raised"
CONFIRMED = "confirmed"
PARTIALLY_RECEIVED = "partially-received"
RECEIVED = "received"
CANCELLED = "cancelled"


def purchase_order_id_for(purchase_order_id: str) -> uuid.UUID:
    """The aggregate id of a purchase order, from its number (the id people and suppliers use)."""
    return uuid.uuid5(PURCHASE_ORDER_NAMESPACE, purchase_order_id)


@dataclass(frozen=True)
class OrderedLine:
    """What is ordered of one SKU, and what one unit costs."""

    sku: str
    quantity: int
    unit_cost: Decimal
    currency: str


@dataclass(frozen=True)
class DeliveredLine:
    """Units of one SKU on an ASN or in a goods receipt, with their serials and batch if known."""

    sku: str
    quantity: int
    serials: tuple[str, ...] = ()
    """One per unit for serialized products; empty otherwise (or, on an ASN, when not declared)."""
    batch: str | None = None


@dataclass(frozen=True)
class AdvanceShippingNotice:
    """What the supplier says it shipped under the purchase order, and when it should arrive."""

    asn_id: str
    expected_on: date
    lines: tuple[DeliveredLine, ...]


@dataclass(frozen=True)
class GoodsReceipt:
    """What arrived at a dock under a purchase order, as counted (and scanned) there."""

    receipt_id: str
    location: str
    received_at: datetime
    actor: str
    lines: tuple[DeliveredLine, ...]
    asn_id: str | None = None


class ReceiptRefused(DomainError):
    """A goods receipt that cannot be received; `problems` says every reason, one per entry."""

    def __init__(self, purchase_order_id: str, receipt_id: str, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            f"receipt {receipt_id} against purchase order {purchase_order_id} refused: "
            + "; ".join(self.problems)
        )


class PurchaseOrder(Aggregate):
    """A purchase order to a supplier: its lines and what each received, its ASNs, and every
    receipt it accepted or rejected.

    raised → confirmed → partially-received → received; cancelled (what was not received).
    """

    class Raised(Aggregate.Created):
        purchase_order_id: str
        supplier: str
        location: str
        expected_on: date
        lines: tuple[OrderedLine, ...]
        actor: str

        def apply(self, order: PurchaseOrder) -> None:
            order.purchase_order_id = self.purchase_order_id
            order.supplier = self.supplier
            order.location = self.location
            order.expected_on = self.expected_on
            order.lines = tuple(self.lines)
            order.raised_by = self.actor
            order.confirmed_by = None
            order.cancelled = None
            order.received = {}
            order.cancelled_units = {}
            order.asns = {}
            order.receipts = {}
            order.rejections = {}

    class Confirmed(Aggregate.Event):
        """The supplier accepted the order: its units are inbound at its destination.

        Carries the order as it stands, so a reader needs no earlier event."""

        purchase_order_id: str
        supplier: str
        location: str
        expected_on: date
        lines: tuple[OrderedLine, ...]
        actor: str

        def apply(self, order: PurchaseOrder) -> None:
            order.confirmed_by = self.actor

    class AsnRecorded(Aggregate.Event):
        """The supplier announced a shipment under the order (an advance shipping notice)."""

        purchase_order_id: str
        supplier: str
        location: str
        asn: AdvanceShippingNotice
        actor: str

        def apply(self, order: PurchaseOrder) -> None:
            order.asns[self.asn.asn_id] = self.asn

    class Received(Aggregate.Event):
        """Goods arrived under the order and were put into stock."""

        purchase_order_id: str
        receipt: GoodsReceipt
        fully_received: bool
        """Every line of the order has now arrived in full."""

        def apply(self, order: PurchaseOrder) -> None:
            order.receipts[self.receipt.receipt_id] = self.receipt
            for line in self.receipt.lines:
                order.received[line.sku] = order.received.get(line.sku, 0) + line.quantity

    class ReceiptRejected(Aggregate.Event):
        """A goods receipt reported by a warehouse was refused: nothing of it was received."""

        purchase_order_id: str
        receipt: GoodsReceipt
        problems: tuple[str, ...]

        def apply(self, order: PurchaseOrder) -> None:
            order.rejections[self.receipt.receipt_id] = tuple(self.problems)

    class Cancelled(Aggregate.Event):
        """The order was cancelled: what had not arrived is no longer expected."""

        purchase_order_id: str
        location: str
        reason: str
        actor: str
        units_cancelled: dict[str, int]
        """SKU → units no longer expected (only SKUs with any)."""

        def apply(self, order: PurchaseOrder) -> None:
            order.cancelled = (self.reason, self.actor)
            order.cancelled_units = dict(self.units_cancelled)

    if TYPE_CHECKING:
        purchase_order_id: str
        supplier: str
        location: str
        expected_on: date
        lines: tuple[OrderedLine, ...]
        raised_by: str
        confirmed_by: str | None
        cancelled: tuple[str, str] | None
        """Why and by whom, once cancelled."""
        received: dict[str, int]
        """SKU → units received so far."""
        cancelled_units: dict[str, int]
        asns: dict[str, AdvanceShippingNotice]
        receipts: dict[str, GoodsReceipt]
        """Receipt id → the receipt, for every receipt accepted."""
        rejections: dict[str, tuple[str, ...]]
        """Receipt id → why it was refused, for every receipt rejected."""

    @classmethod
    def raise_order(
        cls,
        *,
        purchase_order_id: str,
        supplier: str,
        location: str,
        expected_on: date,
        lines: Sequence[OrderedLine],
        actor: str,
    ) -> Self:
        """A new purchase order, not yet confirmed by the supplier (nothing is inbound yet)."""
        if not purchase_order_id.strip():
            raise DomainError("a purchase order needs an id")
        if not supplier.strip() or not location.strip():
            raise DomainError("a purchase order needs a supplier and a destination location")
        if not actor.strip():
            raise DomainError("every purchase order needs an actor")
        if not lines:
            raise DomainError("a purchase order needs at least one line")
        skus = [line.sku for line in lines]
        repeated = sorted({sku for sku in skus if skus.count(sku) > 1})
        if repeated:
            raise DomainError(f"a SKU is ordered once per purchase order: {', '.join(repeated)}")
        for line in lines:
            if line.quantity < 1:
                raise DomainError(f"{line.sku}: a purchase order line needs at least one unit")
            if line.unit_cost < 0:
                raise DomainError(f"{line.sku}: a unit cost cannot be negative")
            if not line.currency.strip():
                raise DomainError(f"{line.sku}: a unit cost needs a currency")
        return cls._create(
            cls.Raised,
            id=purchase_order_id_for(purchase_order_id),
            purchase_order_id=purchase_order_id,
            supplier=supplier,
            location=location,
            expected_on=expected_on,
            lines=tuple(lines),
            actor=actor,
        )

    @property
    def status(self) -> str:
        if self.cancelled is not None:
            return CANCELLED
        if self.confirmed_by is None:
            return RAISED
        if all(self.outstanding(line.sku) == 0 for line in self.lines):
            return RECEIVED
        return PARTIALLY_RECEIVED if self.received else CONFIRMED

    def line(self, sku: str) -> OrderedLine | None:
        return next((line for line in self.lines if line.sku == sku), None)

    def ordered_line(self, sku: str) -> OrderedLine:
        """The line of a SKU the purchase order is known to have."""
        line = self.line(sku)
        if line is None:
            raise DomainError(f"purchase order {self.purchase_order_id} has no line for {sku}")
        return line

    def outstanding(self, sku: str) -> int:
        """Units of the SKU still to arrive: none once cancelled."""
        line = self.line(sku)
        if line is None or self.cancelled is not None:
            return 0
        return max(0, line.quantity - self.received.get(sku, 0))

    def inbound(self) -> dict[str, int]:
        """SKU → units inbound at the destination: what a confirmed order still expects."""
        if self.confirmed_by is None:
            return {}
        return {line.sku: self.outstanding(line.sku) for line in self.lines}

    def knows_receipt(self, receipt_id: str) -> bool:
        """The receipt was accepted or rejected already."""
        return receipt_id in self.receipts or receipt_id in self.rejections

    def already_received(self, receipt: GoodsReceipt) -> bool:
        """True when this receipt was accepted already (a repeat: the time may differ); its id
        used again for other goods is refused."""
        accepted = self.receipts.get(receipt.receipt_id)
        if accepted is None:
            return False
        if (accepted.location, accepted.asn_id, accepted.lines) != (
            receipt.location,
            receipt.asn_id,
            receipt.lines,
        ):
            raise DomainError(
                f"receipt {receipt.receipt_id} was already received against purchase order "
                f"{self.purchase_order_id} with other goods; use a new receipt id"
            )
        return True

    def confirm(self, actor: str) -> bool:
        """The supplier confirmed the order; False when it was already (a repeat)."""
        if self.cancelled is not None:
            raise Conflict(f"purchase order {self.purchase_order_id} is cancelled")
        if self.confirmed_by is not None:
            return False
        if not actor.strip():
            raise DomainError("every confirmation needs an actor")
        self.trigger_event(
            self.Confirmed,
            purchase_order_id=self.purchase_order_id,
            supplier=self.supplier,
            location=self.location,
            expected_on=self.expected_on,
            lines=self.lines,
            actor=actor,
        )
        return True

    def record_asn(self, asn: AdvanceShippingNotice, actor: str) -> bool:
        """Record the supplier's notice of a shipment; False for a repeat of one recorded."""
        known = self.asns.get(asn.asn_id)
        if known is not None:
            if known != asn:
                raise DomainError(
                    f"ASN {asn.asn_id} is already recorded on purchase order "
                    f"{self.purchase_order_id} with other lines"
                )
            return False
        problems = self._state_problems()
        if not actor.strip():
            problems.append("every ASN needs an actor")
        if not asn.lines:
            problems.append("an ASN needs at least one line")
        for number, line in enumerate(asn.lines, start=1):
            if self.line(line.sku) is None:
                problems.append(f"line {number}: {line.sku} is not on this purchase order")
            elif line.quantity < 1:
                problems.append(f"line {number}: at least one unit")
            elif line.quantity > self.outstanding(line.sku):
                problems.append(
                    f"line {number}: {line.quantity} x {line.sku} is more than the "
                    f"{self.outstanding(line.sku)} outstanding"
                )
            problems.extend(_serial_count_problems(number, line))
        if problems:
            raise DomainError(
                f"ASN {asn.asn_id} against purchase order {self.purchase_order_id} refused: "
                + "; ".join(problems)
            )
        self.trigger_event(
            self.AsnRecorded,
            purchase_order_id=self.purchase_order_id,
            supplier=self.supplier,
            location=self.location,
            asn=asn,
            actor=actor,
        )
        return True

    def receive(
        self, receipt: GoodsReceipt, stocks: Mapping[str, StockState]
    ) -> list[tuple[str, Receipt]]:
        """Accept a goods receipt whole, or refuse it whole (`ReceiptRefused`, every problem).

        `stocks` is the stock of the SKUs already known, which knows every serial received
        before. Returns what each line puts into stock: the receipt with the order line's unit
        cost, referring to this order. A repeat of a receipt already accepted returns nothing.
        """
        if self.already_received(receipt):
            return []
        problems = self.problems_with(receipt, stocks)
        if problems:
            raise ReceiptRefused(self.purchase_order_id, receipt.receipt_id, problems)
        arriving = {line.sku: 0 for line in receipt.lines}
        for line in receipt.lines:
            arriving[line.sku] += line.quantity
        complete = all(
            self.outstanding(line.sku) == arriving.get(line.sku, 0) for line in self.lines
        )
        self.trigger_event(
            self.Received,
            purchase_order_id=self.purchase_order_id,
            receipt=receipt,
            fully_received=complete,
        )
        return [(line.sku, self._stock_receipt(receipt, line)) for line in receipt.lines]

    def reject(self, receipt: GoodsReceipt, problems: Sequence[str]) -> None:
        """Record that a warehouse's receipt was refused, and why; once per receipt."""
        if self.knows_receipt(receipt.receipt_id):
            return
        self.trigger_event(
            self.ReceiptRejected,
            purchase_order_id=self.purchase_order_id,
            receipt=receipt,
            problems=tuple(problems),
        )

    def problems_with(self, receipt: GoodsReceipt, stocks: Mapping[str, StockState]) -> list[str]:
        """Every reason the receipt cannot be received; empty when it can."""
        problems = self._state_problems()
        if not receipt.actor.strip():
            problems.append("every receipt needs an actor")
        if receipt.location != self.location:
            problems.append(
                f"purchase order {self.purchase_order_id} is due at {self.location}, "
                f"not at {receipt.location}"
            )
        if receipt.asn_id is not None and receipt.asn_id not in self.asns:
            problems.append(
                f"ASN {receipt.asn_id} is not recorded on purchase order {self.purchase_order_id}"
            )
        if not receipt.lines:
            problems.append("a receipt needs at least one line")
        arriving: dict[str, int] = {}
        seen: set[tuple[str, str]] = set()
        for number, line in enumerate(receipt.lines, start=1):
            if self.line(line.sku) is None:
                problems.append(
                    f"line {number}: {line.sku} is not on purchase order {self.purchase_order_id}"
                )
                continue
            if line.quantity < 1:
                problems.append(f"line {number}: at least one unit")
                continue
            arriving[line.sku] = arriving.get(line.sku, 0) + line.quantity
            outstanding = self.outstanding(line.sku)
            if arriving[line.sku] > outstanding and self.cancelled is None:
                ordered = self.ordered_line(line.sku)
                problems.append(
                    f"line {number}: {arriving[line.sku]} x {line.sku} is more than the "
                    f"{outstanding} outstanding ({ordered.quantity} ordered, "
                    f"{self.received.get(line.sku, 0)} received)"
                )
            stock = stocks.get(line.sku)
            if not line.serials and stock is not None and stock.serialized:
                problems.append(
                    f"line {number}: {line.sku} units carry serials; none given for {line.quantity}"
                )
            problems.extend(_serial_count_problems(number, line))
            for serial in line.serials:
                if (line.sku, serial) in seen:
                    problems.append(f"line {number}: serial {serial} of {line.sku} given twice")
                    continue
                seen.add((line.sku, serial))
                where = None if stock is None else stock.where_is(serial)
                if where is not None:
                    problems.append(
                        f"line {number}: serial {serial} of {line.sku} was already received "
                        f"({where})"
                    )
        return problems

    def cancel(self, *, reason: str, actor: str) -> dict[str, int]:
        """Cancel what has not arrived; SKU → units no longer expected. A repeat changes nothing
        (and returns nothing)."""
        if self.cancelled is not None:
            return {}
        if not reason.strip() or not actor.strip():
            raise DomainError("a cancellation needs a reason and an actor")
        if self.status == RECEIVED:
            raise Conflict(
                f"purchase order {self.purchase_order_id} is received in full; "
                "nothing is left to cancel"
            )
        units = {line.sku: self.outstanding(line.sku) for line in self.lines}
        units = {sku: quantity for sku, quantity in units.items() if quantity}
        self.trigger_event(
            self.Cancelled,
            purchase_order_id=self.purchase_order_id,
            location=self.location,
            reason=reason,
            actor=actor,
            units_cancelled=units,
        )
        return units

    def _state_problems(self) -> list[str]:
        if self.cancelled is not None:
            return [f"purchase order {self.purchase_order_id} is cancelled"]
        if self.confirmed_by is None:
            return [f"purchase order {self.purchase_order_id} is not confirmed yet"]
        return []

    def _stock_receipt(self, receipt: GoodsReceipt, line: DeliveredLine) -> Receipt:
        ordered = self.ordered_line(line.sku)
        return Receipt(
            location=receipt.location,
            quantity=line.quantity,
            reason=PURCHASE_RECEIPT,
            actor=receipt.actor,
            reference=self.purchase_order_id,
            serials=line.serials,
            batch=line.batch,
            unit_cost=ordered.unit_cost,
            currency=ordered.currency,
        )


def _serial_count_problems(number: int, line: DeliveredLine) -> list[str]:
    if line.serials and len(line.serials) != line.quantity:
        return [
            f"line {number}: {line.quantity} x {line.sku} need {line.quantity} serials, "
            f"{len(line.serials)} given"
        ]
    return []
