"""What the warehouse adapter consumes: orders released to warehouses, and cancellations."""

from __future__ import annotations

from contracts.envelope import Envelope
from contracts.order import OrderCancelled, OrderReleasedToWarehouse
from services.runtime.consumer import Consumer
from services.warehouse_adapter import translators
from services.warehouse_adapter.application import WarehouseAdapterApplication


def register_handlers(consumer: Consumer, warehouse: WarehouseAdapterApplication) -> None:
    @consumer.on_event(OrderReleasedToWarehouse, producer="order")
    def order_released(event: OrderReleasedToWarehouse, _: Envelope) -> None:
        warehouse.request_fulfilment(
            event.order_id,
            translators.shipments_of(event),
            translators.destination_of(event),
            event.signature_required,
        )

    @consumer.on_event(OrderCancelled, producer="order")
    def order_cancelled(event: OrderCancelled, _: Envelope) -> None:
        warehouse.cancel_fulfilments(event.shipment_ids, reason=f"order cancelled: {event.reason}")
