"""Warehouse adapter domain ↔ public contracts. Pure functions."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from contracts import warehouse as contracts
from contracts.base import IntegrationEvent
from contracts.order import OrderReleasedToWarehouse, ShipmentLine
from services.warehouse_adapter.application import ShipmentToFulfil
from services.warehouse_adapter.domain import Destination, Fulfilment, FulfilmentLine


def shipments_of(event: OrderReleasedToWarehouse) -> list[ShipmentToFulfil]:
    return [
        ShipmentToFulfil(
            shipment_id=shipment.shipment_id,
            location=shipment.location,
            lines=tuple(
                FulfilmentLine(line_number=line.line_number, sku=line.sku, quantity=line.quantity)
                for line in shipment.lines
            ),
        )
        for shipment in event.shipments
    ]


def destination_of(event: OrderReleasedToWarehouse) -> Destination:
    return Destination(**event.ship_to.model_dump())


def to_contract(event: Any) -> IntegrationEvent:
    """The public event for a recorded warehouse adapter event."""
    if isinstance(event, Fulfilment.Requested):
        return contracts.FulfilmentRequested(
            shipment_id=event.originator_id,
            order_id=event.order_id,
            location=event.location,
            lines=[
                ShipmentLine(line_number=line.line_number, sku=line.sku, quantity=line.quantity)
                for line in event.lines
            ],
            ship_to=asdict(event.ship_to),
            signature_required=event.signature_required,
        )
    if isinstance(event, Fulfilment.Cancelled):
        return contracts.FulfilmentCancelled(
            shipment_id=event.originator_id, order_id=event.order_id, reason=event.reason
        )
    raise TypeError(f"no contract for warehouse adapter event {type(event).__qualname__}")
