"""Warehouse adapter use cases: load → decide → save. They return ids, not aggregates."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from services.runtime.aggregate import DomainError, NotFound
from services.runtime.eventstore import ServiceApplication
from services.warehouse_adapter.domain import (
    Destination,
    Fulfilment,
    FulfilmentLine,
    Inbound,
    InboundLine,
    InboundReceipt,
    PackedUnit,
    ReturnReceipt,
    inbound_id_for,
    inbound_receipt_id_for,
    return_receipt_id_for,
)


@dataclass(frozen=True)
class ShipmentToFulfil:
    shipment_id: uuid.UUID
    location: str
    lines: tuple[FulfilmentLine, ...]


class UnknownFulfilment(DomainError, NotFound):
    """No fulfilment has this shipment id."""


class WarehouseAdapterApplication(ServiceApplication):
    """The bridge to 3PL warehouses: fulfilment requests out, their answers back."""

    value_objects = (FulfilmentLine, Destination, PackedUnit, InboundLine)

    def expect_inbound(
        self,
        *,
        purchase_order_id: str,
        supplier: str,
        location: str,
        expected_on: date,
        lines: tuple[InboundLine, ...],
    ) -> uuid.UUID:
        """A purchase order was confirmed: tell its warehouse what to expect, once."""
        inbound_id = inbound_id_for(purchase_order_id)
        if self._find(inbound_id, Inbound) is None:
            self.save(
                Inbound.expect(
                    purchase_order_id=purchase_order_id,
                    supplier=supplier,
                    location=location,
                    expected_on=expected_on,
                    lines=lines,
                )
            )
        return inbound_id

    def advise_inbound(
        self,
        *,
        purchase_order_id: str,
        asn_id: str,
        expected_on: date,
        lines: tuple[InboundLine, ...],
    ) -> None:
        """The supplier's ASN: tell the warehouse what the shipment carries, once."""
        inbound: Inbound | None = self._find(inbound_id_for(purchase_order_id), Inbound)
        if inbound is not None:
            inbound.advise(asn_id=asn_id, expected_on=expected_on, lines=lines)
            self.save(inbound)

    def cancel_inbound(self, purchase_order_id: str, reason: str) -> None:
        """The purchase order was cancelled: the warehouse expects nothing more under it."""
        inbound: Inbound | None = self._find(inbound_id_for(purchase_order_id), Inbound)
        if inbound is not None:
            inbound.cancel(reason)
            self.save(inbound)

    def receive_goods(
        self,
        *,
        receipt_id: str,
        purchase_order_id: str,
        asn_id: str | None,
        location: str,
        received_at: datetime,
        received_by: str,
        lines: tuple[InboundLine, ...],
    ) -> uuid.UUID:
        """A 3PL received goods under a purchase order: recorded once per receipt id, for
        inventory to receive (refused at once when no inbound is expected under the order). A
        repeat changes nothing; other goods under a known receipt id are refused with the reason.
        """
        known: InboundReceipt | None = self._find(
            inbound_receipt_id_for(receipt_id), InboundReceipt
        )
        if known is not None:
            problem = known.conflicts_with(
                purchase_order_id=purchase_order_id, asn_id=asn_id, location=location, lines=lines
            )
            if problem is not None:
                raise DomainError(problem)
            return known.id
        receipt = InboundReceipt.record(
            receipt_id=receipt_id,
            purchase_order_id=purchase_order_id,
            asn_id=asn_id,
            location=location,
            received_at=received_at,
            received_by=received_by,
            lines=lines,
            expected=self._find(inbound_id_for(purchase_order_id), Inbound),
        )
        self.save(receipt)
        return receipt.id

    def goods_receipt_rejected(self, receipt_id: str, problems: tuple[str, ...]) -> None:
        """Inventory refused a 3PL's receipt: tell the 3PL why."""
        receipt: InboundReceipt | None = self._find(
            inbound_receipt_id_for(receipt_id), InboundReceipt
        )
        if receipt is not None:
            receipt.reject(problems)
            self.save(receipt)

    def _find(self, aggregate_id: uuid.UUID, kind: type[Any]) -> Any:
        try:
            return self.get(aggregate_id, kind)
        except AggregateNotFoundError:
            return None

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
            raise UnknownFulfilment(f"no fulfilment {shipment_id}")
        return fulfilment

    def find(self, shipment_id: uuid.UUID) -> Fulfilment | None:
        try:
            fulfilment: Fulfilment = self.get(shipment_id, Fulfilment)
        except AggregateNotFoundError:
            return None
        return fulfilment

    def _exists(self, shipment_id: uuid.UUID) -> bool:
        return self.find(shipment_id) is not None
