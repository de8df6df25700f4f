"""What is reserved for a paid order, where, and what it is still owed.

Pure: no I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Self

from services.runtime.aggregate import Aggregate, DomainError

RESERVATION_NAMESPACE = uuid.UUID("c1d9e4a7-2b3f-4a6e-9f18-7e5d3c2b1a09")


def reservation_id_for(order_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(RESERVATION_NAMESPACE, str(order_id))


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
class KitComponent:
    """A component of a kit line: its SKU and the units of it in one kit."""

    sku: str
    quantity_per_kit: int


@dataclass(frozen=True)
class ReservedLine:
    """One order line's reservation. For a kit (`components` not empty) the quantities and
    allocations count whole kits; each component is reserved `quantity_per_kit` times as often."""

    line_number: int
    sku: str
    quantity_requested: int
    quantity_reserved: int
    allocations: tuple[LocationQuantity, ...]
    components: tuple[KitComponent, ...] = ()

    @property
    def kit(self) -> dict[str, int]:
        """The kit's components (component SKU → units per kit); empty for a plain line."""
        return {component.sku: component.quantity_per_kit for component in self.components}

    @property
    def quantity_short(self) -> int:
        return self.quantity_requested - self.quantity_reserved

    def topped_up(self, added: Sequence[LocationQuantity]) -> ReservedLine:
        """This line with more units reserved, merged per location."""
        by_location = {item.location: item.quantity for item in self.allocations}
        for item in added:
            by_location[item.location] = by_location.get(item.location, 0) + item.quantity
        reserved = self.quantity_reserved + sum(item.quantity for item in added)
        if reserved > self.quantity_requested:
            raise DomainError(
                f"line {self.line_number}: {reserved} units reserved, "
                f"{self.quantity_requested} requested"
            )
        return replace(
            self,
            quantity_reserved=reserved,
            allocations=tuple(
                LocationQuantity(location, quantity)
                for location, quantity in sorted(by_location.items())
            ),
        )


ShippingCost = Callable[[str, Sequence[RequestedLine]], Decimal]
"""What shipping these lines from this location to the order's destination is estimated to cost."""


def no_shipping_cost(location: str, lines: Sequence[RequestedLine]) -> Decimal:
    """Used while no rate card is known: every location costs the same."""
    return Decimal("0")


Components = Mapping[str, int]
"""A kit's components: component SKU → units in one kit."""


def plan_reservation(
    lines: Sequence[RequestedLine],
    available: Mapping[str, Mapping[str, int]],
    shipping_cost: ShippingCost = no_shipping_cost,
    kits: Mapping[str, Components] | None = None,
) -> tuple[ReservedLine, ...]:
    """Decide where each line's units come from.

    `available` maps SKU → location → units available. One location that can ship the whole order
    is preferred (one parcel), the one that ships it cheapest when several can. Otherwise the order
    is split: each line takes from its cheapest locations first, and among equally cheap ones from
    those with most units (fewer parcels). Whatever no location has is short.

    `kits` maps each kit SKU ordered to its components: a kit line is planned in whole kits, each
    from one location that has all its components (all or nothing per kit).
    """
    kits = kits or {}
    needed: dict[str, int] = {}
    for line in lines:
        for sku, units in component_units(
            kits.get(line.sku) or {line.sku: 1}, line.quantity
        ).items():
            needed[sku] = needed.get(sku, 0) + units
    locations = sorted({location for by_location in available.values() for location in by_location})
    complete = [
        location
        for location in locations
        if all(available.get(sku, {}).get(location, 0) >= qty for sku, qty in needed.items())
    ]
    if complete:
        cheapest = min(complete, key=lambda loc: (shipping_cost(loc, lines), loc))
        return tuple(
            ReservedLine(
                line_number=line.line_number,
                sku=line.sku,
                quantity_requested=line.quantity,
                quantity_reserved=line.quantity,
                allocations=(LocationQuantity(cheapest, line.quantity),),
                components=kit_components(kits.get(line.sku, {})),
            )
            for line in lines
        )
    remaining = {sku: dict(by_location) for sku, by_location in available.items()}
    planned = []
    for line in lines:
        cost = partial(_line_cost, shipping_cost, line)
        kit = kits.get(line.sku)
        taken = (
            take_kits(kit, remaining, line.quantity, cost)
            if kit
            else take_from(remaining.get(line.sku, {}), line.quantity, cost)
        )
        planned.append(
            ReservedLine(
                line_number=line.line_number,
                sku=line.sku,
                quantity_requested=line.quantity,
                quantity_reserved=sum(item.quantity for item in taken),
                allocations=taken,
                components=kit_components(kit or {}),
            )
        )
    return tuple(planned)


def kit_components(components: Components) -> tuple[KitComponent, ...]:
    return tuple(KitComponent(sku, per_kit) for sku, per_kit in sorted(components.items()))


def component_units(components: Components, kits: int) -> dict[str, int]:
    """Units of each component in `kits` kits."""
    return {sku: per_kit * kits for sku, per_kit in components.items()}


def whole_kits_at(
    components: Components, available: Mapping[str, Mapping[str, int]]
) -> dict[str, int]:
    """How many whole kits each location can make from what it has of every component."""
    if not components:
        return {}
    locations = set.intersection(*(set(available.get(sku, {})) for sku in components))
    return {
        location: min(available[sku][location] // per_kit for sku, per_kit in components.items())
        for location in sorted(locations)
    }


def take_kits(
    components: Components,
    available: dict[str, dict[str, int]],
    kits: int,
    cost: Callable[[str], Decimal] = lambda location: Decimal("0"),
) -> tuple[LocationQuantity, ...]:
    """Take up to `kits` whole kits, each from one location that has all its components (which
    first: as `take_from`); `available` (SKU → location → units) is decremented by their
    components."""
    taken = take_from(whole_kits_at(components, available), kits, cost)
    for item in taken:
        for sku, units in component_units(components, item.quantity).items():
            available[sku][item.location] -= units
    return taken


def _line_cost(shipping_cost: ShippingCost, line: RequestedLine, location: str) -> Decimal:
    return shipping_cost(location, (line,))


def take_from(
    available: dict[str, int],
    quantity: int,
    cost: Callable[[str], Decimal] = lambda location: Decimal("0"),
) -> tuple[LocationQuantity, ...]:
    """Take up to `quantity` units, from the cheapest locations first, and among equally cheap
    ones from those with most units (fewest parcels).

    `available` (location → units) is decremented by what was taken.
    """
    still = quantity
    taken = []
    for location in sorted(available, key=lambda loc: (cost(loc), -available[loc], loc)):
        take = min(still, available[location])
        if take > 0:
            taken.append(LocationQuantity(location, take))
            available[location] -= take
            still -= take
    return tuple(taken)


class Reservation(Aggregate):
    """What was reserved for one paid order: decided once, topped up as backorders fill."""

    class Reserved(Aggregate.Created):
        order_id: uuid.UUID
        lines: tuple[ReservedLine, ...]

        def apply(self, reservation: Reservation) -> None:
            reservation.order_id = self.order_id
            reservation.lines = self.lines
            reservation.released = False
            reservation.fills = 0

    class ShortOfStock(Aggregate.Created):
        order_id: uuid.UUID
        lines: tuple[ReservedLine, ...]

        def apply(self, reservation: Reservation) -> None:
            reservation.order_id = self.order_id
            reservation.lines = self.lines
            reservation.released = False
            reservation.fills = 0

    class BackorderFilled(Aggregate.Event):
        """Units that arrived were reserved for backordered lines; `lines` is the whole reservation
        after it, `fill` counts the fills of this order (1, 2, …)."""

        order_id: uuid.UUID
        fill: int
        lines: tuple[ReservedLine, ...]

        def apply(self, reservation: Reservation) -> None:
            reservation.lines = self.lines
            reservation.fills = self.fill

    class Released(Aggregate.Event):
        order_id: uuid.UUID
        reason: str

        def apply(self, reservation: Reservation) -> None:
            reservation.released = True

    if TYPE_CHECKING:
        order_id: uuid.UUID
        lines: tuple[ReservedLine, ...]
        released: bool
        fills: int

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

    @property
    def short_lines(self) -> tuple[ReservedLine, ...]:
        return tuple(line for line in self.lines if line.quantity_short)

    def fill(self, added: Mapping[int, Sequence[LocationQuantity]]) -> None:
        """Record units reserved for backordered lines (line number → where they are)."""
        if self.released:
            raise DomainError(f"the reservation of order {self.order_id} was released")
        unknown = set(added) - {line.line_number for line in self.short_lines}
        if unknown:
            raise DomainError(f"order {self.order_id} has no backorder on lines {sorted(unknown)}")
        self.trigger_event(
            self.BackorderFilled,
            order_id=self.order_id,
            fill=self.fills + 1,
            lines=tuple(
                line.topped_up(added[line.line_number]) if line.line_number in added else line
                for line in self.lines
            ),
        )

    def release(self, reason: str) -> bool:
        """Release what was reserved; False when it already was (nothing to do)."""
        if self.released:
            return False
        self.trigger_event(self.Released, order_id=self.order_id, reason=reason)
        return True
