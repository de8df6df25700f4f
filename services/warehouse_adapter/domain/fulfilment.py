"""Fulfilment at a 3PL warehouse: what one location is asked to ship for an order.

Pure: no I/O. The 3PL's warehouse management system is the physical truth; this aggregate is the
record of what was asked of it and what it answered.
"""

from __future__ import annotations

import enum
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Self

from services.runtime.aggregate import Aggregate, DomainError


class FulfilmentStatus(enum.StrEnum):
    REQUESTED = "requested"
    PICKED = "picked"
    SCANNED = "scanned"
    """Packed and scanned; inventory is checking the serials."""
    PACKED = "packed"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class FulfilmentLine:
    """Units of one SKU of an order line to pick and pack. A kit's order line is fulfilled as one
    line per component, each with the kit's line number and naming the kit."""

    line_number: int
    sku: str
    quantity: int
    kit_sku: str | None = None


@dataclass(frozen=True)
class Destination:
    name: str
    line1: str
    line2: str | None
    city: str
    region: str | None
    postal_code: str
    country: str


@dataclass(frozen=True)
class PackedUnit:
    line_number: int
    sku: str
    serial: str | None


class Fulfilment(Aggregate):
    """One shipment of one order from one location; its id is the order's shipment id."""

    class Requested(Aggregate.Created):
        order_id: uuid.UUID
        location: str
        lines: tuple[FulfilmentLine, ...]
        ship_to: Destination
        signature_required: bool

        def apply(self, fulfilment: Fulfilment) -> None:
            fulfilment.order_id = self.order_id
            fulfilment.location = self.location
            fulfilment.lines = self.lines
            fulfilment.ship_to = self.ship_to
            fulfilment.signature_required = self.signature_required
            fulfilment.status = FulfilmentStatus.REQUESTED
            fulfilment.scans = 0
            fulfilment.units = ()
            fulfilment.scanned_at = None
            fulfilment.carrier = None
            fulfilment.service = None
            fulfilment.tracking_number = None

    class Picked(Aggregate.Event):
        order_id: uuid.UUID
        at: datetime

        def apply(self, fulfilment: Fulfilment) -> None:
            fulfilment.status = FulfilmentStatus.PICKED

    class UnitsScanned(Aggregate.Event):
        order_id: uuid.UUID
        location: str
        scan: int
        units: tuple[PackedUnit, ...]
        at: datetime

        def apply(self, fulfilment: Fulfilment) -> None:
            fulfilment.scans = self.scan
            fulfilment.units = self.units
            fulfilment.scanned_at = self.at
            fulfilment.status = FulfilmentStatus.SCANNED

    class UnitSerialCaptured(Aggregate.Event):
        order_id: uuid.UUID
        line_number: int
        sku: str
        serial: str
        location: str
        captured_at: datetime

    class Packed(Aggregate.Event):
        order_id: uuid.UUID
        units: tuple[PackedUnit, ...]

        def apply(self, fulfilment: Fulfilment) -> None:
            fulfilment.status = FulfilmentStatus.PACKED

    class PackRejected(Aggregate.Event):
        order_id: uuid.UUID
        problems: tuple[str, ...]

        def apply(self, fulfilment: Fulfilment) -> None:
            fulfilment.units = ()
            fulfilment.status = FulfilmentStatus.PICKED

    class Labelled(Aggregate.Event):
        order_id: uuid.UUID
        carrier: str
        service: str
        tracking_number: str

        def apply(self, fulfilment: Fulfilment) -> None:
            fulfilment.carrier = self.carrier
            fulfilment.service = self.service
            fulfilment.tracking_number = self.tracking_number

    class Shipped(Aggregate.Event):
        order_id: uuid.UUID
        location: str
        units: tuple[PackedUnit, ...]
        carrier: str
        service: str
        tracking_number: str
        at: datetime

        def apply(self, fulfilment: Fulfilment) -> None:
            fulfilment.status = FulfilmentStatus.SHIPPED

    class Cancelled(Aggregate.Event):
        order_id: uuid.UUID
        reason: str

        def apply(self, fulfilment: Fulfilment) -> None:
            fulfilment.status = FulfilmentStatus.CANCELLED

    if TYPE_CHECKING:
        order_id: uuid.UUID
        location: str
        lines: tuple[FulfilmentLine, ...]
        ship_to: Destination
        signature_required: bool
        status: FulfilmentStatus
        scans: int
        units: tuple[PackedUnit, ...]
        scanned_at: datetime | None
        carrier: str | None
        service: str | None
        tracking_number: str | None

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

    def confirm_picked(self, at: datetime) -> None:
        """The 3PL picked the units; a repeat, or a pick reported after packing, changes nothing."""
        self._check_not_cancelled()
        if self.status is FulfilmentStatus.REQUESTED:
            self.trigger_event(self.Picked, order_id=self.order_id, at=at)

    def record_scan(self, units: tuple[PackedUnit, ...], at: datetime) -> None:
        """The 3PL packed and scanned the units: check they are what was asked, then let inventory
        check the serials. The same scan reported twice counts once, even after the parcel
        shipped: a 3PL that restarts may report again what it had done before."""
        self._check_not_cancelled()
        if self.status in (FulfilmentStatus.SCANNED, FulfilmentStatus.PACKED):
            if Counter(units) == Counter(self.units):
                return
            raise DomainError(f"shipment {self.id} is {self.status} with other units")
        if self.status is FulfilmentStatus.SHIPPED:
            if Counter(units) == Counter(self.units):
                return
            raise DomainError(f"shipment {self.id} has shipped with other units")
        problems = self._problems_with(units)
        if problems:
            self.trigger_event(self.PackRejected, order_id=self.order_id, problems=problems)
            return
        self.trigger_event(
            self.UnitsScanned,
            order_id=self.order_id,
            location=self.location,
            scan=self.scans + 1,
            units=units,
            at=at,
        )

    def serials_verified(self, scan: int) -> None:
        """Inventory accepted the serials of a scan: each unit's serial is captured, the pack is
        complete and may ship."""
        if self.status is not FulfilmentStatus.SCANNED or scan != self.scans:
            return  # an answer to an earlier scan, or one already applied
        if self.scanned_at is None:
            raise DomainError(f"fulfilment {self.id} was scanned with no time of the scan")
        for unit in self.units:
            if unit.serial is not None:
                self.trigger_event(
                    self.UnitSerialCaptured,
                    order_id=self.order_id,
                    line_number=unit.line_number,
                    sku=unit.sku,
                    serial=unit.serial,
                    location=self.location,
                    captured_at=self.scanned_at,
                )
        self.trigger_event(self.Packed, order_id=self.order_id, units=self.units)

    def serials_refused(self, scan: int, problems: tuple[str, ...]) -> None:
        """Inventory refused serials of a scan: the pack is not complete; the 3PL scans again."""
        if self.status is not FulfilmentStatus.SCANNED or scan != self.scans:
            return
        self.trigger_event(self.PackRejected, order_id=self.order_id, problems=problems)

    def attach_label(self, *, carrier: str, service: str, tracking_number: str) -> None:
        """Shipping bought the parcel's label: the 3PL prints it and ships with it."""
        if self.tracking_number == tracking_number:
            return
        if self.tracking_number is not None:
            raise DomainError(f"shipment {self.id} already has label {self.tracking_number}")
        self.trigger_event(
            self.Labelled,
            order_id=self.order_id,
            carrier=carrier,
            service=service,
            tracking_number=tracking_number,
        )

    def confirm_shipped(
        self, *, carrier: str, service: str, tracking_number: str, at: datetime
    ) -> None:
        """The parcel left with a carrier: only a verified pack, with the label shipping bought."""
        if self.status is FulfilmentStatus.SHIPPED and self.tracking_number == tracking_number:
            return
        if self.status is not FulfilmentStatus.PACKED:
            raise DomainError(
                f"shipment {self.id} is {self.status}: only a packed shipment with verified "
                "serials can ship"
            )
        if self.tracking_number is None:
            raise DomainError(f"shipment {self.id} has no label: it cannot ship")
        if (carrier, tracking_number) != (self.carrier, self.tracking_number):
            raise DomainError(
                f"shipment {self.id} must ship with its label {self.carrier} "
                f"{self.tracking_number}, not {carrier} {tracking_number}"
            )
        self.trigger_event(
            self.Shipped,
            order_id=self.order_id,
            location=self.location,
            units=self.units,
            carrier=carrier,
            service=service,
            tracking_number=tracking_number,
            at=at,
        )

    def cancel(self, reason: str) -> None:
        """Withdraw the request from the 3PL; cancelling twice is one cancellation."""
        if self.status is FulfilmentStatus.CANCELLED:
            return
        if self.status is FulfilmentStatus.SHIPPED:
            raise DomainError(f"shipment {self.id} has shipped and cannot be withdrawn")
        self.trigger_event(self.Cancelled, order_id=self.order_id, reason=reason)

    def _check_not_cancelled(self) -> None:
        if self.status is FulfilmentStatus.CANCELLED:
            raise DomainError(f"shipment {self.id} was cancelled")

    def _problems_with(self, units: tuple[PackedUnit, ...]) -> tuple[str, ...]:
        problems = []
        # (line, SKU): a kit's line is several lines, one per component
        expected: dict[int, dict[str, FulfilmentLine]] = {}
        for line in self.lines:
            expected.setdefault(line.line_number, {})[line.sku] = line
        scanned = Counter((unit.line_number, unit.sku) for unit in units)
        for number, by_sku in expected.items():
            for sku, line in by_sku.items():
                if scanned[(number, sku)] != line.quantity:
                    problems.append(
                        f"line {number} ({sku}) needs {line.quantity} units, "
                        f"{scanned[(number, sku)]} scanned"
                    )
        for unit in units:
            wanted = expected.get(unit.line_number)
            if wanted is None:
                problems.append(f"line {unit.line_number} is not in this shipment")
            elif unit.sku not in wanted:
                problems.append(
                    f"line {unit.line_number} is {' and '.join(sorted(wanted))}, "
                    f"a {unit.sku} was scanned"
                )
        serials = [unit.serial for unit in units if unit.serial is not None]
        repeated = sorted({serial for serial in serials if serials.count(serial) > 1})
        if repeated:
            problems.append(f"serials scanned twice: {', '.join(repeated)}")
        return tuple(problems)
