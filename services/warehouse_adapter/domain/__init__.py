"""The warehouse adapter's domain: fulfilments at 3PL warehouses, and returns received at their
docks. Pure: no I/O."""

from services.warehouse_adapter.domain.fulfilment import (
    Destination,
    Fulfilment,
    FulfilmentLine,
    FulfilmentStatus,
    PackedUnit,
)
from services.warehouse_adapter.domain.return_receipt import ReturnReceipt, return_receipt_id_for

__all__ = [
    "Destination",
    "Fulfilment",
    "FulfilmentLine",
    "FulfilmentStatus",
    "PackedUnit",
    "ReturnReceipt",
    "return_receipt_id_for",
]
