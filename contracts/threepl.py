"""Messages 3PL adapters publish to `threepl.confirmations.v1`, keyed by shipment id.

A 3PL adapter (written by anyone, with any Kafka client) reads `FulfilmentRequested` from
`warehouse_adapter.events.v1` and answers here, as plain JSON:

1. `picked` when the units are picked;
2. `packed` with one scanned serial per unit (`serial` is null only for products that carry none);
   Unitrail checks the serials and answers `FulfilmentPacked` (go ahead) or `PackScanRejected`
   (scan again) on `warehouse_adapter.events.v1`;
3. `shipped`, once `FulfilmentLabelled` was received (the carrier label shipping bought; none comes
   while the order is on hold), with that label's carrier, service and tracking number.

Repeating a message is harmless. A message that does not fit the shipment's state (shipped before
packed, an unknown shipment) lands on `warehouse_adapter.deadletter.v1` with the reason.

What arrives at a 3PL's dock goes to `threepl.receipts.v1` (`ThreePLReceipt`): a returned unit
(`return_received`, keyed by RMA), goods from a supplier (`goods_received`, keyed by purchase
order) answering `InboundExpected`, or the units of a transfer from another warehouse
(`transfer_received`, keyed by transfer) answering `TransferRequested`, both on
`warehouse_adapter.events.v1`.

What a 3PL finds on its shelves goes to `threepl.stock.v1` (`ThreePLStockReport`), keyed by
`location:sku`: its own cycle counts (`cycle_counted`) and units found damaged (`damage_found`).
Each report carries the 3PL's report id: a repeat is harmless, a different report under a known
id lands on `warehouse_adapter.deadletter.v1` with the reason.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, RootModel

from contracts.base import LINE_RULE, ContractModel, Line, LocationCode, Sku
from contracts.inventory import PurchaseOrderId

Serial = Annotated[str, Field(min_length=1, max_length=64), LINE_RULE]
"""A serial number as scanned from a unit."""


class ScannedUnit(ContractModel):
    """One unit put into the parcel, as scanned at the pack station."""

    line_number: int = Field(ge=1, description="The order line the unit belongs to.")
    sku: Sku
    serial: Line | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="The serial number scanned from the unit; null for unserialized products.",
    )


class PickConfirmation(ContractModel):
    """The shipment's units were picked from their bins."""

    type: Literal["picked"] = Field(description="Message kind.")
    shipment_id: uuid.UUID = Field(description="From `FulfilmentRequested`.")
    at: datetime = Field(description="When, at the warehouse.")


class PackConfirmation(ContractModel):
    """The shipment was packed; every unit was scanned."""

    type: Literal["packed"] = Field(description="Message kind.")
    shipment_id: uuid.UUID = Field(description="From `FulfilmentRequested`.")
    at: datetime = Field(description="When, at the warehouse.")
    units: list[ScannedUnit] = Field(min_length=1, description="One entry per unit packed.")


class ShipConfirmation(ContractModel):
    """The parcel left the warehouse with a carrier."""

    type: Literal["shipped"] = Field(description="Message kind.")
    shipment_id: uuid.UUID = Field(description="From `FulfilmentRequested`.")
    at: datetime = Field(description="When it was handed to the carrier.")
    carrier: Line = Field(min_length=1, max_length=64, description="Carrier code, e.g. `ups`.")
    service: Line = Field(min_length=1, max_length=64, description="Service, e.g. `ground`.")
    tracking_number: Line = Field(min_length=1, max_length=64, description="Carrier's tracking.")


class ThreePLConfirmation(
    RootModel[
        Annotated[
            PickConfirmation | PackConfirmation | ShipConfirmation, Field(discriminator="type")
        ]
    ]
):
    """Any message on `threepl.confirmations.v1`, told apart by its `type`."""

    model_config = ConfigDict(frozen=True)


class ReturnArrival(ContractModel):
    """A returned unit arrived at the 3PL's dock; published to `threepl.receipts.v1`, keyed by RMA.

    The 3PL learns the RMA from the return label (`ReturnLabelPurchased` on `shipping.events.v1`)
    and scans the unit's serial as it does at packing. Repeating the message is harmless.
    """

    type: Literal["return_received"] = Field(description="Message kind.")
    rma_id: uuid.UUID = Field(description="From the return label.")
    location: Line = Field(min_length=1, max_length=64, description="The dock's location code.")
    sku: Sku
    serial: Line | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="The serial scanned from the unit; null when it carries none (or is missing).",
    )
    at: datetime = Field(description="When, at the warehouse.")


class GoodsReceiptLine(ContractModel):
    """Units of one SKU counted in at the dock."""

    sku: Sku
    quantity: int = Field(ge=1, le=1_000_000, description="Units received.")
    serials: list[Serial] = Field(
        default_factory=list,
        max_length=10_000,
        description="One serial number scanned per unit, for serialized products; empty for "
        "products that carry none.",
    )
    batch: Line | None = Field(
        default=None, min_length=1, max_length=64, description="The production batch on the units."
    )


class GoodsReceipt(ContractModel):
    """Goods from a supplier were received at the 3PL's dock under a purchase order; published to
    `threepl.receipts.v1`, keyed by the purchase order.

    The 3PL learns the purchase order (and ASN) from `InboundExpected`. Repeating the message
    (same `receipt_id`, same content) is harmless. Unitrail receives it whole or rejects it whole:
    a rejection comes back as `GoodsReceiptRejected` on `warehouse_adapter.events.v1` with every
    problem; send the corrected receipt under a new `receipt_id`.
    """

    type: Literal["goods_received"] = Field(description="Message kind.")
    receipt_id: Line = Field(
        min_length=1,
        max_length=64,
        description="The 3PL's receipt number: unique; a repeat with the same number is ignored.",
    )
    purchase_order_id: PurchaseOrderId
    asn_id: Line | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="The ASN the goods came under, from `InboundExpected`; null when none.",
    )
    location: LocationCode = Field(description="The dock's location code.")
    at: datetime = Field(description="When the goods were received, at the warehouse.")
    received_by: Line | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Who received them (an operator or the 3PL's system); null: the 3PL.",
    )
    lines: list[GoodsReceiptLine] = Field(
        min_length=1, max_length=1_000, description="What was received, per SKU (and batch)."
    )


class TransferArrival(ContractModel):
    """The units of a transfer from another warehouse arrived at the 3PL's dock; published to
    `threepl.receipts.v1`, keyed by the transfer.

    The 3PL learns the transfer from `TransferRequested` (it is the destination). Report what
    arrived: the units counted in and, for serialized products, one serial per unit. Fewer than
    were sent is a shortfall, booked as lost in transit. Repeating the message is harmless.
    """

    type: Literal["transfer_received"] = Field(description="Message kind.")
    transfer_id: uuid.UUID = Field(description="From `TransferRequested`.")
    location: LocationCode = Field(description="The dock's location code: the destination.")
    sku: Sku
    quantity: int = Field(ge=0, le=1_000_000, description="Units that arrived.")
    serials: list[Serial] = Field(
        default_factory=list,
        max_length=10_000,
        description="One serial number scanned per unit that arrived, for serialized products; "
        "empty for products that carry none.",
    )
    at: datetime = Field(description="When, at the warehouse.")
    received_by: Line | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Who received them (an operator or the 3PL's system); null: the 3PL.",
    )


class ThreePLReceipt(
    RootModel[
        Annotated[ReturnArrival | GoodsReceipt | TransferArrival, Field(discriminator="type")]
    ]
):
    """Any message on `threepl.receipts.v1`, told apart by its `type`."""

    model_config = ConfigDict(frozen=True)


ReportId = Annotated[str, Field(min_length=1, max_length=64), LINE_RULE]
"""The 3PL's own id of a report: unique; a repeat under the same id is ignored."""


class CycleCount(ContractModel):
    """The 3PL counted the new units of a SKU on its shelves at a location; published to
    `threepl.stock.v1`, keyed by `location:sku`.

    Unitrail books the variance against its records as `cycle-count` adjustments (`StockCounted`
    and `StockAdjusted` on `inventory.events.v1`).
    """

    type: Literal["cycle_counted"] = Field(description="Message kind.")
    report_id: ReportId = Field(
        description="The 3PL's id of this count: unique; a repeat under it is ignored."
    )
    location: LocationCode = Field(description="Where the units were counted.")
    sku: Sku
    counted: int = Field(ge=0, le=1_000_000, description="New units counted on the shelves.")
    serials: list[Serial] | None = Field(
        default=None,
        max_length=1_000_000,
        description="Every serial counted, for serialized products (missing and unexpected "
        "serials are then named in `StockCounted`); null when serials were not counted.",
    )
    at: datetime = Field(description="When, at the warehouse.")
    counted_by: Line | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Who counted (an operator or the 3PL's system); null: the 3PL.",
    )


class ShelfDamage(ContractModel):
    """The 3PL found units damaged on its shelves; published to `threepl.stock.v1`, keyed by
    `location:sku`.

    Unitrail takes them out of sellable stock (`StockAdjusted`, reason `damage`). Units already
    reserved for orders cannot be taken: the report is then dead-lettered with the reason.
    """

    type: Literal["damage_found"] = Field(description="Message kind.")
    report_id: ReportId = Field(
        description="The 3PL's id of this report: unique; a repeat under it is ignored."
    )
    location: LocationCode = Field(description="Where the units were found.")
    sku: Sku
    quantity: int = Field(ge=1, le=1_000_000, description="Units found damaged.")
    serials: list[Serial] = Field(
        default_factory=list,
        max_length=10_000,
        description="One serial per damaged unit, for serialized products; empty otherwise.",
    )
    note: Line | None = Field(
        default=None, min_length=1, max_length=500, description="What was found, in words."
    )
    at: datetime = Field(description="When, at the warehouse.")
    found_by: Line | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Who found them (an operator or the 3PL's system); null: the 3PL.",
    )


class ThreePLStockReport(
    RootModel[Annotated[CycleCount | ShelfDamage, Field(discriminator="type")]]
):
    """Any message on `threepl.stock.v1`, told apart by its `type`."""

    model_config = ConfigDict(frozen=True)
