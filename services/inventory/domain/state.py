"""What the stock of one SKU is, and the questions asked of it; the base of `SkuStock`.

Pure: no I/O. The state changes only through `SkuStock`'s events (`stock.py` and the operation
modules); this module only reads it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.inventory.domain.availability import ChannelAvailability
from services.inventory.domain.holdings import (
    Backorder,
    InboundLine,
    InTransit,
    PurchaseSuggestion,
    ReorderPolicy,
    ReturnedUnit,
)
from services.inventory.domain.valuation import VALUELESS_CONDITIONS, AverageCost, BookedCost

NEW = "new"
OPEN_BOX = "open-box"
REFURBISHED = "refurbished"
RETURN_CONDITIONS = ("quarantined", OPEN_BOX, "damaged")
"""Conditions a returned unit enters stock in (its disposition); never `new`."""
HELD_CONDITIONS = ("quarantined", OPEN_BOX, REFURBISHED, "damaged")
"""Conditions a returned unit may be held in; only `new` units are available to sell as new."""
CONDITIONS = (NEW, OPEN_BOX, REFURBISHED, "quarantined", "damaged")
"""Every stock condition, in the order the stock view lists them."""
SOLD_AS_THEIR_OWN = (OPEN_BOX, REFURBISHED)
"""Held conditions a channel sells as such (never as new); quarantined and damaged it does not."""


@dataclass(frozen=True)
class StockPosition:
    """Units of the SKU at one location in one condition."""

    location: str
    condition: str
    on_hand: int
    reserved: int
    """Only new units are reserved for orders."""
    available: int
    """New: on hand less reserved; open-box and refurbished: on hand; others: none."""
    inbound: int
    """Units on confirmed purchase orders due here, not yet received (new units only)."""
    in_transit: int
    """Units transferred to this location and not yet received (new units only)."""


class StockState:
    """The state of `SkuStock` and its queries. Subclassed only by the aggregate and its mixins."""

    if TYPE_CHECKING:
        id: uuid.UUID
        sku: str
        on_hand: dict[str, int]
        """Location → new units on hand (returned units in other conditions are in `returns`)."""
        reserved: dict[str, int]
        serials: dict[str, str]
        """Serial number → location, for the new units in stock."""
        packed: dict[str, uuid.UUID]
        """Serial number → shipment, for units in stock already packed into a parcel."""
        shipped: dict[str, uuid.UUID]
        """Serial number → order, for units that left."""
        backorders: list[Backorder]
        """Units owed to order lines, oldest first."""
        returns: dict[str, ReturnedUnit]
        """RMA id (text) → the returned unit, while it is held in a condition other than new."""
        published: dict[str, ChannelAvailability]
        """Channel → what it was last told it may sell."""
        in_transit: dict[str, InTransit]
        """Transfer id (text) → units on their way between two locations (on hand at neither)."""
        policies: dict[str, ReorderPolicy]
        """Location → its reorder point."""
        low_stock: dict[str, PurchaseSuggestion]
        """Location → the purchase suggested while available is at or below its reorder point."""
        inbound: dict[str, InboundLine]
        """Purchase order id → units still due on it (at its destination), while any are."""
        average_cost: AverageCost | None
        """The moving weighted-average cost of one unit (`valuation.py`); None: unknown."""

        def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None: ...

    def start(self, sku: str) -> None:
        self.sku = sku
        self.on_hand = {}
        self.reserved = {}
        self.serials = {}
        self.packed = {}
        self.shipped = {}
        self.backorders = []
        self.returns = {}
        self.published = {}
        self.in_transit = {}
        self.policies = {}
        self.low_stock = {}
        self.inbound = {}
        self.average_cost = None

    def on_hand_at(self, location: str) -> int:
        return self.on_hand.get(location, 0)

    def reserved_at(self, location: str) -> int:
        return self.reserved.get(location, 0)

    def available_at(self, location: str) -> int:
        return self.on_hand_at(location) - self.reserved_at(location)

    def in_transit_to(self, location: str) -> int:
        """Units dispatched to this location, not yet received."""
        return sum(m.quantity for m in self.in_transit.values() if m.to_location == location)

    def inbound_at(self, location: str) -> int:
        """Units on confirmed purchase orders due at this location, not yet received."""
        return sum(due.quantity for due in self.inbound.values() if due.location == location)

    @property
    def locations(self) -> list[str]:
        """Locations holding units of the SKU, or that did."""
        return sorted(set(self.on_hand) | {unit.location for unit in self.returns.values()})

    @property
    def known_locations(self) -> list[str]:
        """Every location the SKU is at, or on its way to (transferred or on a purchase order),
        or has a reorder point at."""
        destinations = {moving.to_location for moving in self.in_transit.values()}
        ordered = {due.location for due in self.inbound.values()}
        return sorted(set(self.locations) | destinations | ordered | set(self.policies))

    @property
    def valued_units(self) -> int:
        """Units on the books at a value, the weight of the average cost: new units on hand and
        in transit, and returned units held in a condition that has a value."""
        held = sum(unit.condition not in VALUELESS_CONDITIONS for unit in self.returns.values())
        moving = sum(m.quantity for m in self.in_transit.values())
        return sum(self.on_hand.values()) + moving + held

    def cost_now(self, condition: str = NEW) -> BookedCost:
        """What one unit in this condition is booked at now: the average (zero when damaged)."""
        return BookedCost.in_condition(self.average_cost, condition)

    @property
    def backordered(self) -> int:
        """Units owed to order lines."""
        return sum(owed.quantity for owed in self.backorders)

    def held_in(self, location: str) -> dict[str, int]:
        """Returned units at a location per condition a return enters stock in (never new).

        Kept as it was for existing readers; `held_at` has every held condition, refurbished too.
        """
        held = self.held_at(location)
        return {condition: held[condition] for condition in RETURN_CONDITIONS}

    def held_at(self, location: str) -> dict[str, int]:
        """Returned units at a location per condition other than new."""
        counts = dict.fromkeys(HELD_CONDITIONS, 0)
        for unit in self.returns.values():
            if unit.location == location:
                counts[unit.condition] += 1
        return counts

    def held_count(self, condition: str) -> int:
        """Returned units held in a condition at every location."""
        return sum(unit.condition == condition for unit in self.returns.values())

    def positions(self) -> list[StockPosition]:
        """Every known location in every condition: on hand, reserved, available, inbound and in
        transit."""
        rows = []
        for location in self.known_locations:
            held = self.held_at(location)
            for condition in CONDITIONS:
                if condition == NEW:
                    on_hand, reserved = self.on_hand_at(location), self.reserved_at(location)
                    available, inbound = on_hand - reserved, self.inbound_at(location)
                    in_transit = self.in_transit_to(location)
                else:
                    on_hand, reserved, inbound, in_transit = held[condition], 0, 0, 0
                    available = on_hand if condition in SOLD_AS_THEIR_OWN else 0
                rows.append(
                    StockPosition(
                        location, condition, on_hand, reserved, available, inbound, in_transit
                    )
                )
        return rows

    def serials_at(self, location: str) -> list[str]:
        return sorted(serial for serial, where in self.serials.items() if where == location)

    @property
    def serialized(self) -> bool:
        """Units of this SKU carry serial numbers (they were received with them)."""
        return bool(
            self.serials
            or self.shipped
            or self.in_transit_serials
            or any(unit.serial for unit in self.returns.values())
        )

    @property
    def in_transit_serials(self) -> dict[str, InTransit]:
        """Serial number → the transfer it travels with."""
        return {serial: moving for moving in self.in_transit.values() for serial in moving.serials}

    @property
    def stocked_serials(self) -> dict[str, str]:
        """Serial number → where it is, in words, for new units in stock or in transit."""
        moving = {
            serial: f"in transit from {m.from_location} to {m.to_location}"
            for serial, m in self.in_transit_serials.items()
        }
        return {serial: f"at {location}" for serial, location in self.serials.items()} | moving

    def where_is(self, serial: str) -> str | None:
        """Where this SKU's unit with this serial is known to be, in words; None when unknown."""
        stocked = self.stocked_serials.get(serial)
        if stocked is not None:
            return stocked
        for rma, unit in self.returns.items():
            if unit.serial == serial:
                return f"held {unit.condition} at {unit.location} under RMA {rma}"
        if serial in self.shipped:
            return f"shipped to order {self.shipped[serial]}"
        return None

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
