"""Warehouse adapter use cases: load → decide → save. They return ids, not aggregates."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from eventsourcing.application import AggregateNotFoundError

from services.runtime.aggregate import DomainError
from services.runtime.eventstore import ServiceApplication
from services.warehouse_adapter.domain import (
    Destination,
    Fulfilment,
    FulfilmentLine,
    PackedUnit,
    ReturnReceipt,
    return_receipt_id_for,
)


@dataclass(frozen=True)
class ShipmentToFulfil:
    shipment_id: uuid.UUID
    location: str
    lines: tuple[FulfilmentLine, ...]


class UnknownFulfilment(DomainError, LookupError):
    """No fulfilment has this shipment id."""


class WarehouseAdapterApplication(ServiceApplication):
    """The bridge to 3PL warehouses: fulfilment requests out, their answers back."""

    value_objects = (FulfilmentLine, Destination, PackedUnit)

    def receive_return(
        self,
        *,
        rma_id: uuid.UUID,
        location: str,
        sku: str,
        serial: str | None,
        received_at: datetime,
    ) -> uuid.UUID:
        """A returned unit arrived at a dock: recorded once per RMA; a repeat changes nothing, a
        different unit under the same RMA is refused with the reason."""
        try:
            known: ReturnReceipt = self.get(return_receipt_id_for(rma_id), ReturnReceipt)
        except AggregateNotFoundError:
            receipt = ReturnReceipt.record(
                rma_id=rma_id, location=location, sku=sku, serial=serial, received_at=received_at
            )
            self.save(receipt)
            return receipt.id
        problem = known.conflicts_with(location, sku, serial)
        if problem is not None:
            raise DomainError(problem)
        return known.id

    def request_fulfilment(
        self,
        order_id: uuid.UUID,
        shipments: Sequence[ShipmentToFulfil],
        ship_to: Destination,
        signature_required: bool,
    ) -> list[uuid.UUID]:
        """Ask each location to ship its part of a released order, once per shipment."""
        requested = [
            Fulfilment.request(
                shipment_id=shipment.shipment_id,
                order_id=order_id,
                location=shipment.location,
                lines=shipment.lines,
                ship_to=ship_to,
                signature_required=signature_required,
            )
            for shipment in shipments
            if not self._exists(shipment.shipment_id)
        ]
        self.save(*requested)
        return [shipment.shipment_id for shipment in shipments]

    def cancel_fulfilments(self, shipment_ids: Sequence[uuid.UUID], reason: str) -> None:
        """Withdraw the requests of a cancelled order."""
        fulfilments = []
        for shipment_id in shipment_ids:
            fulfilment = self.find(shipment_id)
            if fulfilment is not None:
                fulfilment.cancel(reason)
                fulfilments.append(fulfilment)
        self.save(*fulfilments)

    def confirm_picked(self, shipment_id: uuid.UUID, at: datetime) -> uuid.UUID:
        """The 3PL reports the units picked."""
        fulfilment = self.get_fulfilment(shipment_id)
        fulfilment.confirm_picked(at)
        self.save(fulfilment)
        return fulfilment.id

    def record_pack_scan(
        self, shipment_id: uuid.UUID, units: tuple[PackedUnit, ...], at: datetime
    ) -> uuid.UUID:
        """The 3PL reports the parcel packed, with the serial scanned from each unit."""
        fulfilment = self.get_fulfilment(shipment_id)
        fulfilment.record_scan(units, at)
        self.save(fulfilment)
        return fulfilment.id

    def serials_verified(self, shipment_id: uuid.UUID, scan: int) -> uuid.UUID:
        """Inventory accepted the scanned serials: the pack is complete."""
        fulfilment = self.get_fulfilment(shipment_id)
        fulfilment.serials_verified(scan)
        self.save(fulfilment)
        return fulfilment.id

    def serials_refused(
        self, shipment_id: uuid.UUID, scan: int, problems: tuple[str, ...]
    ) -> uuid.UUID:
        """Inventory refused scanned serials: the pack is not complete."""
        fulfilment = self.get_fulfilment(shipment_id)
        fulfilment.serials_refused(scan, problems)
        self.save(fulfilment)
        return fulfilment.id

    def attach_label(
        self, shipment_id: uuid.UUID, *, carrier: str, service: str, tracking_number: str
    ) -> uuid.UUID:
        """Shipping bought the parcel's label."""
        fulfilment = self.get_fulfilment(shipment_id)
        fulfilment.attach_label(carrier=carrier, service=service, tracking_number=tracking_number)
        self.save(fulfilment)
        return fulfilment.id

    def confirm_shipped(
        self,
        shipment_id: uuid.UUID,
        *,
        carrier: str,
        service: str,
        tracking_number: str,
        at: datetime,
    ) -> uuid.UUID:
        """The 3PL reports the parcel handed to the carrier."""
        fulfilment = self.get_fulfilment(shipment_id)
        fulfilment.confirm_shipped(
            carrier=carrier, service=service, tracking_number=tracking_number, at=at
        )
        self.save(fulfilment)
        return fulfilment.id

    def get_fulfilment(self, shipment_id: uuid.UUID) -> Fulfilment:
        fulfilment = self.find(shipment_id)
        if fulfilment is None:
            raise UnknownFulfilment(str(shipment_id))
        return fulfilment

    def find(self, shipment_id: uuid.UUID) -> Fulfilment | None:
        try:
            fulfilment: Fulfilment = self.get(shipment_id, Fulfilment)
        except AggregateNotFoundError:
            return None
        return fulfilment

    def _exists(self, shipment_id: uuid.UUID) -> bool:
        return self.find(shipment_id) is not None
