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
    CycleCount,
    Damage,
    Destination,
    Fulfilment,
    FulfilmentLine,
    Inbound,
    InboundLine,
    InboundReceipt,
    PackedUnit,
    ReturnReceipt,
    ShelfReport,
    Transfer,
    TransferArrival,
    inbound_id_for,
    inbound_receipt_id_for,
    return_receipt_id_for,
    shelf_report_id_for,
    warehouse_transfer_id_for,
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

    value_objects = (
        FulfilmentLine,
        Destination,
        PackedUnit,
        InboundLine,
        TransferArrival,
        CycleCount,
        Damage,
    )

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

    def request_transfer(
        self,
        *,
        transfer_id: uuid.UUID,
        sku: str,
        from_location: str,
        to_location: str,
        quantity: int,
        serials: tuple[str, ...],
        reason: str | None,
    ) -> uuid.UUID:
        """Inventory dispatched a transfer: tell both warehouses (the origin sends, the
        destination expects), once."""
        known: Transfer | None = self._find(warehouse_transfer_id_for(transfer_id), Transfer)
        if known is not None:
            return known.id
        transfer = Transfer.request(
            transfer_id=transfer_id,
            sku=sku,
            from_location=from_location,
            to_location=to_location,
            quantity=quantity,
            serials=serials,
            reason=reason,
        )
        self.save(transfer)
        return transfer.id

    def receive_transfer(self, transfer_id: uuid.UUID, sku: str, arrival: TransferArrival) -> None:
        """The destination's 3PL reports a transfer's units arrived: recorded once, for inventory
        to book in. Refused with the reason when no such transfer was requested or the arrival
        does not fit it."""
        transfer: Transfer | None = self._find(warehouse_transfer_id_for(transfer_id), Transfer)
        if transfer is None:
            raise DomainError(f"no transfer {transfer_id} was requested of any warehouse")
        transfer.arrive(sku, arrival)
        self.save(transfer)

    def record_shelf_report(
        self,
        *,
        report_id: str,
        location: str,
        sku: str,
        reported_at: datetime,
        reported_by: str,
        finding: CycleCount | Damage,
    ) -> uuid.UUID:
        """A 3PL's cycle count or damage found on its shelves: recorded once per report id, for
        inventory to book; a different report under a known id is refused with the reason."""
        known: ShelfReport | None = self._find(shelf_report_id_for(report_id), ShelfReport)
        if known is not None:
            problem = known.conflicts_with(location=location, sku=sku, finding=finding)
            if problem is not None:
                raise DomainError(problem)
            return known.id
        report = ShelfReport.record(
            report_id=report_id,
            location=location,
            sku=sku,
            reported_at=reported_at,
            reported_by=reported_by,
            finding=finding,
        )
        self.save(report)
        return report.id

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
