"""Shipping domain ↔ public contracts. Pure functions."""

from __future__ import annotations

from typing import Any

from contracts import shipping as contracts
from contracts.base import IntegrationEvent
from contracts.order import OrderReleasedToWarehouse
from services.shipping.application import ParcelToPlan
from services.shipping.domain import (
    CarrierService,
    Consignment,
    ParcelLine,
    RateCard,
    ReturnConsignment,
)


def parcels_of(event: OrderReleasedToWarehouse) -> list[ParcelToPlan]:
    return [
        ParcelToPlan(
            shipment_id=shipment.shipment_id,
            location=shipment.location,
            lines=tuple(
                ParcelLine(sku=line.sku, quantity=line.quantity) for line in shipment.lines
            ),
            declared_value=shipment.declared_value,
        )
        for shipment in event.shipments
    ]


def _service_rate(service: CarrierService) -> contracts.ServiceRate:
    return contracts.ServiceRate(
        carrier=service.carrier,
        service=service.service,
        mode=service.mode,
        transit_days_domestic=service.transit_days_domestic,
        transit_days_international=service.transit_days_international,
        base_cost=service.base_cost,
        cost_per_kg=service.cost_per_kg,
        international_surcharge=service.international_surcharge,
    )


def to_contract(event: Any) -> IntegrationEvent:
    """The public event for a recorded shipping event."""
    if isinstance(event, ReturnConsignment.LabelPurchased):
        return contracts.ReturnLabelPurchased(
            rma_id=event.rma_id,
            order_id=event.order_id,
            return_to=event.return_to,
            carrier=event.request.carrier,
            service=event.request.service,
            tracking_number=event.tracking_number,
            cost=event.request.cost,
        )
    if isinstance(event, RateCard.FirstPublished | RateCard.Published):
        return contracts.RateCardPublished(
            services=[_service_rate(service) for service in event.services],
            origin_country=event.origin_country,
            location_origins=[
                contracts.LocationOrigin(location=location, country=country)
                for location, country in event.location_origins
            ],
            delivery_promise_days=event.delivery_promise_days,
            volumetric_divisor=event.volumetric_divisor,
        )
    common = {"shipment_id": event.originator_id, "order_id": event.order_id}
    if isinstance(event, Consignment.Planned):
        return contracts.ConsignmentPlanned(
            **common,
            location=event.location,
            country=event.country,
            declared_value=event.declared_value,
            currency=event.currency,
            weight_grams=event.weight_grams,
            ground_only=event.ground_only,
            signature_required=event.signature_required,
            volume_cm3=event.volume_cm3,
        )
    if isinstance(event, Consignment.Held):
        return contracts.ConsignmentHeld(**common, reason=event.reason)
    if isinstance(event, Consignment.HoldReleased):
        return contracts.ConsignmentHoldReleased(**common)
    if isinstance(event, Consignment.FactsCompleted):
        return contracts.ConsignmentFactsCompleted(
            **common,
            weight_grams=event.weight_grams,
            ground_only=event.ground_only,
            volume_cm3=event.volume_cm3,
        )
    if isinstance(event, Consignment.LabelWithheld):
        return contracts.LabelWithheld(**common, reason=event.reason)
    if isinstance(event, Consignment.LabelPurchased):
        request = event.label.request
        return contracts.LabelPurchased(
            **common,
            carrier=request.carrier,
            service=request.service,
            mode=request.mode,
            tracking_number=event.label.tracking_number,
            cost=request.cost,
            transit_days=request.transit_days,
            promise_met=request.promise_met,
            insured_value=request.insured_value,
            insurance_cost=request.insurance_cost,
            signature_required=request.signature_required,
        )
    if isinstance(event, Consignment.TrackingEvent):
        contract = {
            Consignment.InTransit: contracts.ShipmentInTransit,
            Consignment.Delivered: contracts.ShipmentDelivered,
            Consignment.DeliveryException: contracts.ShipmentException,
        }[type(event)]
        return contract(
            **common,
            carrier=event.carrier,
            tracking_number=event.tracking_number,
            carrier_code=event.carrier_code,
            description=event.description,
            at=event.at,
        )
    raise TypeError(f"no contract for shipping event {type(event).__qualname__}")
