"""Events the `inventory` service publishes on `inventory.events.v1`, and the `StockMovement` of
its finance feed on `inventory.movements.v1`.

Stock events are keyed by the stock of one SKU (all its locations); reservation decisions are keyed
by the reservation of one order; transfers by the transfer; purchase order events by the purchase
order.

One module per kind of aggregate the events are keyed by; everything is importable from here.
"""

from contracts.inventory.common import (
    PurchaseOrderId,
    StockCondition,
    UnitCost,
)
from contracts.inventory.movements import (
    ExtendedValue,
    MovementType,
    StockMovement,
)
from contracts.inventory.purchasing import (
    AdvanceShippingNoticeRecorded,
    CancelledUnits,
    DeliveredUnits,
    PurchaseOrderCancelled,
    PurchaseOrderChange,
    PurchaseOrderConfirmed,
    PurchaseOrderLine,
    PurchaseOrderRaised,
    PurchaseOrderReceiptRejected,
    PurchaseOrderReceived,
)
from contracts.inventory.reservations import (
    BackorderFilled,
    ReservationDecision,
    ReservationLine,
    ReservationReleased,
    ReservedComponent,
    SerialCheckFailed,
    SerialCheckPassed,
    SerialCheckVerdict,
    StockReserved,
    StockShortage,
)
from contracts.inventory.stock import (
    AdjustmentReason,
    AvailableToSellChanged,
    BackorderChange,
    BundleAvailableToSellChanged,
    LowStockDetected,
    LowStockResolved,
    ReorderPolicySet,
    StockAdjusted,
    StockCounted,
    StockInboundChanged,
    StockItemBackordered,
    StockItemBackorderReserved,
    StockItemBackorderWithdrawn,
    StockItemReservationReleased,
    StockItemReserved,
    StockReceived,
    StockSerialPacked,
    StockShipped,
    StockTransferredIn,
    StockTransferredOut,
    StockUnitConditionChanged,
    StockUnitReturned,
    SuggestedPurchaseOrder,
)
from contracts.inventory.transfers import (
    TransferDispatched,
    TransferReceived,
)

__all__ = [
    "AdjustmentReason",
    "AdvanceShippingNoticeRecorded",
    "AvailableToSellChanged",
    "BackorderChange",
    "BackorderFilled",
    "BundleAvailableToSellChanged",
    "CancelledUnits",
    "DeliveredUnits",
    "ExtendedValue",
    "LowStockDetected",
    "LowStockResolved",
    "MovementType",
    "PurchaseOrderCancelled",
    "PurchaseOrderChange",
    "PurchaseOrderConfirmed",
    "PurchaseOrderId",
    "PurchaseOrderLine",
    "PurchaseOrderRaised",
    "PurchaseOrderReceiptRejected",
    "PurchaseOrderReceived",
    "ReorderPolicySet",
    "ReservationDecision",
    "ReservationLine",
    "ReservationReleased",
    "ReservedComponent",
    "SerialCheckFailed",
    "SerialCheckPassed",
    "SerialCheckVerdict",
    "StockAdjusted",
    "StockCondition",
    "StockCounted",
    "StockInboundChanged",
    "StockItemBackorderReserved",
    "StockItemBackorderWithdrawn",
    "StockItemBackordered",
    "StockItemReservationReleased",
    "StockItemReserved",
    "StockMovement",
    "StockReceived",
    "StockReserved",
    "StockSerialPacked",
    "StockShipped",
    "StockShortage",
    "StockTransferredIn",
    "StockTransferredOut",
    "StockUnitConditionChanged",
    "StockUnitReturned",
    "SuggestedPurchaseOrder",
    "TransferDispatched",
    "TransferReceived",
    "UnitCost",
]
