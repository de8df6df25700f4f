"""What the inventory service consumes: paid orders, to reserve their stock."""

from __future__ import annotations

from contracts.envelope import Envelope
from contracts.order import OrderPaid
from services.inventory import translators
from services.inventory.application import InventoryApplication
from services.runtime.consumer import Consumer


def register_handlers(consumer: Consumer, inventory: InventoryApplication) -> None:
    @consumer.on_event(OrderPaid, producer="order")
    def order_paid(event: OrderPaid, _: Envelope) -> None:
        inventory.reserve_for_order(event.order_id, translators.requested_lines(event))
