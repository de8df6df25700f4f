"""Transfers of units between two locations: dispatched at one, in transit, received at the other.

Pure: no I/O. Two aggregates take part, saved together, as a reservation does with the stock:
- `StockTransfer` (one per transfer): its lifecycle, dispatched → received, and what arrived;
- `SkuStock`, through the `StockTransfers` mixin: the units leave on hand at the origin when
  dispatched (no longer available there) and are on hand at the destination when received.
A short receipt books what was dispatched into the destination and writes the shortfall off as an
adjustment with the reason `loss`, naming the serials that did not arrive.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Self

from services.inventory.domain.adjustments import StockAdjustments
from services.inventory.domain.holdings import InTransit
from services.runtime.aggregate import Aggregate, Conflict, DomainError

LOSS = "loss"


@dataclass(frozen=True)
class TransferArrival:
    """What arrived of a transfer at its destination."""

    quantity_received: int
    serials_received: tuple[str, ...]
    serials_missing: tuple[str, ...]
    shortfall: int


def arrival_of(
    moving: InTransit, quantity_received: int | None, serials_received: Sequence[str] | None
) -> TransferArrival:
    """What arrived: everything unless told otherwise; never more than was dispatched, and only
    serials that travelled with the transfer."""
    if serials_received is not None and moving.serials:
        received = tuple(serials_received)
        strangers = sorted(set(received) - set(moving.serials))
        if strangers:
            raise DomainError(
                f"serials not on transfer {moving.transfer_id}: {', '.join(strangers)}"
            )
        if len(set(received)) != len(received):
            raise DomainError("a serial was received twice")
        if quantity_received is not None and quantity_received != len(received):
            raise DomainError(
                f"{quantity_received} units received but {len(received)} serials named"
            )
        missing = tuple(serial for serial in moving.serials if serial not in received)
        return TransferArrival(len(received), received, missing, len(missing))
    if serials_received:
        raise DomainError(f"transfer {moving.transfer_id} carried no serials")
    quantity = moving.quantity if quantity_received is None else quantity_received
    if not 0 <= quantity <= moving.quantity:
        raise DomainError(
            f"transfer {moving.transfer_id} carried {moving.quantity} units; "
            f"{quantity} cannot have arrived"
        )
    if moving.serials and quantity == 0:
        return TransferArrival(0, (), moving.serials, moving.quantity)
    if moving.serials and quantity != moving.quantity:
        raise DomainError("a short receipt of serialized units names the serials that arrived")
    return TransferArrival(quantity, moving.serials, (), moving.quantity - quantity)


class StockTransfers(StockAdjustments):
    """Mixin of `SkuStock`: units leave one location and arrive at another."""

    class TransferredOut(Aggregate.Event):
        """Units left a location for another: on hand at neither until received."""

        sku: str
        transfer_id: uuid.UUID
        from_location: str
        to_location: str
        quantity: int
        serials: tuple[str, ...]
        actor: str
        reason: str | None
        unit_cost: Decimal | None = None
        """The average cost of one unit at dispatch; None: unknown."""
        currency: str | None = None

        def apply(self, stock: StockTransfers) -> None:
            stock.on_hand[self.from_location] -= self.quantity
            for serial in self.serials:
                del stock.serials[serial]
            stock.in_transit[str(self.transfer_id)] = InTransit(
                self.transfer_id,
                self.from_location,
                self.to_location,
                self.quantity,
                tuple(self.serials),
                self.unit_cost,
                self.currency,
            )

    class TransferredIn(Aggregate.Event):
        """The units of a transfer were booked in at its destination."""

        sku: str
        transfer_id: uuid.UUID
        from_location: str
        to_location: str
        quantity: int
        serials: tuple[str, ...]
        actor: str
        unit_cost: Decimal | None = None
        """The cost the units were dispatched at; None: unknown."""
        currency: str | None = None

        def apply(self, stock: StockTransfers) -> None:
            del stock.in_transit[str(self.transfer_id)]
            stock.on_hand[self.to_location] = stock.on_hand.get(self.to_location, 0) + self.quantity
            for serial in self.serials:
                stock.serials[serial] = self.to_location

    def dispatch_transfer(
        self,
        *,
        transfer_id: uuid.UUID,
        from_location: str,
        to_location: str,
        quantity: int,
        actor: str,
        serials: Sequence[str] = (),
        reason: str | None = None,
    ) -> None:
        """Send available units (never reserved ones) from one location to another."""
        if from_location == to_location:
            raise DomainError(f"a transfer goes to another location than {from_location}")
        if quantity < 1:
            raise DomainError("a transfer moves at least one unit")
        if not actor.strip():
            raise DomainError("every transfer needs an actor")
        if str(transfer_id) in self.in_transit:
            raise Conflict(f"transfer {transfer_id} is already in transit")
        available = self.available_at(from_location)
        if quantity > available:
            raise DomainError(
                f"{self.sku} at {from_location}: {quantity} to transfer, {available} available"
            )
        self.check_unit_serials(from_location, -quantity, list(serials), "a transfer")
        booked = self.cost_now()
        self.trigger_event(
            self.TransferredOut,
            sku=self.sku,
            transfer_id=transfer_id,
            from_location=from_location,
            to_location=to_location,
            quantity=quantity,
            serials=tuple(serials),
            actor=actor,
            reason=reason,
            unit_cost=booked.unit_cost,
            currency=booked.currency,
        )

    def receive_transfer(
        self, *, transfer_id: uuid.UUID, arrival: TransferArrival, actor: str
    ) -> None:
        """Book a transfer's units in at its destination; a shortfall is written off as lost."""
        moving = self.in_transit.get(str(transfer_id))
        if moving is None:
            raise DomainError(f"transfer {transfer_id} of {self.sku} is not in transit")
        if not actor.strip():
            raise DomainError("every transfer receipt needs an actor")
        self.trigger_event(
            self.TransferredIn,
            sku=self.sku,
            transfer_id=transfer_id,
            from_location=moving.from_location,
            to_location=moving.to_location,
            quantity=moving.quantity,
            serials=moving.serials,
            actor=actor,
            unit_cost=moving.unit_cost,
            currency=moving.currency,
        )
        if arrival.shortfall:
            self.record_adjustment(
                location=moving.to_location,
                quantity_delta=-arrival.shortfall,
                reason_code=LOSS,
                actor=actor,
                note=(
                    f"short on receipt of transfer {transfer_id} from {moving.from_location}: "
                    f"{arrival.quantity_received} of {moving.quantity} arrived"
                ),
                serials=arrival.serials_missing,
                reference=str(transfer_id),
                by_serial=bool(arrival.serials_missing),
            )


class StockTransfer(Aggregate):
    """One transfer of units of a SKU between two locations: dispatched, then received once."""

    class Dispatched(Aggregate.Created):
        sku: str
        from_location: str
        to_location: str
        quantity: int
        serials: tuple[str, ...]
        actor: str
        reason: str | None

        def apply(self, transfer: StockTransfer) -> None:
            transfer.sku = self.sku
            transfer.moving = InTransit(
                transfer.id,
                self.from_location,
                self.to_location,
                self.quantity,
                tuple(self.serials),
            )
            transfer.dispatched_by = self.actor
            transfer.reason = self.reason
            transfer.arrival = None
            transfer.received_by = None

    class Received(Aggregate.Event):
        sku: str
        quantity_received: int
        serials_received: tuple[str, ...]
        serials_missing: tuple[str, ...]
        shortfall: int
        actor: str

        def apply(self, transfer: StockTransfer) -> None:
            transfer.arrival = TransferArrival(
                self.quantity_received,
                tuple(self.serials_received),
                tuple(self.serials_missing),
                self.shortfall,
            )
            transfer.received_by = self.actor

    if TYPE_CHECKING:
        sku: str
        moving: InTransit
        dispatched_by: str
        reason: str | None
        arrival: TransferArrival | None
        """What arrived; None while in transit."""
        received_by: str | None

    @classmethod
    def dispatch(
        cls,
        *,
        transfer_id: uuid.UUID,
        sku: str,
        from_location: str,
        to_location: str,
        quantity: int,
        serials: Sequence[str],
        actor: str,
        reason: str | None,
    ) -> Self:
        return cls._create(
            cls.Dispatched,
            id=transfer_id,
            sku=sku,
            from_location=from_location,
            to_location=to_location,
            quantity=quantity,
            serials=tuple(serials),
            actor=actor,
            reason=reason,
        )

    @property
    def status(self) -> str:
        return "in-transit" if self.arrival is None else "received"

    def receive(
        self,
        *,
        actor: str,
        quantity_received: int | None = None,
        serials_received: Sequence[str] | None = None,
    ) -> TransferArrival | None:
        """Record what arrived (everything unless told otherwise); None when it was received
        already (a repeated receipt changes nothing)."""
        if self.arrival is not None:
            return None
        if not actor.strip():
            raise DomainError("every transfer receipt needs an actor")
        arrival = arrival_of(self.moving, quantity_received, serials_received)
        self.trigger_event(
            self.Received,
            sku=self.sku,
            quantity_received=arrival.quantity_received,
            serials_received=arrival.serials_received,
            serials_missing=arrival.serials_missing,
            shortfall=arrival.shortfall,
            actor=actor,
        )
        return arrival
