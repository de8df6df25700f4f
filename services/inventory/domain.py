"""Stock per SKU and location, and the reservation of a paid order's lines.

Pure: no I/O. Overselling is prevented by the aggregates' versions: two reservations that read the same
stock cannot both be saved.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from services.runtime.aggregate import Aggregate, DomainError

STOCK_NAMESPACE = uuid.UUID("a3f0b7f2-5e1c-4d84-b1a9-8c2e7d6f4b30")
RESERVATION_NAMESPACE = uuid.UUID("c1d9e4a7-2b3f-4a6e-9f18-7e5d3c2b1a09")


def stock_id_for(sku: str) -> uuid.UUID:
    return uuid.uuid5(STOCK_NAMESPACE, sku)


def reservation_id_for(order_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(RESERVATION_NAMESPACE, str(order_id))


def serial_check_id_for(shipment_id: uuid.UUID, scan: int) -> uuid.UUID:
    return uuid.uuid5(shipment_id, f"serial-check:{scan}")


class InsufficientStock(DomainError):
    """Fewer units are available than asked for."""


@dataclass(frozen=True)
class LocationQuantity:
    location: str
    quantity: int


@dataclass(frozen=True)
class RequestedLine:
    line_number: int
    sku: str
    quantity: int


@dataclass(frozen=True)
class ReservedLine:
    line_number: int
    sku: str
    quantity_requested: int
    quantity_reserved: int
    allocations: tuple[LocationQuantity, ...]

    @property
    def quantity_short(self) -> int:
        return self.quantity_requested - self.quantity_reserved


@dataclass(frozen=True)
class Receipt:
    """Units put into stock at a location, with why, who, and, for serialized products, which."""

    location: str
    quantity: int
    reason: str
    actor: str
    reference: str | None = None
    serials: tuple[str, ...] = ()
    batch: str | None = None
    """Production batch of the received units, when the supplier states it (recall tracing)."""


class SkuStock(Aggregate):
    """The stock of one SKU at every location: on hand, reserved, available, serials in stock."""

    class FirstReceived(Aggregate.Created):
        sku: str
        receipt: Receipt

        def apply(self, stock: Any) -> None:
            stock.sku = self.sku
            stock.on_hand = {}
            stock.reserved = {}
            stock.serials = {}
            stock.packed = {}
            stock.shipped = {}
            stock.put_away(self.receipt)

    class Received(Aggregate.Event):
        sku: str
        receipt: Receipt

        def apply(self, stock: Any) -> None:
            stock.put_away(self.receipt)

    class Reserved(Aggregate.Event):
        sku: str
        order_id: uuid.UUID
        line_number: int
        location: str
        quantity: int

        def apply(self, stock: Any) -> None:
            stock.reserved[self.location] = stock.reserved.get(self.location, 0) + self.quantity

    class ReservationReleased(Aggregate.Event):
        sku: str
        order_id: uuid.UUID
        line_number: int
        location: str
        quantity: int

        def apply(self, stock: Any) -> None:
            stock.reserved[self.location] = stock.reserved.get(self.location, 0) - self.quantity

    class SerialPacked(Aggregate.Event):
        sku: str
        serial: str
        location: str
        shipment_id: uuid.UUID
        order_id: uuid.UUID

        def apply(self, stock: Any) -> None:
            stock.packed[self.serial] = self.shipment_id

    class Shipped(Aggregate.Event):
        sku: str
        order_id: uuid.UUID
        shipment_id: uuid.UUID
        line_number: int
        location: str
        quantity: int
        serials: tuple[str, ...]

        def apply(self, stock: Any) -> None:
            stock.on_hand[self.location] -= self.quantity
            stock.reserved[self.location] -= self.quantity
            for serial in self.serials:
                del stock.serials[serial]
                stock.packed.pop(serial, None)
                stock.shipped[serial] = self.order_id

    if TYPE_CHECKING:
        sku: str
        on_hand: dict[str, int]
        reserved: dict[str, int]
        serials: dict[str, str]
        """Serial number → location, for the units in stock."""
        packed: dict[str, uuid.UUID]
        """Serial number → shipment, for units in stock already packed into a parcel."""
        shipped: dict[str, uuid.UUID]
        """Serial number → order, for units that left."""

    @classmethod
    def receive_first(cls, *, sku: str, receipt: Receipt) -> Self:
        _check_receipt(sku, receipt, known={})
        return cls._create(cls.FirstReceived, id=stock_id_for(sku), sku=sku, receipt=receipt)

    def receive(self, receipt: Receipt) -> None:
        _check_receipt(self.sku, receipt, known=self.serials)
        self.trigger_event(self.Received, sku=self.sku, receipt=receipt)

    def reserve(
        self, *, order_id: uuid.UUID, line_number: int, location: str, quantity: int
    ) -> None:
        if quantity < 1:
            raise DomainError("a reservation needs at least one unit")
        if quantity > self.available_at(location):
            raise InsufficientStock(
                f"{self.sku} at {location}: {quantity} asked, {self.available_at(location)} available"
            )
        self.trigger_event(
            self.Reserved,
            sku=self.sku,
            order_id=order_id,
            line_number=line_number,
            location=location,
            quantity=quantity,
        )

    def release(
        self, *, order_id: uuid.UUID, line_number: int, location: str, quantity: int
    ) -> None:
        """Make units reserved for an order line available again."""
        if not 1 <= quantity <= self.reserved_at(location):
            raise DomainError(
                f"{self.sku} at {location}: cannot release {quantity}, "
                f"{self.reserved_at(location)} reserved"
            )
        self.trigger_event(
            self.ReservationReleased,
            sku=self.sku,
            order_id=order_id,
            line_number=line_number,
            location=location,
            quantity=quantity,
        )

    def put_away(self, receipt: Receipt) -> None:
        self.on_hand[receipt.location] = self.on_hand.get(receipt.location, 0) + receipt.quantity
        for serial in receipt.serials:
            self.serials[serial] = receipt.location

    @property
    def serialized(self) -> bool:
        """Units of this SKU carry serial numbers (they were received with them)."""
        return bool(self.serials or self.shipped)

    def problem_with_serial(
        self, serial: str | None, location: str, shipment_id: uuid.UUID
    ) -> str | None:
        """Why this unit may not go into this parcel, or None when it may."""
        if serial is None:
            return (
                f"{self.sku} units carry serials; one was not scanned" if self.serialized else None
            )
        if serial in self.shipped:
            return f"serial {serial} of {self.sku} has already shipped"
        where = self.serials.get(serial)
        if where is None:
            return f"serial {serial} is not a {self.sku} in stock"
        if where != location:
            return f"serial {serial} of {self.sku} is at {where}, not at {location}"
        packed_in = self.packed.get(serial)
        if packed_in is not None and packed_in != shipment_id:
            return f"serial {serial} of {self.sku} is already packed in shipment {packed_in}"
        return None

    def pack_serial(
        self, serial: str, location: str, shipment_id: uuid.UUID, order_id: uuid.UUID
    ) -> None:
        problem = self.problem_with_serial(serial, location, shipment_id)
        if problem is not None:
            raise DomainError(problem)
        if self.packed.get(serial) == shipment_id:
            return
        self.trigger_event(
            self.SerialPacked,
            sku=self.sku,
            serial=serial,
            location=location,
            shipment_id=shipment_id,
            order_id=order_id,
        )

    def ship(
        self,
        *,
        order_id: uuid.UUID,
        shipment_id: uuid.UUID,
        line_number: int,
        location: str,
        quantity: int,
        serials: tuple[str, ...],
    ) -> None:
        """Units reserved for an order line leave the location."""
        if not 1 <= quantity <= self.reserved_at(location):
            raise DomainError(
                f"{self.sku} at {location}: {quantity} shipped, {self.reserved_at(location)} reserved"
            )
        unknown = [serial for serial in serials if self.serials.get(serial) != location]
        if unknown:
            raise DomainError(
                f"{self.sku} serials not in stock at {location}: {', '.join(unknown)}"
            )
        self.trigger_event(
            self.Shipped,
            sku=self.sku,
            order_id=order_id,
            shipment_id=shipment_id,
            line_number=line_number,
            location=location,
            quantity=quantity,
            serials=serials,
        )

    def serials_at(self, location: str) -> list[str]:
        return sorted(serial for serial, where in self.serials.items() if where == location)

    def on_hand_at(self, location: str) -> int:
        return self.on_hand.get(location, 0)

    def reserved_at(self, location: str) -> int:
        return self.reserved.get(location, 0)

    def available_at(self, location: str) -> int:
        return self.on_hand_at(location) - self.reserved_at(location)

    @property
    def locations(self) -> list[str]:
        return sorted(self.on_hand)


def _check_receipt(sku: str, receipt: Receipt, known: Mapping[str, str]) -> None:
    if receipt.quantity < 1:
        raise DomainError("a receipt needs at least one unit")
    if not receipt.reason.strip():
        raise DomainError("every stock change needs a reason")
    if not receipt.actor.strip():
        raise DomainError("every stock change needs an actor")
    if not receipt.serials:
        return
    if len(receipt.serials) != receipt.quantity:
        raise DomainError(
            f"{receipt.quantity} units need {receipt.quantity} serials, {len(receipt.serials)} given"
        )
    repeated = sorted({s for s in receipt.serials if receipt.serials.count(s) > 1})
    if repeated:
        raise DomainError(f"serials given twice in one receipt: {', '.join(repeated)}")
    already = sorted(serial for serial in receipt.serials if serial in known)
    if already:
        raise DomainError(
            f"{sku} serials already in stock: "
            + ", ".join(f"{serial} (at {known[serial]})" for serial in already)
        )


def plan_reservation(
    lines: Sequence[RequestedLine], available: Mapping[str, Mapping[str, int]]
) -> tuple[ReservedLine, ...]:
    """Decide where each line's units come from.

    `available` maps SKU → location → units available. One location that can ship the whole order
    is preferred (one parcel); otherwise each line takes from the locations with most units first.
    Whatever no location has is short.
    """
    needed: dict[str, int] = {}
    for line in lines:
        needed[line.sku] = needed.get(line.sku, 0) + line.quantity
    locations = sorted({location for by_location in available.values() for location in by_location})
    for location in locations:
        if all(available.get(sku, {}).get(location, 0) >= qty for sku, qty in needed.items()):
            return tuple(
                ReservedLine(
                    line_number=line.line_number,
                    sku=line.sku,
                    quantity_requested=line.quantity,
                    quantity_reserved=line.quantity,
                    allocations=(LocationQuantity(location, line.quantity),),
                )
                for line in lines
            )
    remaining = {sku: dict(by_location) for sku, by_location in available.items()}
    planned = []
    for line in lines:
        still = line.quantity
        allocations = []
        by_location = remaining.get(line.sku, {})
        for location in sorted(by_location, key=lambda loc: (-by_location[loc], loc)):
            take = min(still, by_location[location])
            if take > 0:
                allocations.append(LocationQuantity(location, take))
                by_location[location] -= take
                still -= take
        planned.append(
            ReservedLine(
                line_number=line.line_number,
                sku=line.sku,
                quantity_requested=line.quantity,
                quantity_reserved=line.quantity - still,
                allocations=tuple(allocations),
            )
        )
    return tuple(planned)


class Reservation(Aggregate):
    """What was reserved for one paid order: decided once, never twice."""

    class Reserved(Aggregate.Created):
        order_id: uuid.UUID
        lines: tuple[ReservedLine, ...]

        def apply(self, reservation: Any) -> None:
            reservation.order_id = self.order_id
            reservation.lines = self.lines
            reservation.released = False

    class ShortOfStock(Aggregate.Created):
        order_id: uuid.UUID
        lines: tuple[ReservedLine, ...]

        def apply(self, reservation: Any) -> None:
            reservation.order_id = self.order_id
            reservation.lines = self.lines
            reservation.released = False

    class Released(Aggregate.Event):
        order_id: uuid.UUID
        reason: str

        def apply(self, reservation: Any) -> None:
            reservation.released = True

    if TYPE_CHECKING:
        order_id: uuid.UUID
        lines: tuple[ReservedLine, ...]
        released: bool

    def release(self, reason: str) -> bool:
        """Release what was reserved; False when it already was (nothing to do)."""
        if self.released:
            return False
        self.trigger_event(self.Released, order_id=self.order_id, reason=reason)
        return True

    @classmethod
    def decide(cls, order_id: uuid.UUID, lines: tuple[ReservedLine, ...]) -> Self:
        if not lines:
            raise DomainError("a reservation needs at least one line")
        complete = all(line.quantity_short == 0 for line in lines)
        return cls._create(
            cls.Reserved if complete else cls.ShortOfStock,
            id=reservation_id_for(order_id),
            order_id=order_id,
            lines=lines,
        )


@dataclass(frozen=True)
class ScannedUnit:
    line_number: int
    sku: str
    serial: str | None


class SerialCheck(Aggregate):
    """Inventory's verdict on one pack scan of a shipment: may these serials ship in it?"""

    class Passed(Aggregate.Created):
        shipment_id: uuid.UUID
        order_id: uuid.UUID
        scan: int

    class Failed(Aggregate.Created):
        shipment_id: uuid.UUID
        order_id: uuid.UUID
        scan: int
        problems: tuple[str, ...]

    @classmethod
    def decide(
        cls,
        *,
        shipment_id: uuid.UUID,
        order_id: uuid.UUID,
        scan: int,
        problems: tuple[str, ...],
    ) -> Self:
        common = {"shipment_id": shipment_id, "order_id": order_id, "scan": scan}
        if problems:
            return cls._create(
                cls.Failed, id=serial_check_id_for(shipment_id, scan), problems=problems, **common
            )
        return cls._create(cls.Passed, id=serial_check_id_for(shipment_id, scan), **common)
