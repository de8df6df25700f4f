"""The order's values: lines, parties, allocations, shipments. Pure."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


class OrderStatus(enum.StrEnum):
    PLACED = "placed"
    PAID = "paid"
    ALLOCATED = "allocated"
    PARTLY_BACKORDERED = "partly-backordered"
    BACKORDERED = "backordered"
    RELEASED = "released-to-warehouse"
    PARTLY_SHIPPED = "partly-shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


ALLOCATED_STATES = (OrderStatus.ALLOCATED, OrderStatus.PARTLY_BACKORDERED)
SHIPPING_STATES = (OrderStatus.PARTLY_SHIPPED, OrderStatus.SHIPPED, OrderStatus.DELIVERED)
DECIDED_STATES = (
    *ALLOCATED_STATES,
    OrderStatus.BACKORDERED,
    OrderStatus.RELEASED,
    *SHIPPING_STATES,
)


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
class KitComponent:
    """A component of a kit (bundle) line, as inventory reserved it: units of it in one kit."""

    sku: str
    quantity_per_kit: int


@dataclass(frozen=True)
class LineReservation:
    """What inventory reserved for one line, and where (for a kit: whole kits, and its
    components)."""

    line_number: int
    sku: str
    quantity_reserved: int
    quantity_short: int
    allocations: tuple[LocationQuantity, ...]
    components: tuple[KitComponent, ...] = ()


@dataclass(frozen=True)
class LineAllocation:
    line_number: int
    sku: str
    quantity_ordered: int
    quantity_allocated: int
    quantity_backordered: int
    allocations: tuple[LocationQuantity, ...]
    components: tuple[KitComponent, ...] = ()
    """A kit's components (quantities count whole kits); empty for a plain line."""


@dataclass(frozen=True)
class ShipmentLine:
    line_number: int
    sku: str
    quantity: int
    components: tuple[KitComponent, ...] = ()
    """A kit's components: the warehouse ships these, `quantity` kits of them."""


@dataclass(frozen=True)
class ShipmentRequest:
    """What one location is asked to ship for the order."""

    shipment_id: uuid.UUID
    location: str
    lines: tuple[ShipmentLine, ...]
    declared_value: Decimal


@dataclass(frozen=True)
class Dispatch:
    """A shipment that left its warehouse."""

    shipment_id: uuid.UUID
    location: str
    carrier: str
    service: str
    tracking_number: str
    serials: tuple[str, ...]


@dataclass(frozen=True)
class TrackingUpdate:
    """The carrier's latest news of a parcel, as the order shows it."""

    shipment_id: uuid.UUID
    status: str
    """`in-transit`, `delivered` or `exception`."""
    description: str
    at: datetime


def shipment_id_for(order_id: uuid.UUID, location: str, wave: int = 1) -> uuid.UUID:
    """The parcel a location ships for the order's `wave`-th release (later ones: backorders)."""
    name = f"shipment:{location}" if wave == 1 else f"shipment:{location}:{wave}"
    return uuid.uuid5(order_id, name)
