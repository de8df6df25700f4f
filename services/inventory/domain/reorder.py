"""Reorder points: when what a location has and has on order falls to its point, suggest a
purchase order, once.

Pure: no I/O. A mixin of `SkuStock`. A location's policy names its reorder point, the quantity to
order and the supplier's lead time. Whenever the stock is saved, each location with a policy is
checked against its position: available plus inbound on confirmed purchase orders (units already
ordered must not be suggested again). At or below its point, `LowStockDetected` suggests a
purchase order, once; it is not raised again until the position has risen above the point
(`LowStockResolved`, e.g. when a purchase order is confirmed) and fallen again.
"""

from __future__ import annotations

from datetime import date, timedelta

from services.inventory.domain.holdings import PurchaseSuggestion, ReorderPolicy
from services.inventory.domain.state import StockState
from services.runtime.aggregate import Aggregate, DomainError


def suggest(policy: ReorderPolicy, position: int, today: date) -> PurchaseSuggestion:
    """Order the reorder quantity, or enough to get back above the point if that is more."""
    enough = policy.reorder_point - position + 1
    return PurchaseSuggestion(
        quantity=max(policy.reorder_quantity, enough),
        expected_by=today + timedelta(days=policy.lead_time_days),
    )


def check_policy(policy: ReorderPolicy) -> None:
    if policy.reorder_point < 0:
        raise DomainError("a reorder point cannot be negative")
    if policy.reorder_quantity < 1:
        raise DomainError("a reorder quantity is at least one unit")
    if policy.lead_time_days < 0:
        raise DomainError("a lead time cannot be negative")


class ReorderPoints(StockState):
    """Mixin of `SkuStock`: reorder policies per location, and the low-stock alerts they raise."""

    class FirstReorderPolicySet(Aggregate.Created):
        """A reorder policy for a SKU that has no stock yet."""

        sku: str
        location: str
        policy: ReorderPolicy
        actor: str | None

        def apply(self, stock: ReorderPoints) -> None:
            stock.start(self.sku)
            stock.policies[self.location] = self.policy

    class ReorderPolicySet(Aggregate.Event):
        sku: str
        location: str
        policy: ReorderPolicy
        actor: str | None

        def apply(self, stock: ReorderPoints) -> None:
            stock.policies[self.location] = self.policy

    class LowStockDetected(Aggregate.Event):
        """Available plus inbound at a location fell to or below its reorder point: a purchase
        order is due."""

        sku: str
        location: str
        available: int
        reorder_point: int
        suggestion: PurchaseSuggestion
        inbound: int = 0  # recorded since inbound counts; earlier alerts had none

        def apply(self, stock: ReorderPoints) -> None:
            stock.low_stock[self.location] = self.suggestion

    class LowStockResolved(Aggregate.Event):
        """Available plus inbound at a location rose above its reorder point again."""

        sku: str
        location: str
        available: int
        reorder_point: int
        inbound: int = 0

        def apply(self, stock: ReorderPoints) -> None:
            del stock.low_stock[self.location]

    def set_reorder_policy(
        self, *, location: str, policy: ReorderPolicy, actor: str | None = None
    ) -> None:
        """Set (or change) a location's reorder policy; the same policy again changes nothing."""
        check_policy(policy)
        if self.policies.get(location) == policy:
            return
        self.trigger_event(
            self.ReorderPolicySet, sku=self.sku, location=location, policy=policy, actor=actor
        )

    def detect_low_stock(self, today: date) -> None:
        """Alert once per fall of the position (available plus inbound) to or below a location's
        reorder point; clear the alert when it is above the point again, so that a later fall
        alerts again."""
        for location, policy in sorted(self.policies.items()):
            available, inbound = self.available_at(location), self.inbound_at(location)
            position = available + inbound
            if position <= policy.reorder_point and location not in self.low_stock:
                self.trigger_event(
                    self.LowStockDetected,
                    sku=self.sku,
                    location=location,
                    available=available,
                    inbound=inbound,
                    reorder_point=policy.reorder_point,
                    suggestion=suggest(policy, position, today),
                )
            elif position > policy.reorder_point and location in self.low_stock:
                self.trigger_event(
                    self.LowStockResolved,
                    sku=self.sku,
                    location=location,
                    available=available,
                    inbound=inbound,
                    reorder_point=policy.reorder_point,
                )
