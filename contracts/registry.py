"""Lookup of payload models by (event type, schema version)."""

from __future__ import annotations

from typing import Any

from contracts import inventory, order, pim, returns, shipping, warehouse
from contracts.base import IntegrationEvent

PRODUCER_OF_MODULE: dict[str, str] = {
    order.__name__: "order",
    inventory.__name__: "inventory",
    warehouse.__name__: "warehouse_adapter",
    shipping.__name__: "shipping",
    returns.__name__: "returns",
    pim.__name__: "pim",
}
"""Which service publishes the events of each contracts module (one module, or package, per
producer)."""


def producer_of(model: type[IntegrationEvent]) -> str | None:
    """The service that publishes `model` events; None for a model of no producer's module."""
    package = ".".join(model.__module__.split(".")[:2])
    return PRODUCER_OF_MODULE.get(package)


EVENT_MODELS: tuple[type[IntegrationEvent], ...] = (
    order.OrderPlaced,
    order.OrderPaid,
    order.OrderAllocated,
    order.OrderBackordered,
    order.OrderBackorderAllocated,
    order.OrderHeld,
    order.OrderHoldReleased,
    order.OrderReleasedToWarehouse,
    order.OrderCancelled,
    order.OrderShipmentDispatched,
    order.OrderShipmentInTransit,
    order.OrderShipmentDelivered,
    order.OrderDelivered,
    order.OrderDeliveryException,
    order.OrderAmended,
    order.OrderAmendmentRefused,
    order.CustomerForgotten,
    inventory.StockReceived,
    inventory.StockItemReserved,
    inventory.StockItemReservationReleased,
    inventory.StockReserved,
    inventory.StockShortage,
    inventory.StockItemBackordered,
    inventory.StockItemBackorderReserved,
    inventory.StockItemBackorderWithdrawn,
    inventory.BackorderFilled,
    inventory.ReservationReleased,
    inventory.SerialCheckPassed,
    inventory.SerialCheckFailed,
    inventory.StockSerialPacked,
    inventory.StockShipped,
    inventory.StockUnitReturned,
    inventory.StockUnitConditionChanged,
    inventory.AvailableToSellChanged,
    inventory.BundleAvailableToSellChanged,
    inventory.StockAdjusted,
    inventory.StockCounted,
    inventory.StockTransferredOut,
    inventory.StockTransferredIn,
    inventory.TransferDispatched,
    inventory.TransferReceived,
    inventory.ReorderPolicySet,
    inventory.LowStockDetected,
    inventory.LowStockResolved,
    inventory.StockInboundChanged,
    inventory.PurchaseOrderRaised,
    inventory.PurchaseOrderConfirmed,
    inventory.AdvanceShippingNoticeRecorded,
    inventory.PurchaseOrderReceived,
    inventory.PurchaseOrderReceiptRejected,
    inventory.PurchaseOrderCancelled,
    warehouse.FulfilmentRequested,
    warehouse.FulfilmentCancelled,
    warehouse.FulfilmentPicked,
    warehouse.UnitsScanned,
    warehouse.UnitSerialCaptured,
    warehouse.FulfilmentPacked,
    warehouse.PackScanRejected,
    warehouse.FulfilmentLabelled,
    warehouse.ShipmentConfirmed,
    pim.ProductRegistered,
    pim.ProductChanged,
    pim.ProductSpecified,
    pim.ProductCertified,
    pim.ProductCertificationWithdrawn,
    pim.VariantDisabled,
    pim.VariantEnabled,
    pim.ProductEndOfLife,
    pim.ProductDiscontinued,
    pim.CatalogueEntryChanged,
    pim.CatalogueEntryWithdrawn,
    pim.ParentProductDeclared,
    pim.ParentProductChanged,
    pim.ComplianceDocumentVersionPublished,
    shipping.ConsignmentPlanned,
    shipping.ConsignmentHeld,
    shipping.ConsignmentHoldReleased,
    shipping.ConsignmentFactsCompleted,
    shipping.LabelWithheld,
    shipping.LabelPurchased,
    shipping.ShipmentInTransit,
    shipping.ShipmentDelivered,
    shipping.ShipmentException,
    shipping.RateCardPublished,
    shipping.RateTableRecorded,
    shipping.ReturnLabelPurchased,
    warehouse.ReturnReceived,
    warehouse.InboundExpected,
    warehouse.InboundCancelled,
    warehouse.GoodsReceived,
    warehouse.GoodsReceiptRejected,
    warehouse.TransferRequested,
    warehouse.TransferArrived,
    warehouse.CycleCountReported,
    warehouse.DamageReported,
    returns.ReturnRequested,
    returns.ReturnAuthorised,
    returns.ReturnRejected,
    returns.ReturnReceiptRecorded,
    returns.RefundBlocked,
    returns.ReviewResolved,
    returns.ReturnInspected,
    returns.ReturnGraded,
    returns.ReturnDispositioned,
    returns.ReturnSignedOff,
    returns.RefundIssued,
)

_BY_KEY: dict[tuple[str, int], type[IntegrationEvent]] = {
    model.schema_key(): model for model in EVENT_MODELS
}
LATEST_VERSION: dict[str, int] = {}
"""The schema version each event type is published at now; older ones are only read."""
for _model in EVENT_MODELS:
    LATEST_VERSION[_model.event_type] = max(
        _model.schema_version, LATEST_VERSION.get(_model.event_type, 0)
    )


class UnknownEventType(LookupError):
    """No contract is known for an event type and schema version."""


def model_for(event_type: str, schema_version: int) -> type[IntegrationEvent]:
    """The payload model of an event type at a schema version."""
    try:
        return _BY_KEY[(event_type, schema_version)]
    except KeyError:
        raise UnknownEventType(f"no contract for {event_type} v{schema_version}") from None


def read_event(event_type: str, schema_version: int, payload: dict[str, Any]) -> IntegrationEvent:
    """Read an event's payload as the latest schema version of its type.

    A payload published at an older version is validated against that version's contract, then
    upcast one version at a time; fields a newer release of the same version added are ignored.
    """
    event = model_for(event_type, schema_version).model_validate(payload)
    while event.schema_version < LATEST_VERSION[event_type]:
        newer = event.upcast()
        if newer.schema_version <= event.schema_version:
            raise TypeError(f"{event_type} v{event.schema_version} does not upcast to a newer one")
        event = newer
    return event


def missing_upcasts() -> list[str]:
    """Older versions kept for reading that cannot be read as the latest: each must upcast."""
    return [
        f"{model.event_type} v{model.schema_version}: override `upcast` to return "
        f"v{model.schema_version + 1}"
        for model in EVENT_MODELS
        if model.schema_version < LATEST_VERSION[model.event_type]
        and model.upcast is IntegrationEvent.upcast
    ]
