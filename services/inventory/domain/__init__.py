"""Inventory's domain: stock per SKU and location, reservations of paid orders, serial checks,
adjustments, counts, transfers, reorder points, and purchase orders with the units inbound on them.

Pure: no I/O. Overselling is prevented by the aggregates' versions: two decisions that read the same
stock cannot both be saved.
"""

from services.inventory.domain.adjustments import REASON_CODES, ReasonCode
from services.inventory.domain.availability import ChannelAvailability, SalesChannels
from services.inventory.domain.bundles import (
    BundleAvailability,
    bundle_availability_id_for,
    bundles_sellable,
)
from services.inventory.domain.holdings import (
    Backorder,
    InboundLine,
    InTransit,
    PurchaseSuggestion,
    ReorderPolicy,
    ReturnedUnit,
)
from services.inventory.domain.kits import KitBackorders, kit_backorders_id_for
from services.inventory.domain.movements import Movement, movements
from services.inventory.domain.purchasing import (
    AdvanceShippingNotice,
    DeliveredLine,
    GoodsReceipt,
    OrderedLine,
    PurchaseOrder,
    ReceiptRefused,
    purchase_order_id_for,
)
from services.inventory.domain.reservation import (
    Components,
    KitComponent,
    LocationQuantity,
    RequestedLine,
    Reservation,
    ReservedLine,
    ShippingCost,
    component_units,
    no_shipping_cost,
    plan_reservation,
    reservation_id_for,
    take_from,
    take_kits,
)
from services.inventory.domain.serial_check import ScannedUnit, SerialCheck, serial_check_id_for
from services.inventory.domain.state import CONDITIONS, StockPosition
from services.inventory.domain.stock import (
    BackorderFill,
    InsufficientStock,
    Receipt,
    SkuStock,
    stock_id_for,
)
from services.inventory.domain.transfer import StockTransfer, TransferArrival
from services.inventory.domain.valuation import AverageCost

__all__ = [
    "CONDITIONS",
    "REASON_CODES",
    "AdvanceShippingNotice",
    "AverageCost",
    "Backorder",
    "BackorderFill",
    "BundleAvailability",
    "ChannelAvailability",
    "Components",
    "DeliveredLine",
    "GoodsReceipt",
    "InTransit",
    "InboundLine",
    "InsufficientStock",
    "KitBackorders",
    "KitComponent",
    "LocationQuantity",
    "Movement",
    "OrderedLine",
    "PurchaseOrder",
    "PurchaseSuggestion",
    "ReasonCode",
    "Receipt",
    "ReceiptRefused",
    "ReorderPolicy",
    "RequestedLine",
    "Reservation",
    "ReservedLine",
    "ReturnedUnit",
    "SalesChannels",
    "ScannedUnit",
    "SerialCheck",
    "ShippingCost",
    "SkuStock",
    "StockPosition",
    "StockTransfer",
    "TransferArrival",
    "bundle_availability_id_for",
    "bundles_sellable",
    "component_units",
    "kit_backorders_id_for",
    "movements",
    "no_shipping_cost",
    "plan_reservation",
    "purchase_order_id_for",
    "reservation_id_for",
    "serial_check_id_for",
    "stock_id_for",
    "take_from",
    "take_kits",
]
