"""What returns knows of the order a unit comes back from: the line (a kit's component as its
share of the kit), the units delivered for it, and the address they went to.

Pure: no I/O. Values an RMA is requested against; `Address` is also stored in its events.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from services.runtime.aggregate import DomainError

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Address:
    """The customer's address the unit comes back from (the order's shipping address)."""

    name: str
    line1: str
    line2: str | None
    city: str
    region: str | None
    postal_code: str
    country: str


@dataclass(frozen=True)
class ReturnLine:
    """What returns knows of the order line a unit is returned from. For a unit of a kit's
    component, `sku` is the component's, `unit_price` its share of the kit (`kit_component`) and
    `kit_sku` the kit's."""

    order_id: uuid.UUID
    line_number: int
    sku: str
    channel: str
    unit_price: Decimal
    currency: str
    ship_to: Address
    kit_sku: str | None = None

    def returning(self, sku: str | None, kit: Mapping[str, int]) -> ReturnLine:
        """The line as the unit named comes back: the line itself, or for a kit (`kit`: its
        components and units of each in one kit, empty for a plain line) the component named."""
        if not kit:
            if sku is not None and sku != self.sku:
                raise DomainError(f"line {self.line_number} is {self.sku}, not {sku}")
            return self
        named = " or ".join(sorted(kit))
        if sku is None:
            raise DomainError(
                f"line {self.line_number} is kit {self.sku}: name the component returned: {named}"
            )
        if sku not in kit:
            raise DomainError(f"{sku} is not a component of kit {self.sku} ({named})")
        return replace(
            self, sku=sku, unit_price=kit_unit_share(self.unit_price, kit), kit_sku=self.sku
        )


def kit_unit_share(kit_price: Decimal, kit: Mapping[str, int]) -> Decimal:
    """What one returned unit of a kit refunds: the kit's price in equal shares over all the units
    in one kit (a camera and two lenses: a third each), rounded down to the cent so that the parts
    never refund more than the kit. Equal shares, because the price paid is the kit's alone: the
    PIM's list prices are optional and need not add up to it."""
    units = sum(kit.values())
    return (kit_price / units).quantize(CENT, rounding=ROUND_DOWN)


@dataclass(frozen=True)
class DeliveredUnits:
    """The units of the line that reached the customer: how many, their serials (none for a product
    whose units carry none), the latest delivery and the location that parcel shipped from (where a
    unit goes back to)."""

    serials: tuple[str, ...]
    delivered_at: datetime
    shipped_from: str
    quantity: int

    def __post_init__(self) -> None:
        if self.quantity < max(1, len(self.serials)):
            raise DomainError(
                f"{self.quantity} delivered units cannot carry {len(self.serials)} serials"
                if self.serials
                else "no unit was delivered"
            )

    @property
    def serialized(self) -> bool:
        """The units carry serials: a returned unit is checked against them."""
        return bool(self.serials)

    def left_to_return(self, taken: int) -> int:
        """Units not under a return yet, when `taken` returns (any not rejected) hold one each."""
        return max(0, self.quantity - taken)
