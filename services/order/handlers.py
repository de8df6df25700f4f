"""What the order service consumes: channel orders, inventory's reservation decisions and
backorder fills, the warehouses' dispatches, the carriers' deliveries and the PIM's catalogue
entries per market (where each variant may be sold)."""

from __future__ import annotations

from contracts.channel import ChannelOrderMessage
from contracts.envelope import Envelope
from contracts.inventory import BackorderFilled, StockReserved, StockShortage
from contracts.pim import ProductRegistered
from contracts.shipping import ShipmentDelivered, ShipmentException, ShipmentInTransit
from contracts.topics import CHANNEL_ORDERS
from contracts.warehouse import ShipmentConfirmed
from services.order import translators
from services.order.application import OrderApplication
from services.runtime.consumer import Consumer
from services.runtime.deadletters import PersonalDataSealing


def register_handlers(consumer: Consumer, orders: OrderApplication) -> None:
    # Channels' messages hold customers' data in clear: dead letters keep it sealed, as the store.
    consumer.dead_letters.personal_data = PersonalDataSealing(
        lambda customer_id: orders.customer_keys.sealer(customer_id),
        lambda customer_id: orders.customer_keys.key(customer_id),
    )

    @consumer.on_message(
        CHANNEL_ORDERS,
        ChannelOrderMessage,
        correlation_id=lambda message: f"{message.channel}:{message.channel_order_id}",
        causation_id=lambda message: (
            f"{message.channel}:{message.channel_order_id}:{message.payment_status}"
        ),
    )
    def channel_order_received(message: ChannelOrderMessage) -> None:
        orders.receive_channel_order(translators.intake_from_channel(message))

    @consumer.on_event(StockReserved, producer="inventory")
    def stock_reserved(event: StockReserved, _: Envelope) -> None:
        orders.record_reservation(event.order_id, translators.reservations_from_inventory(event))

    @consumer.on_event(StockShortage, producer="inventory")
    def stock_short(event: StockShortage, _: Envelope) -> None:
        orders.record_reservation(event.order_id, translators.reservations_from_inventory(event))

    @consumer.on_event(BackorderFilled, producer="inventory")
    def backorder_filled(event: BackorderFilled, _: Envelope) -> None:
        orders.record_backorder_fill(
            event.order_id, event.fill, translators.reservations_from_inventory(event)
        )

    @consumer.on_event(ShipmentConfirmed, producer="warehouse_adapter")
    def shipment_confirmed(event: ShipmentConfirmed, _: Envelope) -> None:
        orders.record_dispatch(event.order_id, translators.dispatch_of(event))

    @consumer.on_event(ShipmentInTransit, producer="shipping")
    def parcel_moving(event: ShipmentInTransit, _: Envelope) -> None:
        orders.record_in_transit(event.order_id, event.shipment_id, event.description, event.at)

    @consumer.on_event(ShipmentDelivered, producer="shipping")
    def parcel_delivered(event: ShipmentDelivered, _: Envelope) -> None:
        orders.record_delivery(event.order_id, event.shipment_id, event.at)

    @consumer.on_event(ShipmentException, producer="shipping")
    def parcel_in_trouble(event: ShipmentException, _: Envelope) -> None:
        orders.record_delivery_exception(
            event.order_id, event.shipment_id, event.description, event.at
        )

    # The PIM's catalogue is a read model only, consumed from its declaration (`projections.py`);
    # a registration also releases the orders that waited for the SKU.
    @consumer.on_event(ProductRegistered, producer="pim")
    def product_registered(event: ProductRegistered, envelope: Envelope) -> None:
        orders.register_product(event, envelope)
