"""Events the `warehouse_adapter` service publishes on `warehouse_adapter.events.v1`, keyed by
shipment id.

A 3PL adapter (written by anyone, with any Kafka client) consumes `FulfilmentRequested` to learn
what to pick, pack and ship, and `FulfilmentCancelled` to stop; `InboundExpected` to learn what
goods to expect from suppliers (answered with `goods_received` on `threepl.receipts.v1`),
`InboundCancelled` to stop expecting them, `GoodsReceiptRejected` for a receipt refused, and
`TransferRequested` for a transfer between warehouses (the origin sends the units, the destination
answers `transfer_received` on `threepl.receipts.v1` when they arrive).

What a 3PL reports from its shelves on `threepl.stock.v1` is passed on, recorded once, as
`CycleCountReported` and `DamageReported` for inventory to book.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import Field

from contracts.base import ContractModel, IntegrationEvent, LocationCode, Sku
from contracts.inventory import PurchaseOrderId
from contracts.order import ShipmentLine
from contracts.personal import AddressOnRecord


class FulfilmentRequested(IntegrationEvent):
    """A warehouse is asked to pick, pack (scanning each unit's serial) and ship a shipment."""

    event_type = "FulfilmentRequested"
    aggregate_type = "fulfilment"

    shipment_id: uuid.UUID = Field(description="The shipment; also the message key.")
    order_id: uuid.UUID = Field(description="The order it belongs to.")
    location: LocationCode
    lines: list[ShipmentLine] = Field(description="The units to pick and pack.")
    ship_to: AddressOnRecord = Field(description="Where the shipment goes.")
    signature_required: bool = Field(description="Delivery needs the recipient's signature.")


class FulfilmentCancelled(IntegrationEvent):
    """The shipment must not leave the warehouse: its order was cancelled."""

    event_type = "FulfilmentCancelled"
    aggregate_type = "fulfilment"

    shipment_id: uuid.UUID = Field(description="The shipment.")
    order_id: uuid.UUID = Field(description="The order it belongs to.")
    reason: str = Field(description="Why.")


class FulfilmentPicked(IntegrationEvent):
    """The 3PL picked the shipment's units."""

    event_type = "FulfilmentPicked"
    aggregate_type = "fulfilment"

    shipment_id: uuid.UUID = Field(description="The shipment.")
    order_id: uuid.UUID = Field(description="The order.")
    picked_at: datetime = Field(description="When, at the warehouse.")


class PackedUnit(ContractModel):
    """A unit in a shipment, with the serial scanned from it."""

    line_number: int = Field(ge=1, description="The order line.")
    sku: Sku
    serial: str | None = Field(description="Serial number; null for unserialized products.")


class UnitsScanned(IntegrationEvent):
    """The 3PL scanned the units it packed; inventory checks the serials before the pack counts."""

    event_type = "UnitsScanned"
    aggregate_type = "fulfilment"

    shipment_id: uuid.UUID = Field(description="The shipment.")
    order_id: uuid.UUID = Field(description="The order.")
    location: LocationCode
    scan: int = Field(
        ge=1, description="Which scan of this shipment (a rejected pack is rescanned)."
    )
    units: list[PackedUnit] = Field(description="Every unit scanned.")


class UnitSerialCaptured(IntegrationEvent):
    """The birth certificate of a shipped unit: this serial went into this order's parcel."""

    event_type = "UnitSerialCaptured"
    aggregate_type = "fulfilment"

    shipment_id: uuid.UUID = Field(description="The shipment (parcel).")
    order_id: uuid.UUID = Field(description="The order.")
    line_number: int = Field(ge=1, description="The order line.")
    sku: Sku
    serial: str = Field(description="The serial number scanned.")
    location: LocationCode
    captured_at: datetime = Field(description="When the 3PL scanned it.")


class FulfilmentPacked(IntegrationEvent):
    """The pack is complete and its serials are verified: the 3PL may ship it."""

    event_type = "FulfilmentPacked"
    aggregate_type = "fulfilment"

    shipment_id: uuid.UUID = Field(description="The shipment.")
    order_id: uuid.UUID = Field(description="The order.")
    units: list[PackedUnit] = Field(description="Every unit packed.")


class PackScanRejected(IntegrationEvent):
    """The scan does not match what may ship; the pack is not complete. Scan again."""

    event_type = "PackScanRejected"
    aggregate_type = "fulfilment"

    shipment_id: uuid.UUID = Field(description="The shipment.")
    order_id: uuid.UUID = Field(description="The order.")
    problems: list[str] = Field(description="Each unit that failed, and why.")


class FulfilmentLabelled(IntegrationEvent):
    """The parcel's carrier label is bought: print it; the parcel ships with it and no other."""

    event_type = "FulfilmentLabelled"
    aggregate_type = "fulfilment"

    shipment_id: uuid.UUID = Field(description="The shipment.")
    order_id: uuid.UUID = Field(description="The order.")
    carrier: str = Field(description="Carrier code.")
    service: str = Field(description="Carrier service.")
    tracking_number: str = Field(description="The label's tracking number.")


class ShipmentConfirmed(IntegrationEvent):
    """The parcel left the warehouse: which serials, with which carrier and tracking number."""

    event_type = "ShipmentConfirmed"
    aggregate_type = "fulfilment"

    shipment_id: uuid.UUID = Field(description="The shipment.")
    order_id: uuid.UUID = Field(description="The order.")
    location: LocationCode
    units: list[PackedUnit] = Field(description="Every unit shipped.")
    carrier: str = Field(description="Carrier code.")
    service: str = Field(description="Carrier service.")
    tracking_number: str = Field(description="The carrier's tracking number.")
    shipped_at: datetime = Field(description="When it was handed to the carrier.")


class ReturnReceived(IntegrationEvent):
    """A returned unit was received at a warehouse dock, with the serial scanned (keyed by RMA)."""

    event_type = "ReturnReceived"
    aggregate_type = "return-receipt"

    rma_id: uuid.UUID = Field(description="The RMA the unit came back under.")
    location: LocationCode
    sku: Sku
    serial: str | None = Field(description="The serial scanned; null when the unit carries none.")
    received_at: datetime = Field(description="When the 3PL scanned it.")


class InboundUnits(ContractModel):
    """Units of one SKU expected at, or received at, a dock."""

    sku: Sku
    quantity: int = Field(ge=1, description="Units.")
    serials: list[str] = Field(
        default_factory=list,
        description="Serial numbers, one per unit, when known (declared on the ASN, or scanned).",
    )
    batch: str | None = Field(default=None, description="Production batch, when known.")


class InboundExpected(IntegrationEvent):
    """A warehouse is to expect goods from a supplier under a purchase order (keyed by it).

    Published when the purchase order is confirmed (`asn_id` null: every unit ordered), and again
    for every advance shipping notice (`asn_id` set: what that shipment carries, with the serials
    and batch the supplier declared). Answer with `goods_received` on `threepl.receipts.v1`,
    naming the purchase order (and the ASN, if the goods came under one), one serial per unit of
    serialized products, and the batch.
    """

    event_type = "InboundExpected"
    aggregate_type = "inbound"

    purchase_order_id: PurchaseOrderId
    asn_id: str | None = Field(description="The ASN this announces; null for the order itself.")
    supplier: str = Field(description="Who sends the goods.")
    location: LocationCode = Field(description="The dock that receives them.")
    expected_on: date = Field(description="When they are expected to arrive.")
    lines: list[InboundUnits] = Field(description="What to expect.")


class InboundCancelled(IntegrationEvent):
    """The purchase order was cancelled: expect nothing more under it (keyed by it)."""

    event_type = "InboundCancelled"
    aggregate_type = "inbound"

    purchase_order_id: PurchaseOrderId
    location: LocationCode = Field(description="The dock that was to receive the goods.")
    reason: str = Field(description="Why.")


class GoodsReceiptChange(IntegrationEvent):
    """A 3PL's goods receipt (keyed by its receipt); published as one of the two events below."""

    aggregate_type = "goods-receipt"

    receipt_id: str = Field(description="The 3PL's receipt number.")
    purchase_order_id: PurchaseOrderId
    asn_id: str | None = Field(description="The ASN the goods came under; null when none.")
    location: LocationCode = Field(description="The dock that received the goods.")
    received_at: datetime = Field(description="When, at the warehouse.")
    lines: list[InboundUnits] = Field(description="What the 3PL received.")


class GoodsReceived(GoodsReceiptChange):
    """A 3PL received goods under a purchase order, recorded once; inventory receives them against
    the order (or rejects the receipt: `GoodsReceiptRejected`)."""

    event_type = "GoodsReceived"

    received_by: str = Field(description="Who received them: the operator or the 3PL.")


class GoodsReceiptRejected(GoodsReceiptChange):
    """The goods receipt was refused whole: nothing of it is in stock. Correct it and send it
    again under a new receipt id."""

    event_type = "GoodsReceiptRejected"

    problems: list[str] = Field(
        description="Every reason, one per entry: no inbound expected under the purchase order, "
        "or inventory's verdict (not confirmed or cancelled, another location, a SKU not on "
        "the order, more than outstanding, serials not one per unit or received before)."
    )


class TransferRequested(IntegrationEvent):
    """Units of a SKU are to move between two warehouses (keyed by the transfer): the 3PL at
    `from_location` sends them (they left Unitrail's available stock when the transfer was
    dispatched); the 3PL at `to_location` expects them and answers `transfer_received` on
    `threepl.receipts.v1` when they arrive. Each 3PL acts on the locations it operates."""

    event_type = "TransferRequested"
    aggregate_type = "warehouse-transfer"

    transfer_id: uuid.UUID = Field(description="The transfer; name it in `transfer_received`.")
    sku: Sku
    from_location: LocationCode = Field(description="The warehouse that sends the units.")
    to_location: LocationCode = Field(description="The warehouse that receives them.")
    quantity: int = Field(ge=1, description="Units sent.")
    serials: list[str] = Field(
        default_factory=list, description="Serial numbers of the units, for serialized products."
    )
    reason: str | None = Field(default=None, description="Why they are moved, if given.")


class TransferArrived(IntegrationEvent):
    """The destination's 3PL reported a transfer's units arrived, recorded once (keyed by the
    transfer); inventory books them in, and a shortfall as lost in transit."""

    event_type = "TransferArrived"
    aggregate_type = "warehouse-transfer"

    transfer_id: uuid.UUID = Field(description="The transfer.")
    sku: Sku
    location: LocationCode = Field(description="Where they arrived: the destination.")
    quantity_received: int = Field(ge=0, description="Units that arrived.")
    serials_received: list[str] = Field(
        default_factory=list, description="Serial numbers of the units that arrived."
    )
    received_at: datetime = Field(description="When, at the warehouse.")
    received_by: str = Field(description="Who received them: the operator or the 3PL.")


class ShelfReport(IntegrationEvent):
    """A 3PL's report of what it found on its shelves (recorded under the report id); published as
    one of the two events below, keyed by the shelf."""

    aggregate_type = "shelf-report"
    key_description = (
        "`location:sku`: one shelf's counts and damages reach inventory in the order the 3PL "
        "reported them (a count after a damage counts what the damage left)"
    )

    report_id: str = Field(description="The 3PL's report id.")
    location: LocationCode
    sku: Sku
    reported_at: datetime = Field(description="When, at the warehouse.")
    reported_by: str = Field(description="Who: the operator or the 3PL.")

    def message_key(self) -> str:
        return f"{self.location}:{self.sku}"


class CycleCountReported(ShelfReport):
    """A 3PL counted the new units of a SKU at a location; inventory books the variance."""

    event_type = "CycleCountReported"

    counted: int = Field(ge=0, description="New units counted.")
    serials: list[str] | None = Field(
        description="Every serial counted; null when serials were not counted."
    )


class DamageReported(ShelfReport):
    """A 3PL found units damaged on its shelves; inventory takes them out of sellable stock."""

    event_type = "DamageReported"

    quantity: int = Field(ge=1, description="Units found damaged.")
    serials: list[str] = Field(
        default_factory=list, description="One serial per damaged unit, for serialized products."
    )
    note: str | None = Field(default=None, description="What was found, in words.")
