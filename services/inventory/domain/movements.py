"""Why a figure is what it is: every event that changed on hand or reserved, with running totals.

Pure: no I/O. Read from the stock's own events (the aggregate's stream), oldest first; the last
running total of a location and condition is its figure now. Counts are listed too, though they
change nothing themselves: the adjustments that booked their variance follow them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.inventory.domain.state import NEW, SOLD_AS_THEIR_OWN
from services.inventory.domain.stock import SkuStock


@dataclass(frozen=True)
class Change:
    """What one event did to one location and condition."""

    kind: str
    location: str
    condition: str
    on_hand_delta: int
    reserved_delta: int
    reason: str
    actor: str | None = None
    note: str | None = None
    reference: str | None = None
    serials: tuple[str, ...] = ()


@dataclass(frozen=True)
class Movement:
    """One change of on hand or reserved at a location in a condition, and the figures after it."""

    at: datetime
    version: int
    """The stock's version that recorded it: with the stock's id, it names the published event."""
    kind: str
    location: str
    condition: str
    on_hand_delta: int
    reserved_delta: int
    on_hand: int
    reserved: int
    available: int
    reason: str
    actor: str | None
    """Who did it; None for what inventory decided itself (reservations for paid orders)."""
    note: str | None
    reference: str | None
    """The order, shipment, RMA, count or transfer it belongs to."""
    serials: tuple[str, ...]


def movements(events: Iterable[Any], location: str | None = None) -> list[Movement]:
    """The movements recorded by a stock's events, oldest first, at one location or at all."""
    totals: dict[tuple[str, str], tuple[int, int]] = {}
    rows = []
    for event in events:
        for change in changes(event):
            key = (change.location, change.condition)
            on_hand, reserved = totals.get(key, (0, 0))
            on_hand += change.on_hand_delta
            reserved += change.reserved_delta
            totals[key] = (on_hand, reserved)
            if location is not None and change.location != location:
                continue
            if change.condition == NEW:
                available = on_hand - reserved
            else:
                available = on_hand if change.condition in SOLD_AS_THEIR_OWN else 0
            rows.append(
                Movement(
                    at=event.timestamp,
                    version=event.originator_version,
                    kind=change.kind,
                    location=change.location,
                    condition=change.condition,
                    on_hand_delta=change.on_hand_delta,
                    reserved_delta=change.reserved_delta,
                    on_hand=on_hand,
                    reserved=reserved,
                    available=available,
                    reason=change.reason,
                    actor=change.actor,
                    note=change.note,
                    reference=change.reference,
                    serials=tuple(change.serials),
                )
            )
    return rows


def changes(event: Any) -> list[Change]:
    """What a stock event did to on hand and reserved; nothing for the events that change neither."""
    if isinstance(event, SkuStock.FirstReceived | SkuStock.Received):
        r = event.receipt
        return [
            Change(
                "received",
                r.location,
                NEW,
                r.quantity,
                0,
                r.reason,
                actor=r.actor,
                reference=r.reference,
                serials=r.serials,
            )
        ]
    if isinstance(event, SkuStock.Reserved | SkuStock.BackorderReserved):
        why = "reserved" if isinstance(event, SkuStock.Reserved) else "backorder reserved"
        return [
            Change(
                "reserved",
                event.location,
                NEW,
                0,
                event.quantity,
                why,
                reference=f"order {event.order_id} line {event.line_number}",
            )
        ]
    if isinstance(event, SkuStock.ReservationReleased):
        return [
            Change(
                "released",
                event.location,
                NEW,
                0,
                -event.quantity,
                "reservation released",
                reference=f"order {event.order_id} line {event.line_number}",
            )
        ]
    if isinstance(event, SkuStock.Shipped):
        return [
            Change(
                "shipped",
                event.location,
                NEW,
                -event.quantity,
                -event.quantity,
                "shipped",
                reference=f"order {event.order_id} shipment {event.shipment_id}",
                serials=event.serials,
            )
        ]
    if isinstance(event, SkuStock.UnitReturned):
        return [
            Change(
                "returned",
                event.location,
                event.condition,
                1,
                0,
                "returned",
                reference=f"RMA {event.rma_id}",
                serials=_one(event.serial),
            )
        ]
    if isinstance(event, SkuStock.UnitConditionChanged):
        return [
            Change(
                "condition-changed",
                event.location,
                condition,
                delta,
                0,
                event.reason,
                actor=event.actor,
                note=note,
                reference=f"RMA {event.rma_id}",
                serials=_one(event.serial),
            )
            for condition, delta, note in (
                (event.from_condition, -1, f"to {event.to_condition}"),
                (event.to_condition, 1, f"from {event.from_condition}"),
            )
        ]
    if isinstance(event, SkuStock.Adjusted):
        return [
            Change(
                "adjusted",
                event.location,
                NEW,
                event.quantity_delta,
                0,
                event.reason_code,
                actor=event.actor,
                note=event.note,
                reference=event.reference,
                serials=event.serials,
            )
        ]
    if isinstance(event, SkuStock.Counted):
        return [
            Change(
                "counted",
                event.location,
                NEW,
                0,
                0,
                "cycle-count",
                actor=event.actor,
                note=f"{event.expected} expected, {event.counted} counted, "
                f"variance {event.variance:+d}",
                reference=str(event.count_id),
            )
        ]
    if isinstance(event, SkuStock.TransferredOut):
        return [
            Change(
                "transferred-out",
                event.from_location,
                NEW,
                -event.quantity,
                0,
                event.reason or "transfer",
                actor=event.actor,
                note=f"to {event.to_location}",
                reference=str(event.transfer_id),
                serials=event.serials,
            )
        ]
    if isinstance(event, SkuStock.TransferredIn):
        return [
            Change(
                "transferred-in",
                event.to_location,
                NEW,
                event.quantity,
                0,
                "transfer received",
                actor=event.actor,
                note=f"from {event.from_location}",
                reference=str(event.transfer_id),
                serials=event.serials,
            )
        ]
    return []


def _one(serial: str | None) -> tuple[str, ...]:
    return () if serial is None else (serial,)
