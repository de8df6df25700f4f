"""Events the `shipping` service publishes on `shipping.events.v1`, keyed by shipment id (the rate
card by its own fixed id)."""

from __future__ import annotations

import math
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field

from contracts.base import ContractModel, IntegrationEvent, LocationCode, Money, ServiceLevel


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
    volume_cm3: int | None = Field(
        default=None,
        description="Outer volume of the contents; null unless the PIM gave every product's "
        "dimensions (the parcel is then charged by weight alone).",
    )


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


class ConsignmentFactsCompleted(IntegrationEvent):
    """The PIM's facts of every product in a parcel planned without them are known now."""

    event_type = "ConsignmentFactsCompleted"
    aggregate_type = "consignment"

    shipment_id: uuid.UUID = Field(description="The parcel.")
    order_id: uuid.UUID = Field(description="The order.")
    weight_grams: int = Field(ge=0, description="Parcel weight.")
    ground_only: bool = Field(description="A lithium-ion battery is inside: no air service.")
    volume_cm3: int | None = Field(
        default=None, description="Outer volume of the contents, when every product's is known."
    )


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
    promise_met: bool = Field(
        description="False when no allowed service arrives within what the order promised (its "
        "service level, or its delivery date): the fastest allowed one was bought."
    )
    service_level: ServiceLevel = Field(
        default="standard", description="The service level the order asked for."
    )
    deliver_by: date | None = Field(
        default=None, description="The delivery date the customer was promised, if any."
    )
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


class ServiceRate(ContractModel):
    """One carrier service and its rate table.

    A parcel costs `base_cost + cost_per_kg * kilograms` (whole kilograms, rounded up, at least
    one), plus `international_surcharge` when it leaves its origin country.
    """

    carrier: str = Field(description="Carrier code, e.g. `ups`.")
    service: str = Field(description="Service, e.g. `ground`.")
    mode: Literal["ground", "air"] = Field(description="Air services may not carry lithium-ion.")
    transit_days_domestic: int = Field(ge=0, description="Days in transit within a country.")
    transit_days_international: int = Field(ge=0, description="Days in transit abroad.")
    base_cost: Money = Field(description="Cost per parcel.")
    cost_per_kg: Money = Field(description="Cost per whole kilogram.")
    international_surcharge: Money = Field(description="Added when the parcel leaves its country.")

    def cost(self, weight_grams: int, international: bool) -> Decimal:
        kilograms = max(1, math.ceil(weight_grams / 1000))
        surcharge = self.international_surcharge if international else Decimal("0")
        return self.base_cost + self.cost_per_kg * kilograms + surcharge


class RateTableDocument(ContractModel):
    """A version of the carriers' rates, as a file in shipping's rate tables directory or as the
    body of `POST /rate-tables`. It is in force from its effective date (or from the day it is
    recorded, when that is later) until a later version's. A recorded version never changes."""

    version: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$",
        description="The version's name, e.g. `2027-01`; unique.",
    )
    effective_from: date = Field(description="The first day (UTC) labels are bought at it.")
    services: list[ServiceRate] = Field(min_length=1, description="Every service and its rates.")


class LocationOrigin(ContractModel):
    """A location that ships from another country than the rate card's default."""

    location: LocationCode
    country: str = Field(description="ISO 3166-1 alpha-2.")


class RateCardPublished(IntegrationEvent):
    """The carrier services, rate tables and locations' origins shipping buys labels with.

    Published when they change, so that others can estimate what a parcel will cost: inventory
    routes an order to the location that ships it cheapest.
    """

    event_type = "RateCardPublished"
    aggregate_type = "rate-card"

    services: list[ServiceRate] = Field(description="Every service labels are bought from.")
    origin_country: str = Field(description="Where a location ships from unless listed below.")
    location_origins: list[LocationOrigin] = Field(description="Locations abroad.")
    delivery_promise_days: int = Field(ge=1, description="Promised days in transit.")
    volumetric_divisor: int | None = Field(
        default=None,
        ge=0,
        description="Cubic centimetres per kilogram: a parcel is charged by its volumetric weight "
        "(volume / divisor) when that is more than it weighs; null or 0: by weight alone.",
    )
    version: str | None = Field(
        default=None, description="The rate table in force; null on cards before versions."
    )
    effective_from: date | None = Field(
        default=None, description="The day (UTC) that table is in force from."
    )

    def billable_grams(self, weight_grams: int, volume_cm3: int | None) -> int:
        """What a parcel is charged as: its weight, or its volumetric weight when that is more."""
        if not volume_cm3 or not self.volumetric_divisor:
            return weight_grams
        return max(weight_grams, math.ceil(volume_cm3 * 1000 / self.volumetric_divisor))

    def origin_of(self, location: str) -> str:
        for origin in self.location_origins:
            if origin.location == location:
                return origin.country
        return self.origin_country

    def estimate(
        self,
        *,
        location: str,
        country: str,
        weight_grams: int,
        ground_only: bool,
        volume_cm3: int | None = None,
    ) -> Decimal | None:
        """What shipping will pay for such a parcel: its cheapest allowed service within the
        promise, or the fastest allowed one when none keeps it; None when no service may carry it.
        """
        weight_grams = self.billable_grams(weight_grams, volume_cm3)
        international = country != self.origin_of(location)
        allowed = [
            service for service in self.services if service.mode == "ground" or not ground_only
        ]
        if not allowed:
            return None
        days = {
            service: service.transit_days_international
            if international
            else service.transit_days_domestic
            for service in allowed
        }
        in_time = [service for service in allowed if days[service] <= self.delivery_promise_days]
        if in_time:
            return min(service.cost(weight_grams, international) for service in in_time)
        fastest = min(days.values())
        return min(
            service.cost(weight_grams, international)
            for service in allowed
            if days[service] == fastest
        )


class RateTableRecorded(IntegrationEvent):
    """A version of the carriers' rates was recorded (from shipping's rate tables directory or an
    upload). Labels are bought at it from `in_force_from` until a later version's; the rate card
    (`RateCardPublished`) follows on the day it takes effect."""

    event_type = "RateTableRecorded"
    aggregate_type = "rate-card"

    version: str = Field(description="The version's name; unique.")
    effective_from: date = Field(description="The day it was to take effect.")
    in_force_from: date = Field(
        description="The day (UTC) it is in force from: its effective date, or the day it was "
        "recorded when that was later."
    )
    services: list[ServiceRate] = Field(description="Every service and its rates.")
    recorded_by: str = Field(
        description="Who recorded it: `shipping:rate-tables` (the service's directory) or the "
        "authenticated caller who uploaded it."
    )


class ReturnLabelPurchased(IntegrationEvent):
    """The label for a customer to send an authorised return back (keyed by RMA)."""

    event_type = "ReturnLabelPurchased"
    aggregate_type = "return-consignment"

    rma_id: uuid.UUID = Field(description="The RMA.")
    order_id: uuid.UUID = Field(description="The order the unit was bought with.")
    return_to: LocationCode
    carrier: str = Field(description="Carrier code.")
    service: str = Field(description="Carrier service (ground: returns never fly).")
    tracking_number: str = Field(description="The carrier's tracking number.")
    cost: Money = Field(description="Price of the label.")
