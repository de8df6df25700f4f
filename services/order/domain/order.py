"""The order: from a channel's order to its last parcel delivered.

Pure: no I/O, no framework beyond the event-sourced aggregate base. The aggregate is one class; its
state and queries are in `state`, and its commands after payment in their own modules as mixins
(`allocation`, `holds`, `delivery`, `resends`), each with its events and rules.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Self

from services.order.domain.allocation import OrderAllocation
from services.order.domain.amendment import Change, OrderContent
from services.order.domain.delivery import OrderDelivery
from services.order.domain.holds import OrderHolds
from services.order.domain.policy import FulfilmentPolicy
from services.order.domain.resends import OrderResends
from services.order.domain.values import (
    SHIPPING_STATES,
    Address,
    Customer,
    OrderLine,
    OrderStatus,
)
from services.runtime.aggregate import Aggregate, Conflict, DomainError


class Order(OrderResends, OrderHolds, OrderAllocation, OrderDelivery, Aggregate):
    """An order from a channel, deduplicated by (channel, channel order id).

    The command mixins stay direct bases: the library redefines the events of direct bases as
    `Order.<Event>`, which is the topic they are stored under, wherever they are written.
    """

    class Placed(Aggregate.Created):
        channel: str
        channel_order_id: str
        placed_at: datetime
        customer: Customer
        shipping_address: Address
        lines: tuple[OrderLine, ...]
        currency: str
        fraud_score: float
        service_level: str = "standard"
        deliver_by: date | None = None
        """Orders placed before delivery promises: standard, no date."""

        def apply(self, order: Order) -> None:
            order.channel = self.channel
            order.channel_order_id = self.channel_order_id
            order.take_content(OrderContent.of(self))
            order.allocation = ()
            order.enter(OrderStatus.PLACED, self.timestamp)
            order.hold_reason = None
            order.shipments = ()
            order.signature_required = False
            order.cancellation_reason = None
            order.dispatches = ()
            order.delivered = ()
            order.delivery_exceptions = ()
            order.backorder_fills = 0
            order.releases = 0
            order.tracking = ()

    class Paid(Aggregate.Event):
        """Carries what fulfilment needs, so consumers never have to look the order up."""

        lines: tuple[OrderLine, ...]
        shipping_country: str
        currency: str

        def apply(self, order: Order) -> None:
            order.enter(OrderStatus.PAID, self.timestamp)

    class Cancelled(Aggregate.Event):
        reason: str
        actor: str
        shipment_ids: tuple[uuid.UUID, ...]
        """Shipments already requested from warehouses, which must now be withdrawn."""

        def apply(self, order: Order) -> None:
            order.cancellation_reason = self.reason
            order.enter(OrderStatus.CANCELLED, self.timestamp)

    # State that orders recorded before it existed start from (a default, not an event field).
    service_level: str = "standard"
    deliver_by: date | None = None
    refused_changes: tuple[Change, ...] = ()
    """The changes of the last re-send refused, so a repeat of it is recorded once."""
    released_at: tuple[tuple[uuid.UUID, datetime], ...] = ()
    """When each parcel was released to its warehouse (the release's time)."""
    unknown_skus: tuple[str, ...] = ()
    """SKUs of its lines that the PIM had not registered when the order was paid, and still has
    not: the order is held until it does (`unknown-sku`)."""
    status_since: datetime | None = None
    """When the order entered its current status (an event that leaves the status as it was does
    not move it): an order long in one status is stuck somewhere."""

    @classmethod
    def place(
        cls,
        *,
        order_id: uuid.UUID,
        channel: str,
        channel_order_id: str,
        placed_at: datetime,
        customer: Customer,
        shipping_address: Address,
        lines: tuple[OrderLine, ...],
        currency: str,
        fraud_score: float,
        service_level: str = "standard",
        deliver_by: date | None = None,
    ) -> Self:
        cls.check_lines(lines)
        return cls._create(
            cls.Placed,
            id=order_id,
            channel=channel,
            channel_order_id=channel_order_id,
            placed_at=placed_at,
            customer=customer,
            shipping_address=shipping_address,
            lines=lines,
            currency=currency,
            fraud_score=fraud_score,
            service_level=service_level,
            deliver_by=deliver_by,
        )

    def mark_paid(
        self,
        policy: FulfilmentPolicy,
        ineligible_lines: Sequence[str] = (),
        unknown_skus: Collection[str] = (),
    ) -> None:
        """Record the payment; a risky order, or one with lines that may not be sold in the
        destination's market (`ineligible_lines`: why, per line), goes on hold; so does one with
        lines for SKUs the PIM never registered (`unknown_skus`), until it does. A repeat of the
        same fact changes nothing."""
        if self.status is not OrderStatus.PLACED:
            return
        self.trigger_event(
            self.Paid,
            lines=self.lines,
            shipping_country=self.shipping_address.country,
            currency=self.currency,
        )
        reasons, actor = list(ineligible_lines), "market-rules"
        if self.fraud_score >= policy.fraud_hold_score:
            reasons.insert(
                0, f"fraud score {self.fraud_score:g} is at or above {policy.fraud_hold_score:g}"
            )
            actor = "order-rules" if ineligible_lines else "fraud-rules"
        if reasons:
            self.trigger_event(self.Held, reason="; ".join(reasons), actor=actor)
        unknown = tuple(sorted({line.sku for line in self.lines if line.sku in unknown_skus}))
        if unknown:
            reason = self._reasons_with(unknown)
            self.trigger_event(self.HeldForUnknownSkus, skus=unknown, reason=reason)

    def cancel(self, *, reason: str, actor: str) -> None:
        """Cancel before shipment; inventory releases what it reserved. Cancelling twice is one."""
        if self.status is OrderStatus.CANCELLED:
            return
        if self.status in SHIPPING_STATES:
            raise Conflict(f"order {self.id} has shipped and can no longer be cancelled")
        if not reason.strip() or not actor.strip():
            raise DomainError("a cancellation needs a reason and an actor")
        self.trigger_event(
            self.Cancelled,
            reason=reason,
            actor=actor,
            shipment_ids=tuple(shipment.shipment_id for shipment in self.shipments),
        )
