"""What the stock of one SKU holds besides counts: units owed to order lines, returned units,
units in transit, reorder policies and suggestions, units inbound on purchase orders. Pure value
objects, no I/O: `state.py` (the state of `SkuStock`) and the operation modules that change them
both import them from here, so the state needs none of its subclasses' modules."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class Backorder:
    """Units an order line is still owed; served first come, first served as stock arrives."""

    order_id: uuid.UUID
    line_number: int
    quantity: int


@dataclass(frozen=True)
class ReturnedUnit:
    """A unit that came back under an RMA, where it is and in which condition."""

    serial: str | None
    location: str
    condition: str


@dataclass(frozen=True)
class InTransit:
    """Units on their way from one location to another, on hand at neither."""

    transfer_id: uuid.UUID
    from_location: str
    to_location: str
    quantity: int
    serials: tuple[str, ...] = ()
    unit_cost: Decimal | None = None
    """What one unit was booked out at, so it is booked in at the same; None: unknown."""
    currency: str | None = None


@dataclass(frozen=True)
class ReorderPolicy:
    """When to reorder a SKU at a location, how much, and how long the supplier takes."""

    reorder_point: int
    """Available plus inbound at or below this raises a low-stock alert."""
    reorder_quantity: int
    """Units to order."""
    lead_time_days: int
    """Days from ordering to the units arriving."""


@dataclass(frozen=True)
class PurchaseSuggestion:
    """The purchase order a low-stock alert suggests."""

    quantity: int
    """The reorder quantity, or more when that would not get the position above the point."""
    expected_by: date
    """When the units would arrive if ordered today: today plus the lead time."""


@dataclass(frozen=True)
class InboundLine:
    """Units of a SKU still due on one confirmed purchase order at its destination."""

    purchase_order_id: str
    location: str
    quantity: int
