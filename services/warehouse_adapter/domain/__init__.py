"""The warehouse adapter's domain: fulfilments at 3PL warehouses, returns received at their docks,
goods from suppliers expected and received there, transfers between them, and what the 3PLs find
on their shelves. Pure: no I/O."""

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
from services.warehouse_adapter.domain.stock_reports import (
    CycleCount,
    Damage,
    ShelfReport,
    Transfer,
    TransferArrival,
    shelf_report_id_for,
    warehouse_transfer_id_for,
)

__all__ = [
    "CycleCount",
    "Damage",
    "Destination",
    "Fulfilment",
    "FulfilmentLine",
    "FulfilmentStatus",
    "Inbound",
    "InboundLine",
    "InboundReceipt",
    "PackedUnit",
    "ReturnReceipt",
    "ShelfReport",
    "Transfer",
    "TransferArrival",
    "inbound_id_for",
    "inbound_receipt_id_for",
    "return_receipt_id_for",
    "shelf_report_id_for",
    "warehouse_transfer_id_for",
]
