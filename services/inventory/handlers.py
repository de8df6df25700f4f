"""What the inventory service consumes: paid orders to reserve for, cancelled ones to release."""

from __future__ import annotations

from contracts.envelope import Envelope
from contracts.order import OrderCancelled, OrderPaid
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
