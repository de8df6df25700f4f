"""Events the `warehouse_adapter` service publishes on `warehouse_adapter.events.v1`, keyed by
shipment id.

A 3PL adapter (written by anyone, with any Kafka client) consumes `FulfilmentRequested` to learn
what to pick, pack and ship, and `FulfilmentCancelled` to stop.
"""

from __future__ import annotations

import uuid

from pydantic import Field

from contracts.base import IntegrationEvent, LocationCode
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
