"""Purchase orders to suppliers, keyed by the purchase order: raised, confirmed, announced (ASN),
received, refused, cancelled.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from contracts.base import ContractModel, IntegrationEvent, LocationCode, Sku
from contracts.channel import CurrencyCode
from contracts.inventory.common import PurchaseOrderId, UnitCost


class PurchaseOrderLine(ContractModel):
    """What is ordered of one SKU, and at what cost."""

    sku: Sku
    quantity: int = Field(ge=1, description="Units ordered.")
    unit_cost: UnitCost = Field(description="What one unit costs, as agreed with the supplier.")
    currency: CurrencyCode


class PurchaseOrderChange(IntegrationEvent):
    """An event of one purchase order (keyed by it); published as one of the events below."""

    aggregate_type = "purchase-order"

    purchase_order_id: PurchaseOrderId


class PurchaseOrderRaised(PurchaseOrderChange):
    """A purchase order to a supplier was raised; nothing is inbound until it is confirmed."""

    event_type = "PurchaseOrderRaised"

    supplier: str = Field(description="The supplier the goods are ordered from.")
    location: LocationCode = Field(description="Where the goods are to be delivered.")
    expected_on: date = Field(description="When the goods are expected to arrive.")
    lines: list[PurchaseOrderLine] = Field(description="What is ordered; one line per SKU.")
    actor: str = Field(description="Who raised it.")


class PurchaseOrderConfirmed(PurchaseOrderChange):
    """The supplier confirmed the purchase order: its units are inbound at the destination.

    Carries the whole order, so a reader (a warehouse expecting the goods) needs no other event.
    """

    event_type = "PurchaseOrderConfirmed"

    supplier: str = Field(description="The supplier the goods are ordered from.")
    location: LocationCode = Field(description="Where the goods are to be delivered.")
    expected_on: date = Field(description="When the goods are expected to arrive.")
    lines: list[PurchaseOrderLine] = Field(description="What is ordered; one line per SKU.")
    actor: str = Field(description="Who recorded the confirmation.")


class DeliveredUnits(ContractModel):
    """Units of one SKU announced on an ASN or received, with their serials and batch if known."""

    sku: Sku
    quantity: int = Field(ge=1, description="Units.")
    serials: list[str] = Field(
        default_factory=list,
        description="Serial numbers, one per unit, for serialized products; empty when there are "
        "none (or, on an ASN, when the supplier did not declare them).",
    )
    batch: str | None = Field(default=None, description="Production batch, if stated.")


class AdvanceShippingNoticeRecorded(PurchaseOrderChange):
    """The supplier announced a shipment under the purchase order (an ASN): what, and when."""

    event_type = "AdvanceShippingNoticeRecorded"

    asn_id: str = Field(description="The supplier's ASN number, unique per purchase order.")
    supplier: str = Field(description="The supplier.")
    location: LocationCode = Field(description="Where the shipment is to be delivered.")
    expected_on: date = Field(description="When the shipment is expected to arrive.")
    lines: list[DeliveredUnits] = Field(description="What the shipment carries.")
    actor: str = Field(description="Who recorded the ASN.")


class PurchaseOrderReceived(PurchaseOrderChange):
    """A goods receipt under the purchase order was accepted whole: its units are in stock
    (each line also as `StockReceived`, keyed by the SKU's stock, with the unit cost)."""

    event_type = "PurchaseOrderReceived"

    receipt_id: str = Field(description="The receipt's id (the warehouse's document number).")
    asn_id: str | None = Field(description="The ASN the goods came under, if the dock named one.")
    location: LocationCode = Field(description="Where the goods were received.")
    received_at: datetime = Field(description="When, at the dock.")
    lines: list[DeliveredUnits] = Field(description="What was received.")
    actor: str = Field(description="Who received the goods (a person or a 3PL).")
    fully_received: bool = Field(description="Every line of the order has now arrived in full.")


class PurchaseOrderReceiptRejected(PurchaseOrderChange):
    """A goods receipt a warehouse reported under the purchase order was refused whole: nothing of
    it is in stock. The warehouse corrects it and reports it again under a new receipt id."""

    event_type = "PurchaseOrderReceiptRejected"

    receipt_id: str = Field(description="The refused receipt's id.")
    asn_id: str | None = Field(description="The ASN the receipt named, if any.")
    location: LocationCode = Field(description="Where the goods were reported received.")
    received_at: datetime = Field(description="When, at the dock.")
    lines: list[DeliveredUnits] = Field(description="What the receipt reported.")
    problems: list[str] = Field(
        description="Every reason, one per entry, naming the line: not confirmed or cancelled, "
        "another location, a SKU not on the order, more than outstanding, serials that do not "
        "match the quantity or were received before."
    )


class CancelledUnits(ContractModel):
    """Units of one SKU a cancelled purchase order no longer expects."""

    sku: Sku
    quantity: int = Field(ge=1, description="Units no longer expected.")


class PurchaseOrderCancelled(PurchaseOrderChange):
    """The purchase order was cancelled: what had not arrived is no longer expected."""

    event_type = "PurchaseOrderCancelled"

    location: LocationCode = Field(description="The order's destination.")
    reason: str = Field(description="Why.")
    actor: str = Field(description="Who cancelled it.")
    cancelled: list[CancelledUnits] = Field(
        description="Per SKU, the units no longer expected (SKUs received in full are left out)."
    )
