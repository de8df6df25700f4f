"""Holds: an order stopped before release by a person, by the fraud and market rules, or while the
PIM has not registered SKUs of its lines; released by a person or by the SKUs' registration.

Pure: no I/O. A mixin of `Order`.
"""

from __future__ import annotations

from collections.abc import Collection

from services.order.domain.allocation import OrderAllocation
from services.order.domain.policy import FulfilmentPolicy
from services.order.domain.values import OrderStatus
from services.runtime.aggregate import Aggregate, Conflict, DomainError


class OrderHolds(OrderAllocation):
    """Mixin of `Order`: holds and their release; a release sends what is allocated."""

    class Held(Aggregate.Event):
        reason: str
        actor: str

        def apply(self, order: OrderHolds) -> None:
            order.hold_reason = self.reason

    class HoldReleased(Aggregate.Event):
        actor: str
        note: str

        def apply(self, order: OrderHolds) -> None:
            order.hold_reason = None
            order.unknown_skus = ()  # a person released the order as it is

    class HeldForUnknownSkus(Aggregate.Event):
        """Lines for SKUs the PIM never registered: the order waits until it does."""

        skus: tuple[str, ...]
        reason: str
        """Everything that holds the order now, as shown and published."""

        def apply(self, order: OrderHolds) -> None:
            order.unknown_skus = self.skus

    class SkusRegistered(Aggregate.Event):
        """The PIM registered SKUs the order was waiting for."""

        skus: tuple[str, ...]
        still_held_because: str | None
        """What holds the order still (None: nothing, it goes on)."""

        def apply(self, order: OrderHolds) -> None:
            order.unknown_skus = tuple(sku for sku in order.unknown_skus if sku not in self.skus)

    def recognise_skus(self, registered: Collection[str], policy: FulfilmentPolicy) -> None:
        """The PIM registered these SKUs: the order stops waiting for them, and when nothing else
        holds it, what is allocated goes to the warehouse. SKUs it does not wait for change
        nothing."""
        known = tuple(sku for sku in self.unknown_skus if sku in registered)
        if not known or self.status is OrderStatus.CANCELLED:
            return
        remaining = [sku for sku in self.unknown_skus if sku not in known]
        self.trigger_event(
            self.SkusRegistered, skus=known, still_held_because=self._reasons_with(remaining)
        )
        self._release_to_warehouse(policy)

    def hold(self, *, reason: str, actor: str) -> None:
        """Stop the order from going further (no release, no label) until the hold is released."""
        self._check_open("put on hold")
        if self.hold_reason is not None:
            raise Conflict(f"order {self.id} is already on hold: {self.holding_reasons}")
        if not reason.strip() or not actor.strip():
            raise DomainError("a hold needs a reason and an actor")
        self.trigger_event(self.Held, reason=reason, actor=actor)

    def release_hold(self, *, actor: str, note: str, policy: FulfilmentPolicy) -> None:
        """Lift every hold, also the wait for SKUs unknown to the PIM (a person decides that the
        lines ship as they are, e.g. a gift card the PIM does not know); an order already allocated
        goes to the warehouse now."""
        self._check_open("released from hold")
        if not self.on_hold:
            raise Conflict(f"order {self.id} is not on hold")
        if not actor.strip():
            raise DomainError("releasing a hold needs an actor")
        self.trigger_event(self.HoldReleased, actor=actor, note=note)
        self._release_to_warehouse(policy)
