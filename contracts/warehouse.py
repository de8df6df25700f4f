"""Events the `warehouse_adapter` service publishes on `warehouse_adapter.events.v1`, keyed by
shipment id.

A 3PL adapter (written by anyone, with any Kafka client) consumes `FulfilmentRequested` to learn
what to pick, pack and ship, and `FulfilmentCancelled` to stop.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from contracts.base import ContractModel, IntegrationEvent, LocationCode, Sku
from contracts.channel import ShippingAddress
from contracts.order import ShipmentLine


class FulfilmentRequested(IntegrationEvent):
    """A warehouse is asked to pick, pack (scanning each unit's serial) and ship a shipment."""

    event_type = "FulfilmentRequested"
    aggregate_type = "fulfilment"

    shipment_id: uuid.UUID = Field(description="The shipment; also the message key.")
    order_id: uuid.UUID = Field(description="The order it belongs to.")
    location: LocationCode
    lines: list[ShipmentLine] = Field(description="The units to pick and pack.")
    ship_to: ShippingAddress = Field(description="Where the shipment goes.")
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
