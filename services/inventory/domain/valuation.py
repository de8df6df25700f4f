"""Valuation: a SKU's moving weighted-average unit cost, and what each movement is booked at.

Pure: no I/O. Finance values stock with one moving average per SKU (all locations, every
condition that still has value), in the currency of its costed receipts:

- a receipt against a purchase order is booked at its line's unit cost; in the average's currency
  (or the first one) it moves the average:
  (units on the books x average + units received x their cost) / (all of them);
- a receipt in another currency is booked at its own cost and currency but not averaged: its
  units are on the books at the average from then on (converting is the ledger's business);
- a receipt without a cost (an opening count, `POST /stock/receipts`) is booked at the average
  and leaves it as it is; before any costed receipt its cost is unknown, and the first costed
  receipt then sets the average for every unit on the books;
- everything else that moves units (shipments, adjustments, transfers, returns, condition
  changes) is booked at the average at that moment, which it does not change; a transfer is
  booked in at the cost it was dispatched at, so the goods-in-transit account clears;
- damaged units have no value: a unit written off to `damaged` leaves at the average, a unit
  returned as damaged enters at zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

VALUELESS_CONDITIONS = frozenset({"damaged"})
"""Conditions whose units are on the books at no value (written off)."""

COST_PLACES = Decimal("0.0001")
"""The average is kept to four decimals, the precision unit costs are published with."""


@dataclass(frozen=True)
class AverageCost:
    """The moving weighted-average cost of one unit of a SKU, in the currency it is kept in."""

    unit_cost: Decimal
    currency: str


@dataclass(frozen=True)
class BookedCost:
    """What one unit of a movement is booked at; `unit_cost` None: unknown (no costed receipt
    yet, or recorded before stock was valued)."""

    unit_cost: Decimal | None
    currency: str | None

    @classmethod
    def at(cls, average: AverageCost | None) -> BookedCost:
        """Booked at the average (unknown without one)."""
        if average is None:
            return UNKNOWN
        return cls(average.unit_cost, average.currency)

    @classmethod
    def in_condition(cls, average: AverageCost | None, condition: str) -> BookedCost:
        """Booked at the average, or at zero in a condition that has no value."""
        booked = cls.at(average)
        if condition in VALUELESS_CONDITIONS and booked.currency is not None:
            return cls(Decimal(0), booked.currency)
        return booked


UNKNOWN = BookedCost(None, None)


def averaged(
    current: AverageCost | None,
    units_on_books: int,
    quantity: int,
    unit_cost: Decimal | None,
    currency: str | None,
) -> AverageCost | None:
    """The average after `quantity` units were received at `unit_cost` (None: no cost) into a
    stock of `units_on_books` valued units."""
    if unit_cost is None or currency is None:
        return current
    if current is None or units_on_books <= 0:
        if current is not None and currency != current.currency:
            return current
        return AverageCost(unit_cost.quantize(COST_PLACES, ROUND_HALF_EVEN), currency)
    if currency != current.currency:
        return current
    value = current.unit_cost * units_on_books + unit_cost * quantity
    return AverageCost(
        (value / (units_on_books + quantity)).quantize(COST_PLACES, ROUND_HALF_EVEN), currency
    )
