"""Fulfilment at a 3PL warehouse: what one location is asked to ship for an order.

Pure: no I/O. The 3PL's warehouse management system is the physical truth; this aggregate is the
record of what was asked of it and what it answered.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from services.runtime.aggregate import Aggregate, DomainError


class FulfilmentStatus(enum.StrEnum):
    REQUESTED = "requested"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class FulfilmentLine:
    line_number: int
    sku: str
    quantity: int


@dataclass(frozen=True)
class Destination:
    name: str
    line1: str
    line2: str | None
    city: str
    region: str | None
    postal_code: str
    country: str


class Fulfilment(Aggregate):
    """One shipment of one order from one location; its id is the order's shipment id."""

    class Requested(Aggregate.Created):
        order_id: uuid.UUID
        location: str
        lines: tuple[FulfilmentLine, ...]
        ship_to: Destination
        signature_required: bool

        def apply(self, fulfilment: Any) -> None:
            fulfilment.order_id = self.order_id
            fulfilment.location = self.location
            fulfilment.lines = self.lines
            fulfilment.ship_to = self.ship_to
            fulfilment.signature_required = self.signature_required
            fulfilment.status = FulfilmentStatus.REQUESTED

    class Cancelled(Aggregate.Event):
        order_id: uuid.UUID
        reason: str

        def apply(self, fulfilment: Any) -> None:
            fulfilment.status = FulfilmentStatus.CANCELLED

    if TYPE_CHECKING:
        order_id: uuid.UUID
        location: str
        lines: tuple[FulfilmentLine, ...]
        ship_to: Destination
        signature_required: bool
        status: FulfilmentStatus

    @classmethod
    def request(
        cls,
        *,
        shipment_id: uuid.UUID,
        order_id: uuid.UUID,
        location: str,
        lines: tuple[FulfilmentLine, ...],
        ship_to: Destination,
        signature_required: bool,
    ) -> Self:
        if not lines or any(line.quantity < 1 for line in lines):
            raise DomainError("a fulfilment needs lines with at least one unit each")
        return cls._create(
            cls.Requested,
            id=shipment_id,
            order_id=order_id,
            location=location,
            lines=lines,
            ship_to=ship_to,
            signature_required=signature_required,
        )

    def cancel(self, reason: str) -> None:
        """Withdraw the request from the 3PL; cancelling twice is one cancellation."""
        if self.status is FulfilmentStatus.CANCELLED:
            return
        self.trigger_event(self.Cancelled, order_id=self.order_id, reason=reason)
