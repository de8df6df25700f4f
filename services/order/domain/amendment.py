"""A channel's re-sent order against the order as recorded: what differs, and until when each
difference may still be applied. Pure.

A connector sends the same order again (with the same channel and channel order id) to report the
payment or a cancellation, and sometimes with changed content: a customer who corrected the address
or the quantity. Nothing of it may be silently dropped, and nothing may change once the facts it
decided are in motion:

- the lines, the currency, the fraud score and the destination country decide, at payment, what
  inventory reserves and where, the fraud and market rules and the signature rule; inventory
  decides a paid order's reservation once (a changed line would need its reservation released and
  made again), so they may change only before payment, as may when the order was placed;
- the rest of the address, the customer and the delivery promise (service level or date) may
  change until the order is released to a warehouse, whose shipment request carries them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from services.order.domain.values import Address, Customer, OrderLine


@dataclass(frozen=True)
class OrderContent:
    """What a channel says of an order: everything a re-send repeats, or changes."""

    placed_at: datetime
    customer: Customer
    shipping_address: Address
    lines: tuple[OrderLine, ...]
    currency: str
    fraud_score: float
    service_level: str = "standard"
    """How fast the customer asked for it: `standard`, `express` or `next-day`."""
    deliver_by: date | None = None
    """A delivery date promised to the customer, which then decides over the service level."""

    @classmethod
    def of(cls, source: Any) -> OrderContent:
        """The content of anything that has these attributes (an order, an intake, an event)."""
        return cls(**{name: getattr(source, name) for name in CONTENT_FIELDS})

    def values(self) -> dict[str, Any]:
        """Field name → value (the values themselves, not copies as dicts)."""
        return {name: getattr(self, name) for name in CONTENT_FIELDS}


CONTENT_FIELDS = (
    "placed_at",
    "customer",
    "shipping_address",
    "lines",
    "currency",
    "fraud_score",
    "service_level",
    "deliver_by",
)


@dataclass(frozen=True)
class Change:
    """One difference between the order as recorded and as re-sent."""

    field: str
    """`placed_at`, `currency`, `fraud_score`, `service_level`, `deliver_by`, `customer.<name>`,
    `shipping_address.<name>`, `lines[<n>].<sku|quantity|unit_price>`, or `lines[<n>]` for a line
    added or removed (lines are numbered from 1, in the order the channel sends them)."""
    recorded: str
    """The value on the order (`(none)` for a line the order does not have)."""
    received: str
    """The value in the re-sent order (`(none)` for a line it no longer has)."""

    def __str__(self) -> str:
        return f"{self.field} {self.recorded!r} → {self.received!r}"


class ChangeableUntil(enum.StrEnum):
    """Until when a difference may be applied to the order."""

    PAYMENT = "may change only before payment"
    RELEASE = "may change only before release to the warehouse"


ABSENT = "(none)"


def _text(value: Any) -> str:
    if value is None:
        return ABSENT
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return format(value, "g")
    if isinstance(value, date):  # a datetime is a date too
        return value.isoformat()
    return str(value)


def _line_text(line: OrderLine | None) -> str:
    if line is None:
        return ABSENT
    return f"{line.quantity} x {line.sku} at {_text(line.unit_price)}"


def _field_changes(prefix: str, recorded: Any, received: Any) -> list[Change]:
    return [
        Change(f"{prefix}.{field.name}", _text(before), _text(after))
        for field in fields(recorded)
        if (before := getattr(recorded, field.name)) != (after := getattr(received, field.name))
    ]


def changes_between(recorded: OrderContent, received: OrderContent) -> tuple[Change, ...]:
    """Every difference, in a stable order (empty: the re-send repeats the order exactly).

    Values are compared as values: `1199.0` and `1199.00` are one price, and one instant in two
    time zones is one moment.
    """
    changes: list[Change] = []
    if recorded.placed_at != received.placed_at:
        changes.append(Change("placed_at", _text(recorded.placed_at), _text(received.placed_at)))
    changes += _field_changes("customer", recorded.customer, received.customer)
    changes += _field_changes(
        "shipping_address", recorded.shipping_address, received.shipping_address
    )
    for name in ("currency", "fraud_score", "service_level", "deliver_by"):
        before, after = getattr(recorded, name), getattr(received, name)
        if before != after:
            changes.append(Change(name, _text(before), _text(after)))
    old = {line.line_number: line for line in recorded.lines}
    new = {line.line_number: line for line in received.lines}
    for number in sorted(old.keys() | new.keys()):
        before_line, after_line = old.get(number), new.get(number)
        if before_line is None or after_line is None:
            changes.append(
                Change(f"lines[{number}]", _line_text(before_line), _line_text(after_line))
            )
        else:
            changes += [
                Change(
                    f"lines[{number}].{change.field.split('.', 1)[1]}",
                    change.recorded,
                    change.received,
                )
                for change in _field_changes("line", before_line, after_line)
                if change.field != "line.line_number"
            ]
    return tuple(changes)


def changeable_until(change: Change) -> ChangeableUntil:
    """Until when this difference may still be applied (see the module's rules)."""
    if change.field.startswith("lines[") or change.field in (
        "placed_at",
        "currency",
        "fraud_score",
        "shipping_address.country",
    ):
        return ChangeableUntil.PAYMENT
    return ChangeableUntil.RELEASE
