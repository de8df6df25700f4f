"""The order: from a channel's order to allocated stock.

Pure: no I/O, no framework beyond the event-sourced aggregate base.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Self

from services.runtime.aggregate import Aggregate, DomainError


class OrderStatus(enum.StrEnum):
    PLACED = "placed"
    PAID = "paid"
    ALLOCATED = "allocated"
    PARTLY_BACKORDERED = "partly-backordered"
    BACKORDERED = "backordered"


@dataclass(frozen=True)
class OrderLine:
    line_number: int
    sku: str
    quantity: int
    unit_price: Decimal

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Customer:
    customer_id: str
    name: str
    email: str


@dataclass(frozen=True)
class Address:
    name: str
    line1: str
    line2: str | None
    city: str
    region: str | None
    postal_code: str
    country: str


@dataclass(frozen=True)
class LocationQuantity:
    location: str
    quantity: int


@dataclass(frozen=True)
class LineReservation:
    """What inventory reserved for one line, and where."""

    line_number: int
    sku: str
    quantity_reserved: int
    quantity_short: int
    allocations: tuple[LocationQuantity, ...]


@dataclass(frozen=True)
class LineAllocation:
    line_number: int
    sku: str
    quantity_ordered: int
    quantity_allocated: int
    quantity_backordered: int
    allocations: tuple[LocationQuantity, ...]


class Order(Aggregate):
    """An order from a channel, deduplicated by (channel, channel order id)."""

    class Placed(Aggregate.Created):
        channel: str
        channel_order_id: str
        placed_at: datetime
        customer: Customer
        shipping_address: Address
        lines: tuple[OrderLine, ...]
        currency: str
        fraud_score: float

        def apply(self, order: Any) -> None:
            order.channel = self.channel
            order.channel_order_id = self.channel_order_id
            order.placed_at = self.placed_at
            order.customer = self.customer
            order.shipping_address = self.shipping_address
            order.lines = self.lines
            order.currency = self.currency
            order.fraud_score = self.fraud_score
            order.allocation = ()
            order.status = OrderStatus.PLACED

    class Paid(Aggregate.Event):
        """Carries what fulfilment needs, so consumers never have to look the order up."""

        lines: tuple[OrderLine, ...]
        shipping_country: str
        currency: str

        def apply(self, order: Any) -> None:
            order.status = OrderStatus.PAID

    class Allocated(Aggregate.Event):
        lines: tuple[LineAllocation, ...]

        def apply(self, order: Any) -> None:
            order.allocation = self.lines
            backordered = any(line.quantity_backordered for line in self.lines)
            order.status = OrderStatus.PARTLY_BACKORDERED if backordered else OrderStatus.ALLOCATED

    class Backordered(Aggregate.Event):
        lines: tuple[LineAllocation, ...]

        def apply(self, order: Any) -> None:
            order.allocation = self.lines
            order.status = OrderStatus.BACKORDERED

    if TYPE_CHECKING:  # set by the events' apply methods; not dataclass fields of the aggregate
        channel: str
        channel_order_id: str
        placed_at: datetime
        customer: Customer
        shipping_address: Address
        lines: tuple[OrderLine, ...]
        currency: str
        fraud_score: float
        allocation: tuple[LineAllocation, ...]
        status: OrderStatus

    @classmethod
    def place(
        cls,
        *,
        order_id: uuid.UUID,
        channel: str,
        channel_order_id: str,
        placed_at: datetime,
        customer: Customer,
        shipping_address: Address,
        lines: tuple[OrderLine, ...],
        currency: str,
        fraud_score: float,
    ) -> Self:
        if not lines:
            raise DomainError("an order needs at least one line")
        if any(line.quantity < 1 for line in lines):
            raise DomainError("every line needs a quantity of at least 1")
        numbers = [line.line_number for line in lines]
        if len(set(numbers)) != len(numbers):
            raise DomainError("line numbers must be unique")
        return cls._create(
            cls.Placed,
            id=order_id,
            channel=channel,
            channel_order_id=channel_order_id,
            placed_at=placed_at,
            customer=customer,
            shipping_address=shipping_address,
            lines=lines,
            currency=currency,
            fraud_score=fraud_score,
        )

    # -- state ---------------------------------------------------------------------------------

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0"))

    def line(self, line_number: int) -> OrderLine:
        for line in self.lines:
            if line.line_number == line_number:
                return line
        raise DomainError(f"order {self.id} has no line {line_number}")

    # -- commands ------------------------------------------------------------------------------

    def mark_paid(self) -> None:
        """Record the payment; a repeat of the same fact changes nothing."""
        if self.status is not OrderStatus.PLACED:
            return
        self.trigger_event(
            self.Paid,
            lines=self.lines,
            shipping_country=self.shipping_address.country,
            currency=self.currency,
        )

    def record_reservation(self, reservations: tuple[LineReservation, ...]) -> None:
        """Allocate the order from what inventory reserved; the rest of each line is backordered."""
        if self.status in (
            OrderStatus.ALLOCATED,
            OrderStatus.PARTLY_BACKORDERED,
            OrderStatus.BACKORDERED,
        ):
            return
        if self.status is not OrderStatus.PAID:
            raise DomainError(f"order {self.id} is {self.status}, stock is reserved once paid")
        by_line = {reservation.line_number: reservation for reservation in reservations}
        if set(by_line) != {line.line_number for line in self.lines}:
            raise DomainError(f"the reservation for order {self.id} does not match its lines")
        allocations = []
        for line in self.lines:
            reservation = by_line[line.line_number]
            if reservation.sku != line.sku:
                raise DomainError(f"line {line.line_number} is {line.sku}, not {reservation.sku}")
            if reservation.quantity_reserved + reservation.quantity_short != line.quantity:
                raise DomainError(f"line {line.line_number}: reserved and short ≠ ordered")
            allocations.append(
                LineAllocation(
                    line_number=line.line_number,
                    sku=line.sku,
                    quantity_ordered=line.quantity,
                    quantity_allocated=reservation.quantity_reserved,
                    quantity_backordered=reservation.quantity_short,
                    allocations=reservation.allocations,
                )
            )
        if all(allocation.quantity_allocated == 0 for allocation in allocations):
            self.trigger_event(self.Backordered, lines=tuple(allocations))
        else:
            self.trigger_event(self.Allocated, lines=tuple(allocations))
