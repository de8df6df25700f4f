"""Allocation and release: what inventory reserved becomes the order's allocation (the rest
backordered), and what is allocated and not yet sent goes to its warehouses, one shipment per
location and release.

Pure: no I/O. A mixin of `Order`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from services.order.domain.policy import FulfilmentPolicy
from services.order.domain.state import OrderState
from services.order.domain.values import (
    ALLOCATED_STATES,
    DECIDED_STATES,
    Address,
    LineAllocation,
    LineReservation,
    OrderStatus,
    ShipmentLine,
    ShipmentRequest,
    shipment_id_for,
)
from services.runtime.aggregate import Aggregate, Conflict, DomainError


class OrderAllocation(OrderState):
    """Mixin of `Order`: its allocation from inventory's reservations, and its releases."""

    class Allocated(Aggregate.Event):
        lines: tuple[LineAllocation, ...]

        def apply(self, order: OrderAllocation) -> None:
            order.allocation = self.lines
            backordered = any(line.quantity_backordered for line in self.lines)
            order.enter(
                OrderStatus.PARTLY_BACKORDERED if backordered else OrderStatus.ALLOCATED,
                self.timestamp,
            )

    class Backordered(Aggregate.Event):
        lines: tuple[LineAllocation, ...]

        def apply(self, order: OrderAllocation) -> None:
            order.allocation = self.lines
            order.enter(OrderStatus.BACKORDERED, self.timestamp)

    class BackorderAllocated(Aggregate.Event):
        """Stock arrived for backordered lines; `lines` is the whole allocation after it."""

        fill: int
        lines: tuple[LineAllocation, ...]

        def apply(self, order: OrderAllocation) -> None:
            order.allocation = self.lines
            order.backorder_fills = self.fill
            if order.status in (OrderStatus.BACKORDERED, *ALLOCATED_STATES):
                backordered = any(line.quantity_backordered for line in self.lines)
                order.enter(
                    OrderStatus.PARTLY_BACKORDERED if backordered else OrderStatus.ALLOCATED,
                    self.timestamp,
                )

    class ReleasedToWarehouse(Aggregate.Event):
        """Carries everything a warehouse and a carrier need for the units allocated since the
        last release: the first release, then one per backorder fill."""

        shipments: tuple[ShipmentRequest, ...]
        ship_to: Address
        signature_required: bool
        declared_value: Decimal
        currency: str
        service_level: str = "standard"
        deliver_by: date | None = None
        """What the order promised, for the carrier's choice (releases before promises: none)."""

        def apply(self, order: OrderAllocation) -> None:
            order.shipments = (*order.shipments, *self.shipments)
            order.released_at = (
                *order.released_at,
                *((shipment.shipment_id, self.timestamp) for shipment in self.shipments),
            )
            order.releases += 1
            order.signature_required = self.signature_required
            if order.status in ALLOCATED_STATES:  # a later parcel does not undo "partly shipped"
                order.enter(OrderStatus.RELEASED, self.timestamp)

    def record_reservation(
        self, reservations: tuple[LineReservation, ...], policy: FulfilmentPolicy
    ) -> None:
        """Allocate the order from what inventory reserved; the rest of each line is backordered.

        An allocated order that is not on hold is released to the warehouse at once.
        """
        if self.status in (*DECIDED_STATES, OrderStatus.CANCELLED):
            return  # decided already, or cancelled: inventory releases what it reserved
        if self.status is not OrderStatus.PAID:
            raise Conflict(f"order {self.id} is {self.status}, stock is reserved once paid")
        allocations = self._allocations_from(reservations)
        if all(allocation.quantity_allocated == 0 for allocation in allocations):
            self.trigger_event(self.Backordered, lines=tuple(allocations))
            return
        self.trigger_event(self.Allocated, lines=allocations)
        self._release_to_warehouse(policy)

    def record_backorder_fill(
        self, fill: int, reservations: tuple[LineReservation, ...], policy: FulfilmentPolicy
    ) -> None:
        """Stock arrived for backordered lines: allocate it, and (unless the order is on hold)
        release it as a later shipment. A repeat of the same fill changes nothing."""
        if self.status is OrderStatus.CANCELLED or fill <= self.backorder_fills:
            return  # inventory releases what it reserved for a cancelled order
        if self.status not in DECIDED_STATES:
            raise Conflict(f"order {self.id} is {self.status} and has no backorder to fill")
        allocations = self._allocations_from(reservations)
        for before, after in zip(self.allocation, allocations, strict=True):
            if after.quantity_allocated < before.quantity_allocated:
                raise DomainError(f"line {after.line_number}: a fill cannot take units away")
        self.trigger_event(self.BackorderAllocated, fill=fill, lines=allocations)
        self._release_to_warehouse(policy)

    def _allocations_from(
        self, reservations: tuple[LineReservation, ...]
    ) -> tuple[LineAllocation, ...]:
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
                    components=reservation.components,
                )
            )
        return tuple(allocations)

    def _unreleased(self) -> dict[str, list[ShipmentLine]]:
        """Allocated units not yet in any shipment, by location."""
        released: dict[tuple[int, str], int] = {}
        for shipment in self.shipments:
            for item in shipment.lines:
                key = (item.line_number, shipment.location)
                released[key] = released.get(key, 0) + item.quantity
        by_location: dict[str, list[ShipmentLine]] = {}
        for line in self.allocation:
            for part in line.allocations:
                rest = part.quantity - released.get((line.line_number, part.location), 0)
                if rest > 0:
                    by_location.setdefault(part.location, []).append(
                        ShipmentLine(line.line_number, line.sku, rest, line.components)
                    )
        return by_location

    def _release_to_warehouse(self, policy: FulfilmentPolicy) -> None:
        """Send the warehouses what is allocated and not yet sent, unless the order is on hold."""
        by_location = self._unreleased()
        if self.on_hold or not by_location:
            return
        wave = self.releases + 1
        shipments = tuple(
            ShipmentRequest(
                shipment_id_for(self.id, location, wave),
                location,
                tuple(lines),
                sum(
                    (self.line(line.line_number).unit_price * line.quantity for line in lines),
                    Decimal("0"),
                ),
            )
            for location, lines in sorted(by_location.items())
        )
        self.trigger_event(
            self.ReleasedToWarehouse,
            shipments=shipments,
            ship_to=self.shipping_address,
            signature_required=self.total > policy.signature_over,
            declared_value=sum((shipment.declared_value for shipment in shipments), Decimal("0")),
            currency=self.currency,
            service_level=self.service_level,
            deliver_by=self.deliver_by,
        )
