"""Order domain ↔ public contracts. Pure functions."""

from __future__ import annotations

import functools
from dataclasses import asdict
from decimal import Decimal
from typing import Any, Literal

from contracts import inventory as inventory_contracts
from contracts import order as contracts
from contracts.base import IntegrationEvent
from contracts.channel import ChannelOrderMessage, order_id_for
from contracts.warehouse import ShipmentConfirmed
from services.order.application import OrderIntake
from services.order.domain import (
    Address,
    Change,
    Customer,
    Dispatch,
    KitComponent,
    LineAllocation,
    LineReservation,
    LocationQuantity,
    Order,
    OrderLine,
)
from services.order.domain.erasure import CustomerErasure

CATALOGUE_RULES = "catalogue-rules"
"""Who holds an order for SKUs the PIM never registered, and releases it when it does."""


def intake_from_channel(message: ChannelOrderMessage) -> OrderIntake:
    """A channel message as the order model; lines are numbered in the order the channel sent."""
    address = message.shipping_address
    return OrderIntake(
        order_id=order_id_for(message.channel, message.channel_order_id),
        channel=message.channel,
        channel_order_id=message.channel_order_id,
        placed_at=message.placed_at,
        customer=Customer(
            customer_id=message.customer.customer_id,
            name=message.customer.name,
            email=str(message.customer.email),
        ),
        shipping_address=Address(
            name=address.name,
            line1=address.line1,
            line2=address.line2,
            city=address.city,
            region=address.region,
            postal_code=address.postal_code,
            country=address.country,
        ),
        lines=tuple(
            OrderLine(
                line_number=number,
                sku=line.sku,
                quantity=line.quantity,
                unit_price=line.unit_price,
            )
            for number, line in enumerate(message.lines, start=1)
        ),
        currency=message.currency,
        fraud_score=message.fraud_score,
        paid=message.payment_status == "paid",
        cancelled=message.order_status == "cancelled",
        service_level=message.service_level,
        deliver_by=message.deliver_by,
    )


def reservations_from_inventory(
    event: inventory_contracts.ReservationDecision,
) -> tuple[LineReservation, ...]:
    return tuple(
        LineReservation(
            line_number=line.line_number,
            sku=line.sku,
            quantity_reserved=line.quantity_reserved,
            quantity_short=line.quantity_short,
            allocations=tuple(
                LocationQuantity(location=item.location, quantity=item.quantity)
                for item in line.allocations
            ),
            components=tuple(
                KitComponent(sku=component.sku, quantity_per_kit=component.quantity_per_kit)
                for component in line.components
            ),
        )
        for line in event.lines
    )


def dispatch_of(event: ShipmentConfirmed) -> Dispatch:
    return Dispatch(
        shipment_id=event.shipment_id,
        location=event.location,
        carrier=event.carrier,
        service=event.service,
        tracking_number=event.tracking_number,
        serials=tuple(unit.serial for unit in event.units if unit.serial is not None),
    )


def _lines(lines: tuple[OrderLine, ...]) -> list[contracts.OrderLine]:
    return [
        contracts.OrderLine(
            line_number=line.line_number,
            sku=line.sku,
            quantity=line.quantity,
            unit_price=line.unit_price,
        )
        for line in lines
    ]


def _total(lines: tuple[OrderLine, ...]) -> Decimal:
    return sum((line.amount for line in lines), Decimal("0"))


def _allocated(lines: tuple[LineAllocation, ...]) -> list[contracts.AllocatedLine]:
    return [
        contracts.AllocatedLine(
            line_number=line.line_number,
            sku=line.sku,
            quantity_ordered=line.quantity_ordered,
            quantity_allocated=line.quantity_allocated,
            quantity_backordered=line.quantity_backordered,
            allocations=[
                contracts.LocationQuantity(location=item.location, quantity=item.quantity)
                for item in line.allocations
            ],
        )
        for line in lines
    ]


def _changes(changes: tuple[Change, ...]) -> list[contracts.OrderChange]:
    return [
        contracts.OrderChange(field=c.field, recorded=c.recorded, received=c.received)
        for c in changes
    ]


@functools.singledispatch
def to_feedback(event: object) -> contracts.ChannelOrderFeedback | None:
    """What the channel's connector learns of a recorded order event (None: nothing)."""
    return None


def _feedback(
    event: Order.Placed | Order.Amended | Order.AmendmentRefused,
    outcome: Literal["accepted", "amended", "rejected"],
    changes: tuple[Change, ...] = (),
    reason: str | None = None,
) -> contracts.ChannelOrderFeedback:
    return contracts.ChannelOrderFeedback(
        channel=event.channel,
        channel_order_id=event.channel_order_id,
        order_id=event.originator_id,
        outcome=outcome,
        changes=_changes(changes),
        reason=reason,
    )


@to_feedback.register
def _accepted(event: Order.Placed) -> contracts.ChannelOrderFeedback:
    return _feedback(event, "accepted")


@to_feedback.register
def _amended_feedback(event: Order.Amended) -> contracts.ChannelOrderFeedback:
    return _feedback(event, "amended", event.changes)


@to_feedback.register
def _refused_feedback(event: Order.AmendmentRefused) -> contracts.ChannelOrderFeedback:
    return _feedback(event, "rejected", event.changes, event.reason)


def feedback_key(feedback: contracts.ChannelOrderFeedback) -> str:
    """Keyed like the channel's messages, so a connector reads an order's outcomes in order."""
    return f"{feedback.channel}:{feedback.channel_order_id}"


def _order_content(event: Order.Placed | Order.Amended) -> dict[str, Any]:
    """The fields an order's placement and its amendments publish alike."""
    return {
        "order_id": event.originator_id,
        "channel": event.channel,
        "channel_order_id": event.channel_order_id,
        "placed_at": event.placed_at,
        "customer": asdict(event.customer),
        "shipping_address": asdict(event.shipping_address),
        "lines": _lines(event.lines),
        "currency": event.currency,
        "order_total": _total(event.lines),
        "fraud_score": event.fraud_score,
        "service_level": event.service_level,
        "deliver_by": event.deliver_by,
    }


@functools.singledispatch
def to_contract(event: object) -> IntegrationEvent:
    """The public event for a recorded order event (a function per event class, registered
    below)."""
    raise TypeError(f"no contract for order event {type(event).__qualname__}")


@to_contract.register
def _placed(event: Order.Placed) -> contracts.OrderPlaced:
    return contracts.OrderPlaced(**_order_content(event))


@to_contract.register
def _paid(event: Order.Paid) -> contracts.OrderPaid:
    return contracts.OrderPaid(
        order_id=event.originator_id,
        lines=_lines(event.lines),
        shipping_country=event.shipping_country,
        currency=event.currency,
        order_total=_total(event.lines),
    )


@to_contract.register
def _allocated_order(event: Order.Allocated) -> contracts.OrderAllocated:
    return contracts.OrderAllocated(
        order_id=event.originator_id,
        lines=_allocated(event.lines),
        fully_allocated=not any(line.quantity_backordered for line in event.lines),
    )


@to_contract.register
def _backordered(event: Order.Backordered) -> contracts.OrderBackordered:
    return contracts.OrderBackordered(order_id=event.originator_id, lines=_allocated(event.lines))


@to_contract.register
def _backorder_allocated(event: Order.BackorderAllocated) -> contracts.OrderBackorderAllocated:
    return contracts.OrderBackorderAllocated(
        order_id=event.originator_id,
        fill=event.fill,
        lines=_allocated(event.lines),
        fully_allocated=not any(line.quantity_backordered for line in event.lines),
    )


@to_contract.register
def _held(event: Order.Held) -> contracts.OrderHeld:
    return contracts.OrderHeld(order_id=event.originator_id, reason=event.reason, actor=event.actor)


@to_contract.register
def _held_for_unknown_skus(event: Order.HeldForUnknownSkus) -> contracts.OrderHeld:
    return contracts.OrderHeld(
        order_id=event.originator_id, reason=event.reason, actor=CATALOGUE_RULES
    )


@to_contract.register
def _skus_registered(
    event: Order.SkusRegistered,
) -> contracts.OrderHeld | contracts.OrderHoldReleased:
    if event.still_held_because is not None:
        return contracts.OrderHeld(
            order_id=event.originator_id, reason=event.still_held_because, actor=CATALOGUE_RULES
        )
    return contracts.OrderHoldReleased(
        order_id=event.originator_id,
        actor=CATALOGUE_RULES,
        note=f"registered in the PIM: {', '.join(event.skus)}",
    )


@to_contract.register
def _hold_released(event: Order.HoldReleased) -> contracts.OrderHoldReleased:
    return contracts.OrderHoldReleased(
        order_id=event.originator_id, actor=event.actor, note=event.note
    )


@to_contract.register
def _released_to_warehouse(event: Order.ReleasedToWarehouse) -> contracts.OrderReleasedToWarehouse:
    return contracts.OrderReleasedToWarehouse(
        order_id=event.originator_id,
        shipments=[
            contracts.Shipment(
                shipment_id=shipment.shipment_id,
                location=shipment.location,
                lines=[
                    contracts.ShipmentLine(
                        line_number=line.line_number,
                        sku=line.sku,
                        quantity=line.quantity,
                        components=[
                            contracts.KitComponent(
                                sku=component.sku, quantity_per_kit=component.quantity_per_kit
                            )
                            for component in line.components
                        ],
                    )
                    for line in shipment.lines
                ],
                declared_value=shipment.declared_value,
            )
            for shipment in event.shipments
        ],
        ship_to=asdict(event.ship_to),
        signature_required=event.signature_required,
        declared_value=event.declared_value,
        currency=event.currency,
        service_level=event.service_level,
        deliver_by=event.deliver_by,
    )


@to_contract.register
def _shipment_dispatched(event: Order.ShipmentDispatched) -> contracts.OrderShipmentDispatched:
    dispatch = event.dispatch
    return contracts.OrderShipmentDispatched(
        order_id=event.originator_id,
        shipment_id=dispatch.shipment_id,
        location=dispatch.location,
        carrier=dispatch.carrier,
        service=dispatch.service,
        tracking_number=dispatch.tracking_number,
        serials=list(dispatch.serials),
        fully_shipped=event.fully_shipped,
    )


@to_contract.register
def _delivered(event: Order.Delivered) -> contracts.OrderDelivered:
    return contracts.OrderDelivered(
        order_id=event.originator_id,
        shipment_id=event.shipment_id,
        delivered_at=event.delivered_at,
    )


@to_contract.register
def _shipment_in_transit(event: Order.ShipmentInTransit) -> contracts.OrderShipmentInTransit:
    return contracts.OrderShipmentInTransit(
        order_id=event.originator_id,
        shipment_id=event.shipment_id,
        description=event.description,
        at=event.at,
    )


@to_contract.register
def _shipment_delivered(event: Order.ShipmentDelivered) -> contracts.OrderShipmentDelivered:
    return contracts.OrderShipmentDelivered(
        order_id=event.originator_id,
        shipment_id=event.shipment_id,
        delivered_at=event.delivered_at,
    )


@to_contract.register
def _delivery_exception(event: Order.DeliveryException) -> contracts.OrderDeliveryException:
    return contracts.OrderDeliveryException(
        order_id=event.originator_id,
        shipment_id=event.shipment_id,
        description=event.description,
        at=event.at,
    )


@to_contract.register
def _amended(event: Order.Amended) -> contracts.OrderAmended:
    return contracts.OrderAmended(**_order_content(event), changes=_changes(event.changes))


@to_contract.register
def _amendment_refused(event: Order.AmendmentRefused) -> contracts.OrderAmendmentRefused:
    return contracts.OrderAmendmentRefused(
        order_id=event.originator_id,
        channel=event.channel,
        channel_order_id=event.channel_order_id,
        changes=_changes(event.changes),
        reason=event.reason,
    )


@to_contract.register
def _forgotten(event: CustomerErasure.Forgotten) -> contracts.CustomerForgotten:
    return contracts.CustomerForgotten(customer_id=event.customer_id, actor=event.actor)


@to_contract.register
def _forgotten_again(event: CustomerErasure.ForgottenAgain) -> contracts.CustomerForgotten:
    return contracts.CustomerForgotten(customer_id=event.customer_id, actor=event.actor)


@to_contract.register
def _cancelled(event: Order.Cancelled) -> contracts.OrderCancelled:
    return contracts.OrderCancelled(
        order_id=event.originator_id,
        reason=event.reason,
        actor=event.actor,
        shipment_ids=list(event.shipment_ids),
    )
