"""What inventory answers about a SKU's stock: levels, positions, movements, backorders, returned
units."""

from __future__ import annotations

from typing import Any

from services.inventory.application.core import (
    InventoryCore,
    StockLevel,
    StockView,
)
from services.inventory.domain import (
    Backorder,
    Movement,
    movements,
    stock_id_for,
)


class StockQueries(InventoryCore):
    """Reading a SKU's stock."""

    def returned_unit_grades(self, sku: str) -> list[dict[str, Any]]:
        """Every returned unit of a SKU with its grade, failed checks and inspector."""
        return self.read(
            "SELECT rma_id, serial, grade, failed_checks, inspector, override_reason"
            " FROM returned_unit_grades WHERE sku = %s ORDER BY serial NULLS LAST, rma_id",
            sku,
        )

    def get_stock_levels(self, sku: str) -> list[StockLevel]:
        """Units on hand, reserved and available per location (empty for an unknown SKU)."""
        stock = self._stock(sku)
        if stock is None:
            return []
        return [
            StockLevel(
                location=location,
                on_hand=stock.on_hand_at(location),
                reserved=stock.reserved_at(location),
                available=stock.available_at(location),
                serials_in_stock=len(stock.serials_at(location)),
                held=stock.held_in(location),
            )
            for location in stock.locations
        ]

    def get_stock_view(self, sku: str) -> StockView | None:
        """Per location and condition, in transit and reorder points; None for an unknown SKU."""
        stock = self._stock(sku)
        if stock is None:
            return None
        return StockView(
            positions=stock.positions(),
            in_transit=sorted(
                stock.in_transit.values(), key=lambda m: (m.from_location, str(m.transfer_id))
            ),
            policies=dict(sorted(stock.policies.items())),
            low_stock=dict(sorted(stock.low_stock.items())),
            available_to_sell=[stock.published[channel] for channel in sorted(stock.published)],
            inbound=sorted(
                stock.inbound.values(), key=lambda line: (line.location, line.purchase_order_id)
            ),
        )

    def known_skus(self) -> list[str]:
        """The SKUs the PIM registered, as inventory heard (a query)."""
        return [row["sku"] for row in self.read("SELECT sku FROM product_facts ORDER BY sku")]

    def get_movements(self, sku: str, location: str | None = None) -> list[Movement] | None:
        """Every change of on hand or reserved, oldest first, with running totals, from the
        stock's own events; None for an unknown SKU."""
        events = list(self.repository.event_store.get(stock_id_for(sku)))
        if not events:
            return None
        return movements(events, location)

    def get_backorders(self, sku: str) -> list[Backorder]:
        """Units of the SKU owed to order lines, oldest first."""
        stock = self._stock(sku)
        return [] if stock is None else list(stock.backorders)
