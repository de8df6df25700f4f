"""The warehouse adapter's domain: fulfilments at 3PL warehouses, returns received at their docks,
and goods from suppliers expected and received there. Pure: no I/O."""

from services.warehouse_adapter.domain.fulfilment import (
    Destination,
    Fulfilment,
    FulfilmentLine,
    FulfilmentStatus,
    PackedUnit,
)
from services.warehouse_adapter.domain.inbound import (
    Inbound,
    InboundLine,
    InboundReceipt,
    inbound_id_for,
    inbound_receipt_id_for,
)
from services.warehouse_adapter.domain.return_receipt import ReturnReceipt, return_receipt_id_for

__all__ = [
    "Destination",
    "Fulfilment",
    "FulfilmentLine",
    "FulfilmentStatus",
    "Inbound",
    "InboundLine",
    "InboundReceipt",
    "PackedUnit",
    "ReturnReceipt",
    "inbound_id_for",
    "inbound_receipt_id_for",
    "return_receipt_id_for",
]
