"""What an order is, and the questions asked of it; the base of `Order`.

Pure: no I/O. The state changes only through `Order`'s events (`order.py` and the modules of its
commands: `allocation`, `holds`, `delivery`, `resends`); this module only reads it.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from services.order.domain.amendment import OrderContent
from services.order.domain.values import (
    Address,
    Customer,
    Dispatch,
    LineAllocation,
    OrderLine,
    OrderStatus,
    ShipmentRequest,
    TrackingUpdate,
)
from services.runtime.aggregate import Conflict, DomainError

if TYPE_CHECKING:
    from collections.abc import Collection

    from services.order.domain.amendment import Change


class OrderState:
    """The state of `Order` and its queries. Subclassed only by the aggregate and its mixins."""

    if TYPE_CHECKING:  # set by the events' apply methods; not dataclass fields of the aggregate
        id: uuid.UUID
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
        hold_reason: str | None
        shipments: tuple[ShipmentRequest, ...]
        signature_required: bool
        cancellation_reason: str | None
        dispatches: tuple[Dispatch, ...]
        delivered: tuple[uuid.UUID, ...]
        delivery_exceptions: tuple[str, ...]
        backorder_fills: int
        releases: int
        tracking: tuple[TrackingUpdate, ...]
        """The latest carrier news per parcel that has any."""
        # Defaults for orders recorded before they existed: see `Order`.
        service_level: str
        deliver_by: date | None
        refused_changes: tuple[Change, ...]
        released_at: tuple[tuple[uuid.UUID, datetime], ...]
        unknown_skus: tuple[str, ...]
        status_since: datetime | None

        def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None: ...

    def enter(self, status: OrderStatus, at: datetime) -> None:
        """Move to `status` at `at` (events' `apply` only); staying in a status keeps its start."""
        if getattr(self, "status", None) is not status:
            self.status = status
            self.status_since = at

    @staticmethod
    def check_lines(lines: tuple[OrderLine, ...]) -> None:
        """An order has lines, each of at least one unit, numbered uniquely."""
        if not lines:
            raise DomainError("an order needs at least one line")
        if any(line.quantity < 1 for line in lines):
            raise DomainError("every line needs a quantity of at least 1")
        numbers = [line.line_number for line in lines]
        if len(set(numbers)) != len(numbers):
            raise DomainError("line numbers must be unique")

    # -- state ---------------------------------------------------------------------------------

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0"))

    def line(self, line_number: int) -> OrderLine:
        for line in self.lines:
            if line.line_number == line_number:
                return line
        raise DomainError(f"order {self.id} has no line {line_number}")

    @property
    def content(self) -> OrderContent:
        """What the channel said of the order, as amended."""
        return OrderContent.of(self)

    def take_content(self, content: OrderContent) -> None:
        for name, value in content.values().items():
            setattr(self, name, value)

    def released_at_of(self, shipment_id: uuid.UUID) -> datetime | None:
        """When the parcel was released to its warehouse; None for a parcel of another order."""
        return next((at for shipment, at in self.released_at if shipment == shipment_id), None)

    def waiting_at_warehouse(self, shipment_id: uuid.UUID, now: datetime) -> timedelta | None:
        """How long the warehouse has had the parcel without shipping it; None once it shipped
        (or the order was cancelled): a long wait is a 3PL that stopped answering."""
        released = self.released_at_of(shipment_id)
        shipped = any(dispatch.shipment_id == shipment_id for dispatch in self.dispatches)
        if released is None or shipped or self.status is OrderStatus.CANCELLED:
            return None
        return now - released

    @property
    def on_hold(self) -> bool:
        return self.hold_reason is not None or bool(self.unknown_skus)

    @property
    def holding_reasons(self) -> str | None:
        """Everything that holds the order, as a person reads it (None: nothing)."""
        return self._reasons_with(self.unknown_skus)

    def _reasons_with(self, unknown_skus: Collection[str]) -> str | None:
        unknown = [
            f"unknown-sku: line {line.line_number} ({line.sku}) is not registered in the PIM"
            for line in self.lines
            if line.sku in unknown_skus
        ]
        general = [self.hold_reason] if self.hold_reason is not None else []
        return "; ".join(general + unknown) or None

    def _check_shipment(self, shipment_id: uuid.UUID) -> None:
        if all(shipment.shipment_id != shipment_id for shipment in self.shipments):
            raise DomainError(f"order {self.id} has no shipment {shipment_id}")

    def _check_open(self, action: str) -> None:
        if self.status is OrderStatus.CANCELLED:
            raise Conflict(f"order {self.id} is cancelled and cannot be {action}")
        if self.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED):
            raise Conflict(f"order {self.id} is {self.status} and cannot be {action}")
