"""What the inventory service consumes: paid orders to reserve for, cancelled ones to release,
pack scans to check, shipments to take out of stock."""

from __future__ import annotations

from contracts.envelope import Envelope
from contracts.order import OrderCancelled, OrderPaid
from contracts.warehouse import ShipmentConfirmed, UnitsScanned
from services.inventory import translators
from services.inventory.application import InventoryApplication
from services.runtime.consumer import Consumer


def register_handlers(consumer: Consumer, inventory: InventoryApplication) -> None:
    @consumer.on_event(OrderPaid, producer="order")
    def order_paid(event: OrderPaid, _: Envelope) -> None:
        inventory.reserve_for_order(event.order_id, translators.requested_lines(event))

    @consumer.on_event(OrderCancelled, producer="order")
    def order_cancelled(event: OrderCancelled, _: Envelope) -> None:
        inventory.release_for_order(event.order_id, reason=f"order cancelled: {event.reason}")

    @consumer.on_event(UnitsScanned, producer="warehouse_adapter")
    def units_scanned(event: UnitsScanned, _: Envelope) -> None:
        inventory.check_pack_scan(
            shipment_id=event.shipment_id,
            order_id=event.order_id,
            location=event.location,
            scan=event.scan,
            units=translators.scanned_units(event.units),
        )

    @consumer.on_event(ShipmentConfirmed, producer="warehouse_adapter")
    def shipment_confirmed(event: ShipmentConfirmed, _: Envelope) -> None:
        inventory.ship(
            order_id=event.order_id,
            shipment_id=event.shipment_id,
            location=event.location,
            units=translators.scanned_units(event.units),
        )
