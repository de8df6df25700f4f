"""The order's domain: the Order aggregate, its values and its configurable rules. Pure: no I/O."""

from services.order.domain.amendment import Change, ChangeableUntil, OrderContent, changes_between
from services.order.domain.markets import (
    DEFAULT_MARKET_COUNTRIES,
    CatalogueKnowledge,
    MarketMap,
    ineligible_lines,
)
from services.order.domain.order import Order
from services.order.domain.policy import FulfilmentPolicy
from services.order.domain.resends import ResendRefused
from services.order.domain.values import (
    ALLOCATED_STATES,
    DECIDED_STATES,
    SHIPPING_STATES,
    Address,
    Customer,
    Dispatch,
    KitComponent,
    LineAllocation,
    LineReservation,
    LocationQuantity,
    OrderLine,
    OrderStatus,
    ShipmentLine,
    ShipmentRequest,
    TrackingUpdate,
    shipment_id_for,
)

__all__ = [
    "ALLOCATED_STATES",
    "DECIDED_STATES",
    "DEFAULT_MARKET_COUNTRIES",
    "SHIPPING_STATES",
    "Address",
    "CatalogueKnowledge",
    "Change",
    "ChangeableUntil",
    "Customer",
    "Dispatch",
    "FulfilmentPolicy",
    "KitComponent",
    "LineAllocation",
    "LineReservation",
    "LocationQuantity",
    "MarketMap",
    "Order",
    "OrderContent",
    "OrderLine",
    "OrderStatus",
    "ResendRefused",
    "ShipmentLine",
    "ShipmentRequest",
    "TrackingUpdate",
    "changes_between",
    "ineligible_lines",
    "shipment_id_for",
]
