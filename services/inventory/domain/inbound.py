"""Inbound: units on confirmed purchase orders, due at their destinations.

Pure: no I/O. A mixin of `SkuStock`. A purchase order (`purchasing.py`) tells the stock of each of
its SKUs how many units are still due at its destination whenever that changes (confirmed,
received, cancelled), in the same save; the stock view shows their sum per location as inbound.
"""

from __future__ import annotations

from services.inventory.domain.holdings import InboundLine
from services.inventory.domain.state import StockState
from services.runtime.aggregate import Aggregate, DomainError


class StockInbound(StockState):
    """Mixin of `SkuStock`: units on confirmed purchase orders, due at their destinations."""

    class FirstInboundExpected(Aggregate.Created):
        """A confirmed purchase order expects units of a SKU that has no stock yet."""

        sku: str
        purchase_order_id: str
        location: str
        quantity: int
        location_inbound: int

        def apply(self, stock: StockInbound) -> None:
            stock.start(self.sku)
            stock.inbound[self.purchase_order_id] = InboundLine(
                self.purchase_order_id, self.location, self.quantity
            )

    class InboundChanged(Aggregate.Event):
        """Units still due on a purchase order changed: it was confirmed, received or cancelled."""

        sku: str
        purchase_order_id: str
        location: str
        quantity: int
        """Units still due on the order; 0: none any more."""
        location_inbound: int
        """Units due at the location on every purchase order, after the change."""

        def apply(self, stock: StockInbound) -> None:
            if self.quantity:
                stock.inbound[self.purchase_order_id] = InboundLine(
                    self.purchase_order_id, self.location, self.quantity
                )
            else:
                stock.inbound.pop(self.purchase_order_id, None)

    def expect_inbound(self, *, purchase_order_id: str, location: str, quantity: int) -> None:
        """Units of the SKU still due on a purchase order at a location (0: none); the same
        figure again changes nothing."""
        if quantity < 0:
            raise DomainError("inbound units cannot be negative")
        current = self.inbound.get(purchase_order_id)
        if (current.quantity if current is not None else 0) == quantity:
            return
        others = self.inbound_at(location) - (current.quantity if current is not None else 0)
        self.trigger_event(
            self.InboundChanged,
            sku=self.sku,
            purchase_order_id=purchase_order_id,
            location=location,
            quantity=quantity,
            location_inbound=others + quantity,
        )
