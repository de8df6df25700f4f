"""Events the `shipping` service publishes on `shipping.events.v1`, keyed by shipment id."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from contracts.base import IntegrationEvent, LocationCode, Money


class ConsignmentPlanned(IntegrationEvent):
    """A parcel of a released order is known to shipping, with what decides its label."""

    event_type = "ConsignmentPlanned"
    aggregate_type = "consignment"

    shipment_id: uuid.UUID = Field(description="The parcel (the order's shipment).")
    order_id: uuid.UUID = Field(description="The order.")
    location: LocationCode
    country: str = Field(description="Destination country (ISO 3166-1 alpha-2).")
    declared_value: Money = Field(description="Value of the parcel's contents.")
    currency: str = Field(description="Currency of the declared value.")
    weight_grams: int | None = Field(description="Parcel weight; null while PIM facts are missing.")
    ground_only: bool = Field(description="A lithium-ion battery is inside: no air service.")
    signature_required: bool = Field(description="Delivery needs the recipient's signature.")


class ConsignmentHeld(IntegrationEvent):
    """The parcel's order is on hold: no label is bought for it."""

    event_type = "ConsignmentHeld"
    aggregate_type = "consignment"

    shipment_id: uuid.UUID = Field(description="The parcel.")
    order_id: uuid.UUID = Field(description="The order.")
    reason: str = Field(description="Why the order is held.")


class ConsignmentHoldReleased(IntegrationEvent):
    """The parcel's order is no longer held."""

    event_type = "ConsignmentHoldReleased"
    aggregate_type = "consignment"

    shipment_id: uuid.UUID = Field(description="The parcel.")
    order_id: uuid.UUID = Field(description="The order.")


class LabelWithheld(IntegrationEvent):
    """The parcel is packed but gets no label (yet)."""

    event_type = "LabelWithheld"
    aggregate_type = "consignment"

    shipment_id: uuid.UUID = Field(description="The parcel.")
    order_id: uuid.UUID = Field(description="The order.")
    reason: str = Field(description="Why: the order is on hold, or product facts are missing.")


class LabelPurchased(IntegrationEvent):
    """A carrier label was bought: print it, and ship the parcel with it."""

    event_type = "LabelPurchased"
    aggregate_type = "consignment"

    shipment_id: uuid.UUID = Field(description="The parcel.")
    order_id: uuid.UUID = Field(description="The order.")
    carrier: str = Field(description="Carrier code.")
    service: str = Field(description="Carrier service.")
    mode: str = Field(description="`ground` or `air`.")
    tracking_number: str = Field(description="The carrier's tracking number.")
    cost: Money = Field(description="Price of the label.")
    transit_days: int = Field(ge=0, description="Promised days in transit.")
    promise_met: bool = Field(description="False when no allowed service meets the promise.")
    insured_value: Money = Field(description="Value insured; 0 when not insured.")
    insurance_cost: Money = Field(description="Price of the insurance.")
    signature_required: bool = Field(description="The carrier collects a signature.")


class ShipmentTrackingEvent(IntegrationEvent):
    """A carrier's scan of the parcel, normalised; published as one of the three below."""

    aggregate_type = "consignment"

    shipment_id: uuid.UUID = Field(description="The parcel.")
    order_id: uuid.UUID = Field(description="The order.")
    carrier: str = Field(description="Carrier code.")
    tracking_number: str = Field(description="The carrier's tracking number.")
    carrier_code: str = Field(description="The carrier's own event code.")
    description: str = Field(description="The carrier's wording.")
    at: datetime = Field(description="When the carrier scanned the parcel.")


class ShipmentInTransit(ShipmentTrackingEvent):
    """The parcel is moving (including out for delivery)."""

    event_type = "ShipmentInTransit"


class ShipmentDelivered(ShipmentTrackingEvent):
    """The parcel was delivered."""

    event_type = "ShipmentDelivered"


class ShipmentException(ShipmentTrackingEvent):
    """Something went wrong on the way (damage, failed delivery, address problem...)."""

    event_type = "ShipmentException"
