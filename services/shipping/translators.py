"""Shipping domain ↔ public contracts. Pure functions."""

from __future__ import annotations

import functools
import uuid
from typing import Any, Protocol

from contracts import shipping as contracts
from contracts.base import IntegrationEvent
from contracts.order import OrderReleasedToWarehouse
from services.shipping.application import ParcelToPlan
from services.shipping.domain import (
    CarrierService,
    Consignment,
    DeliveryPromise,
    ParcelLine,
    RateCard,
    RateTable,
    ReturnConsignment,
    ServiceLevel,
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


def promise_of(event: OrderReleasedToWarehouse) -> DeliveryPromise:
    """What the released order promised the customer."""
    return DeliveryPromise(ServiceLevel(event.service_level), event.deliver_by)


def rate_table(document: contracts.RateTableDocument) -> RateTable:
    """A rate table file or upload, as the domain prices with it."""
    return RateTable(
        version=document.version,
        effective_from=document.effective_from,
        services=tuple(
            CarrierService(
                carrier=rate.carrier,
                service=rate.service,
                mode=rate.mode,
                transit_days_domestic=rate.transit_days_domestic,
                transit_days_international=rate.transit_days_international,
                base_cost=rate.base_cost,
                cost_per_kg=rate.cost_per_kg,
                international_surcharge=rate.international_surcharge,
            )
            for rate in document.services
        ),
    )


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


@functools.singledispatch
def to_contract(event: object) -> IntegrationEvent:
    """The public event for a recorded shipping event (a function per event class, registered
    below)."""
    raise TypeError(f"no contract for shipping event {type(event).__qualname__}")


class _OfAnOrder(Protocol):
    @property
    def originator_id(self) -> uuid.UUID: ...
    @property
    def order_id(self) -> uuid.UUID: ...


def _parcel(event: _OfAnOrder) -> dict[str, Any]:
    return {"shipment_id": event.originator_id, "order_id": event.order_id}


@to_contract.register
def _return_label(event: ReturnConsignment.LabelPurchased) -> contracts.ReturnLabelPurchased:
    return contracts.ReturnLabelPurchased(
        rma_id=event.rma_id,
        order_id=event.order_id,
        return_to=event.return_to,
        carrier=event.request.carrier,
        service=event.request.service,
        tracking_number=event.tracking_number,
        cost=event.request.cost,
    )


@to_contract.register
def _rate_card(event: RateCard.FirstPublished | RateCard.Published) -> contracts.RateCardPublished:
    return contracts.RateCardPublished(
        services=[_service_rate(service) for service in event.services],
        origin_country=event.origin_country,
        location_origins=[
            contracts.LocationOrigin(location=location, country=country)
            for location, country in event.location_origins
        ],
        delivery_promise_days=event.delivery_promise_days,
        volumetric_divisor=event.volumetric_divisor,
        version=event.table_version,
        effective_from=event.effective_from,
    )


@to_contract.register
def _rate_table(event: RateCard.TableAdded) -> contracts.RateTableRecorded:
    return contracts.RateTableRecorded(
        version=event.table.version,
        effective_from=event.table.effective_from,
        in_force_from=event.in_force_from,
        services=[_service_rate(service) for service in event.table.services],
        recorded_by=event.recorded_by,
    )


@to_contract.register
def _planned(event: Consignment.Planned) -> contracts.ConsignmentPlanned:
    return contracts.ConsignmentPlanned(
        **_parcel(event),
        location=event.location,
        country=event.country,
        declared_value=event.declared_value,
        currency=event.currency,
        weight_grams=event.weight_grams,
        ground_only=event.ground_only,
        signature_required=event.signature_required,
        volume_cm3=event.volume_cm3,
    )


@to_contract.register
def _held(event: Consignment.Held) -> contracts.ConsignmentHeld:
    return contracts.ConsignmentHeld(**_parcel(event), reason=event.reason)


@to_contract.register
def _hold_released(event: Consignment.HoldReleased) -> contracts.ConsignmentHoldReleased:
    return contracts.ConsignmentHoldReleased(**_parcel(event))


@to_contract.register
def _facts_completed(event: Consignment.FactsCompleted) -> contracts.ConsignmentFactsCompleted:
    return contracts.ConsignmentFactsCompleted(
        **_parcel(event),
        weight_grams=event.weight_grams,
        ground_only=event.ground_only,
        volume_cm3=event.volume_cm3,
    )


@to_contract.register
def _label_withheld(event: Consignment.LabelWithheld) -> contracts.LabelWithheld:
    return contracts.LabelWithheld(**_parcel(event), reason=event.reason)


@to_contract.register
def _label_purchased(event: Consignment.LabelPurchased) -> contracts.LabelPurchased:
    request = event.label.request
    return contracts.LabelPurchased(
        **_parcel(event),
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
        service_level=request.service_level,
        deliver_by=request.deliver_by,
    )


def _tracking(event: Consignment.TrackingEvent) -> dict[str, Any]:
    return _parcel(event) | {
        "carrier": event.carrier,
        "tracking_number": event.tracking_number,
        "carrier_code": event.carrier_code,
        "description": event.description,
        "at": event.at,
    }


@to_contract.register
def _in_transit(event: Consignment.InTransit) -> contracts.ShipmentInTransit:
    return contracts.ShipmentInTransit(**_tracking(event))


@to_contract.register
def _delivered(event: Consignment.Delivered) -> contracts.ShipmentDelivered:
    return contracts.ShipmentDelivered(**_tracking(event))


@to_contract.register
def _delivery_exception(event: Consignment.DeliveryException) -> contracts.ShipmentException:
    return contracts.ShipmentException(**_tracking(event))
