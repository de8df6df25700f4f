"""Events the `inventory` service publishes on `inventory.events.v1`, and the `StockMovement` of
its finance feed on `inventory.movements.v1`.

Stock events are keyed by the stock of one SKU (all its locations); reservation decisions are keyed
by the reservation of one order; transfers by the transfer; purchase order events by the purchase
order.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, PlainSerializer

from contracts.base import ContractModel, IntegrationEvent, LocationCode, Sku
from contracts.channel import CurrencyCode
from contracts.order import LocationQuantity

PurchaseOrderId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
        description="The purchase order's number, e.g. `PO-2026-0042`; unique.",
    ),
]

UnitCost = Annotated[
    Decimal,
    Field(ge=0, max_digits=18, decimal_places=4),
    PlainSerializer(lambda value: format(value, "f"), return_type=str, when_used="json"),
]
"""What one unit costs, at most four decimals; travels as a JSON string to keep it exact."""


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
    """Units of one SKU owed to an order line; published as one of the three events below."""

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


class ReservationLine(ContractModel):
    """The reservation outcome for one order line."""

    line_number: int = Field(ge=1, description="The order line.")
    sku: Sku
    quantity_requested: int = Field(ge=1, description="Units the line asked for.")
    quantity_reserved: int = Field(ge=0, description="Units reserved.")
    quantity_short: int = Field(ge=0, description="Units that could not be reserved.")
    allocations: list[LocationQuantity] = Field(description="Where the reserved units are.")


class ReservationDecision(IntegrationEvent):
    """What inventory decided for one paid order; published as one of the two events below."""

    aggregate_type = "reservation"

    reservation_id: uuid.UUID = Field(description="The reservation (one per order).")
    order_id: uuid.UUID = Field(description="The order.")
    lines: list[ReservationLine] = Field(
        description="Every order line: what was reserved, where, and what is short."
    )


class StockReserved(ReservationDecision):
    """Every unit of a paid order is reserved."""

    event_type = "StockReserved"


class StockShortage(ReservationDecision):
    """A paid order could be reserved only in part (or not at all); the rest is short."""

    event_type = "StockShortage"


class BackorderFilled(ReservationDecision):
    """Units that arrived were reserved for an order's backordered lines.

    `lines` is the order's whole reservation after the fill; the order ships the newly reserved
    units as a later shipment.
    """

    event_type = "BackorderFilled"

    fill: int = Field(ge=1, description="Which fill of this order's backorders (1, 2, …).")


class ReservationReleased(IntegrationEvent):
    """Everything reserved for an order is available again."""

    event_type = "ReservationReleased"
    aggregate_type = "reservation"

    reservation_id: uuid.UUID = Field(description="The reservation.")
    order_id: uuid.UUID = Field(description="The order.")
    reason: str = Field(description="Why, e.g. `order cancelled`.")


class SerialCheckVerdict(IntegrationEvent):
    """Inventory's answer to a pack scan (`UnitsScanned`); published as one of the two below."""

    aggregate_type = "serial-check"

    shipment_id: uuid.UUID = Field(description="The shipment scanned.")
    order_id: uuid.UUID = Field(description="The order.")
    scan: int = Field(ge=1, description="Which scan of the shipment this answers.")


class SerialCheckPassed(SerialCheckVerdict):
    """Every serial is in stock at the location, of the right SKU, and packed nowhere else."""

    event_type = "SerialCheckPassed"


class SerialCheckFailed(SerialCheckVerdict):
    """At least one serial may not ship in this parcel."""

    event_type = "SerialCheckFailed"

    problems: list[str] = Field(description="Each unit that failed, and why.")


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


class TransferDispatched(IntegrationEvent):
    """A transfer of units between two locations left its origin; they are in transit."""

    event_type = "TransferDispatched"
    aggregate_type = "stock-transfer"

    transfer_id: uuid.UUID = Field(description="The transfer.")
    sku: Sku
    from_location: LocationCode
    to_location: LocationCode
    quantity: int = Field(ge=1, description="Units dispatched.")
    serials: list[str] = Field(
        default_factory=list, description="Serial numbers of the units, for serialized products."
    )
    actor: str = Field(description="Who dispatched the units.")
    reason: str | None = Field(default=None, description="Why they were moved, if given.")


class TransferReceived(IntegrationEvent):
    """A transfer arrived at its destination: what arrived, and what was short (written off)."""

    event_type = "TransferReceived"
    aggregate_type = "stock-transfer"

    transfer_id: uuid.UUID = Field(description="The transfer.")
    sku: Sku
    quantity_received: int = Field(ge=0, description="Units that arrived.")
    shortfall: int = Field(ge=0, description="Units dispatched that did not arrive (lost).")
    serials_received: list[str] = Field(
        default_factory=list, description="Serial numbers of the units that arrived."
    )
    serials_missing: list[str] = Field(
        default_factory=list, description="Serial numbers of the units that did not arrive."
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


MovementType = Literal[
    "receipt",
    "shipment",
    "transfer-out",
    "transfer-in",
    "adjustment-in",
    "adjustment-out",
    "write-off",
    "return",
    "condition-change",
]
"""What kind of stock movement a `StockMovement` is; see the inventory README for how to book
each."""

StockCondition = Literal["new", "open-box", "refurbished", "quarantined", "damaged"]
"""A condition units are held in; `damaged` units are on the books at no value."""

ExtendedValue = Annotated[
    Decimal,
    Field(max_digits=24, decimal_places=4),
    PlainSerializer(lambda value: format(value, "f"), return_type=str, when_used="json"),
]
"""Quantity x unit cost, signed like the quantity, unrounded; travels as a JSON string."""


class StockMovement(IntegrationEvent):
    """Units of a SKU moved into or out of stock at a location, valued for finance to book.

    Published on `inventory.movements.v1` (not on `inventory.events.v1`), keyed by the SKU's
    stock, one movement per stock event that moves units: receipts, shipments, transfers,
    adjustments (also a count's variance), returns and condition changes of returned units.
    Reservations, counts themselves and purchase-order events are not movements. Costs are the
    SKU's moving weighted average at the time of the movement (a receipt against a purchase order:
    its line's cost). Consumers deduplicate on the envelope's `aggregate_id` and
    `aggregate_version` (or `event_id`); versions of one SKU rise but are not consecutive, since
    events that move nothing are left out.
    """

    event_type = "StockMovement"
    aggregate_type = "sku-stock"

    movement_type: MovementType = Field(
        description="`receipt` (from a supplier, or an opening count), `shipment` (to a "
        "customer), `transfer-out` / `transfer-in` (between locations, through goods in transit), "
        "`adjustment-in` / `adjustment-out` (found, corrected, counted, lost), `write-off` "
        "(damaged, written off, or a returned unit scrapped), `return` (a customer's unit back), "
        "`condition-change` (a returned unit reclassified between conditions that keep value)."
    )
    sku: Sku
    location: LocationCode = Field(description="Where the units moved in or out.")
    condition: StockCondition = Field(
        description="The condition of the units whose stock `quantity` changes."
    )
    from_condition: StockCondition | None = Field(
        default=None,
        description="For a movement made by a condition change: the condition the unit left; "
        "null otherwise.",
    )
    to_condition: StockCondition | None = Field(
        default=None,
        description="For a movement made by a condition change: the condition the unit entered; "
        "null otherwise.",
    )
    quantity: int = Field(
        description="Units, signed: positive into stock at `location` in `condition`, negative "
        "out of it. Never zero."
    )
    unit_cost: UnitCost | None = Field(
        description="What one unit is booked at: a purchase receipt's order line cost, a transfer "
        "in at its dispatch cost, otherwise the SKU's moving average at the time (zero for a unit "
        "returned as damaged); null when unknown (no costed receipt yet)."
    )
    currency: CurrencyCode | None = Field(
        description="Currency of `unit_cost` and `extended_value`; null when the cost is unknown."
    )
    extended_value: ExtendedValue | None = Field(
        description="`quantity` x `unit_cost`, signed like the quantity, not rounded; null when "
        "the cost is unknown."
    )
    reason: str = Field(
        description="Why: the receipt's reason (`purchase-receipt`, `initial-count`, …), the "
        "adjustment's reason code (`cycle-count`, `damage`, `loss`, `found`, `correction`, "
        "`write-off`), `customer-order` for a shipment, `customer-return` for a return, the "
        "transfer's reason (or `transfer`), or the condition change's reason."
    )
    actor: str | None = Field(
        description="Who recorded it; null for what followed a partner's message (a 3PL's "
        "shipment, a return disposition)."
    )
    reference_type: Literal["purchase-order", "shipment", "transfer", "rma", "count"] | None = (
        Field(
            description="What `reference` names; null when there is no reference or it is a free "
            "reference given with a receipt."
        )
    )
    reference: str | None = Field(
        description="The purchase order number, shipment id, transfer id, RMA id or count id."
    )
    order_id: uuid.UUID | None = Field(
        default=None, description="For a shipment, the customer order; null otherwise."
    )
    serials: list[str] = Field(
        default_factory=list,
        description="Serial numbers of the units moved, for serialized products.",
    )
    batch: str | None = Field(
        default=None, description="Production batch of received units, when stated."
    )
    note: str | None = Field(default=None, description="A note given with an adjustment.")
