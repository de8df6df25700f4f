"""Inventory use cases: load → decide → save. They return ids, not aggregates.

Grouped by what they are about (`reservations`, `stock_operations`, `purchasing`, `catalogue`,
`queries`), each group a class on the shared `core`; `InventoryApplication` is all of them.
"""

from services.inventory.application.catalogue import Catalogue
from services.inventory.application.core import (
    CountRecorded,
    StockLevel,
    StockView,
    UnknownPurchaseOrder,
    UnknownStock,
    keyed,
    utc_today,
)
from services.inventory.application.purchasing import Purchasing
from services.inventory.application.queries import StockQueries
from services.inventory.application.reservations import Reservations
from services.inventory.application.stock_operations import StockOperations


class InventoryApplication(Reservations, StockOperations, Purchasing, Catalogue, StockQueries):
    """Stock per SKU and location; reservations for paid orders that never oversell."""


__all__ = [
    "CountRecorded",
    "InventoryApplication",
    "StockLevel",
    "StockView",
    "UnknownPurchaseOrder",
    "UnknownStock",
    "keyed",
    "utc_today",
]
