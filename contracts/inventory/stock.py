"""Events of the stock of one SKU (all its locations), keyed by it: receipts, reservations and
backorders of its units, returns, condition changes, available-to-sell, pack scans, shipments,
adjustments, counts, transfers out and in, reorder policies and low-stock alerts, inbound units.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import Field

from contracts.base import ContractModel, IntegrationEvent, LocationCode, Sku
from contracts.channel import CurrencyCode
from contracts.inventory.common import PurchaseOrderId, UnitCost


class StockReceived(IntegrationEvent):
    """Units arrived at a location and were put into sellable stock."""

    event_type = "StockReceived"
    aggregate_type = "sku-stock"

    sku: Sku
    location: LocationCode
    quantity: int = Field(ge=1, description="Units received.")
    reason: str = Field(description="Why stock changed, e.g. `purchase-receipt`, `initial-count`.")
    actor: str = Field(description="Who recorded the receipt (a person or a system).")
    reference: str | None = Field(default=None, description="Purchase order, ASN or count id.")
    serials: list[str] = Field(
        default_factory=list,
        description="Serial numbers of the received units, one per unit, for serialized products.",
    )
    batch: str | None = Field(default=None, description="Production batch of the received units.")
    unit_cost: UnitCost | None = Field(
        default=None,
        description="What one unit cost, for a receipt against a purchase order (its line's "
        "unit cost; reason `purchase-receipt`, reference the purchase order); null otherwise. "
        "Absent from events published before it existed.",
    )
    currency: CurrencyCode | None = Field(
        default=None, description="Currency of `unit_cost`; null when there is none."
    )


class StockItemReserved(IntegrationEvent):
    """Units of one SKU at one location were reserved for an order line."""

    event_type = "StockItemReserved"
    aggregate_type = "sku-stock"

    sku: Sku
    location: LocationCode
    order_id: uuid.UUID = Field(description="The order the units are reserved for.")
    line_number: int = Field(ge=1, description="The order line.")
    quantity: int = Field(ge=1, description="Units reserved.")


class StockItemReservationReleased(IntegrationEvent):
    """Units reserved for an order line are available again (the order was cancelled)."""

    event_type = "StockItemReservationReleased"
    aggregate_type = "sku-stock"

    sku: Sku
    location: LocationCode
    order_id: uuid.UUID = Field(description="The order the units were reserved for.")
    line_number: int = Field(ge=1, description="The order line.")
    quantity: int = Field(ge=1, description="Units released.")


class BackorderChange(IntegrationEvent):
    """Units of one SKU owed to an order line; published as one of the three events below.

    For a kit (bundle) SKU the units are whole kits, owed and reserved whole at one location; its
    components are never backordered on their own for the kit's line.
    """

    aggregate_type = "sku-stock"

    sku: Sku
    order_id: uuid.UUID = Field(description="The order the units are owed to.")
    line_number: int = Field(ge=1, description="The order line.")
    quantity: int = Field(ge=1, description="Units.")


class StockItemBackordered(BackorderChange):
    """No location had these units for a paid order line: they are owed, first come first served."""

    event_type = "StockItemBackordered"


class StockItemBackorderWithdrawn(BackorderChange):
    """The units are no longer owed (the order was cancelled)."""

    event_type = "StockItemBackorderWithdrawn"


class StockItemBackorderReserved(BackorderChange):
    """Units that arrived were reserved at a location for a line that waited for them."""

    event_type = "StockItemBackorderReserved"

    location: LocationCode


class StockUnitReturned(IntegrationEvent):
    """A returned unit re-entered stock at a location, in the condition its grade gave it; it is
    not available as new."""

    event_type = "StockUnitReturned"
    aggregate_type = "sku-stock"

    sku: Sku
    rma_id: uuid.UUID = Field(description="The RMA it came back under.")
    serial: str | None = Field(description="The unit's serial; null when it carries none.")
    location: LocationCode
    condition: str = Field(description="`quarantined`, `open-box` or `damaged`.")


class StockUnitConditionChanged(IntegrationEvent):
    """A returned unit moved to another condition; to `new`, it is sellable stock again."""

    event_type = "StockUnitConditionChanged"
    aggregate_type = "sku-stock"

    sku: Sku
    rma_id: uuid.UUID = Field(description="The RMA it came back under.")
    serial: str | None = Field(description="The unit's serial; null when it carries none.")
    location: LocationCode
    from_condition: str = Field(description="The condition it was held in.")
    to_condition: str = Field(
        description="`new`, `quarantined`, `open-box`, `refurbished` or `damaged`; a refurbished "
        "unit never becomes new."
    )
    reason: str = Field(description="Why, e.g. `grade A signed off`.")
    actor: str = Field(description="Who changed it.")


class BundleAvailableToSellChanged(IntegrationEvent):
    """How many of a bundle (kit) one sales channel may sell changed (keyed by the bundle).

    A bundle has no stock of its own: it is the minimum, over the PIM's components of the bundle,
    of the component's new available-to-sell for the channel divided by its quantity per bundle.
    """

    event_type = "BundleAvailableToSellChanged"
    aggregate_type = "bundle-availability"

    sku: Sku = Field(description="The bundle's SKU.")
    channel: str = Field(description="The sales channel, as channel orders name it.")
    new: int = Field(ge=0, description="Bundles the channel may sell (new units only).")


class AvailableToSellChanged(IntegrationEvent):
    """What one sales channel may sell of a SKU changed (keyed by the SKU's stock).

    Inventory alone computes it: units available (on hand less reserved) at every location, less
    the channel's safety buffer. New, open-box and refurbished are separate sellable conditions,
    never mixed.
    """

    event_type = "AvailableToSellChanged"
    aggregate_type = "sku-stock"

    sku: Sku
    channel: str = Field(description="The sales channel, as channel orders name it.")
    new: int = Field(ge=0, description="Units the channel may sell as new.")
    open_box: int = Field(ge=0, description="Units the channel may sell as open-box.")
    refurbished: int = Field(
        default=0,
        ge=0,
        description="Units the channel may sell as refurbished (returned units refurbished; "
        "never sold as new). Absent from events published before it existed: read as 0.",
    )


class StockSerialPacked(IntegrationEvent):
    """A serialized unit in stock was packed into a parcel; no other parcel can take it."""

    event_type = "StockSerialPacked"
    aggregate_type = "sku-stock"

    sku: Sku
    serial: str = Field(description="The unit's serial number.")
    location: LocationCode
    shipment_id: uuid.UUID = Field(description="The parcel.")
    order_id: uuid.UUID = Field(description="The order.")


class StockShipped(IntegrationEvent):
    """Units left a location for an order: on hand and reserved both go down."""

    event_type = "StockShipped"
    aggregate_type = "sku-stock"

    sku: Sku
    location: LocationCode
    order_id: uuid.UUID = Field(description="The order shipped.")
    line_number: int = Field(ge=1, description="The order line.")
    quantity: int = Field(ge=1, description="Units shipped.")
    serials: list[str] = Field(description="Serial numbers of the units shipped.")
    shipment_id: uuid.UUID = Field(description="The shipment (parcel).")


AdjustmentReason = Literal["cycle-count", "damage", "loss", "found", "correction", "write-off"]
"""The closed set of reasons for an adjustment: `cycle-count` (a count's variance, see
`StockCounted`), `damage`, `loss` and `write-off` (decreases only), `found` (increases only),
`correction` (either way)."""


class StockAdjusted(IntegrationEvent):
    """New units on hand at a location changed outside receipts and shipments, with who and why.

    Made by hand, by a count's variance (`cycle-count`, referring to the count) or by a short
    transfer receipt (`loss`, referring to the transfer). Never leaves on hand below reserved.
    """

    event_type = "StockAdjusted"
    aggregate_type = "sku-stock"

    sku: Sku
    location: LocationCode
    quantity_delta: int = Field(description="Units added (positive) or removed (negative); not 0.")
    reason_code: AdjustmentReason = Field(description="Why, from the closed set of reasons.")
    actor: str = Field(description="Who made the adjustment (a person or a system).")
    note: str | None = Field(default=None, description="Free text the actor added.")
    serials: list[str] = Field(
        default_factory=list,
        description="Serial numbers of the units that left (a decrease) or came in (an increase), "
        "for serialized products.",
    )
    reference: str | None = Field(
        default=None, description="The count or transfer id the adjustment comes from, if any."
    )
    on_hand_before: int = Field(ge=0, description="New units on hand at the location before.")
    on_hand_after: int = Field(ge=0, description="New units on hand at the location after.")


class StockCounted(IntegrationEvent):
    """Units at a location were counted; the variance is kept on record.

    A count changes nothing itself: a non-zero variance is booked by `StockAdjusted` events with
    the reason `cycle-count` and the count's id as reference, published right after it.
    """

    event_type = "StockCounted"
    aggregate_type = "sku-stock"

    sku: Sku
    location: LocationCode
    count_id: uuid.UUID = Field(description="The count, referred to by its adjustments.")
    expected: int = Field(ge=0, description="New units on hand by the books before the count.")
    counted: int = Field(ge=0, description="New units physically counted.")
    variance: int = Field(description="Counted less expected; 0 when the books were right.")
    actor: str = Field(description="Who counted.")
    serials_missing: list[str] = Field(
        default_factory=list, description="Serials on the books at the location not counted."
    )
    serials_unexpected: list[str] = Field(
        default_factory=list,
        description="Serials counted that the books did not have at the location.",
    )


class StockTransferredOut(IntegrationEvent):
    """Units left a location for another: not available at the origin, in transit until received
    (see `TransferDispatched`, keyed by the transfer)."""

    event_type = "StockTransferredOut"
    aggregate_type = "sku-stock"

    sku: Sku
    transfer_id: uuid.UUID = Field(description="The transfer.")
    from_location: LocationCode
    to_location: LocationCode
    quantity: int = Field(ge=1, description="Units dispatched.")
    serials: list[str] = Field(
        default_factory=list, description="Serial numbers of the units, for serialized products."
    )
    actor: str = Field(description="Who dispatched the units.")
    reason: str | None = Field(default=None, description="Why they were moved, if given.")


class StockTransferredIn(IntegrationEvent):
    """A transfer's units were booked in at its destination.

    Books everything dispatched; when fewer arrived, a `StockAdjusted` with the reason `loss`
    (the transfer id as reference) follows at the destination for the shortfall.
    """

    event_type = "StockTransferredIn"
    aggregate_type = "sku-stock"

    sku: Sku
    transfer_id: uuid.UUID = Field(description="The transfer.")
    from_location: LocationCode
    to_location: LocationCode
    quantity: int = Field(ge=1, description="Units booked in (as dispatched).")
    serials: list[str] = Field(
        default_factory=list, description="Serial numbers of the units, for serialized products."
    )
    actor: str = Field(description="Who received the transfer.")


class ReorderPolicySet(IntegrationEvent):
    """A location's reorder policy for a SKU was set or changed."""

    event_type = "ReorderPolicySet"
    aggregate_type = "sku-stock"

    sku: Sku
    location: LocationCode
    reorder_point: int = Field(ge=0, description="Available at or below this raises an alert.")
    reorder_quantity: int = Field(ge=1, description="Units to order when it does.")
    lead_time_days: int = Field(ge=0, description="Days from ordering to the units arriving.")
    actor: str | None = Field(default=None, description="Who set the policy, if given.")


class SuggestedPurchaseOrder(ContractModel):
    """A purchase order inventory suggests; a person or a purchasing system raises it."""

    sku: Sku
    location: LocationCode
    quantity: int = Field(
        ge=1, description="The reorder quantity, or enough to get above the point if more."
    )
    expected_by: date = Field(description="When it would arrive if ordered now (lead time).")


class LowStockDetected(IntegrationEvent):
    """Available plus inbound at a location fell to or below its reorder point.

    Raised once per fall: not again until available plus inbound has risen above the point
    (`LowStockResolved`, e.g. once a purchase order is confirmed) and fallen again.
    """

    event_type = "LowStockDetected"
    aggregate_type = "sku-stock"

    sku: Sku
    location: LocationCode
    available: int = Field(description="Units available at the location (on hand less reserved).")
    inbound: int = Field(
        default=0, ge=0, description="Units on confirmed purchase orders not yet received."
    )
    reorder_point: int = Field(ge=0, description="The location's reorder point.")
    suggested_purchase_order: SuggestedPurchaseOrder = Field(
        description="What to order, and when it would arrive."
    )


class LowStockResolved(IntegrationEvent):
    """Available plus inbound at a location rose above its reorder point again; a later fall
    alerts again."""

    event_type = "LowStockResolved"
    aggregate_type = "sku-stock"

    sku: Sku
    location: LocationCode
    available: int = Field(description="Units available at the location now.")
    inbound: int = Field(
        default=0, ge=0, description="Units on confirmed purchase orders not yet received."
    )
    reorder_point: int = Field(ge=0, description="The location's reorder point.")


class StockInboundChanged(IntegrationEvent):
    """Units of a SKU due at a location on a confirmed purchase order changed (keyed by the SKU's
    stock): the order was confirmed, received (in part) or cancelled.

    Inbound at a location is the sum over its purchase orders; `GET /stock/{sku}` shows it.
    """

    event_type = "StockInboundChanged"
    aggregate_type = "sku-stock"

    sku: Sku
    location: LocationCode = Field(description="The purchase order's destination.")
    purchase_order_id: PurchaseOrderId
    quantity: int = Field(ge=0, description="Units still due on the order; 0: none any more.")
    location_inbound: int = Field(
        ge=0, description="Units due at the location on every purchase order, after the change."
    )
