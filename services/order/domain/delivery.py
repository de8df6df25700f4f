"""Delivery: each parcel's dispatch from its warehouse, the carrier's news of it, and its
arrival; the last one closes the order.

Pure: no I/O. A mixin of `Order`.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from services.order.domain.state import OrderState
from services.order.domain.values import Dispatch, OrderStatus, TrackingUpdate
from services.runtime.aggregate import Aggregate, DomainError


class OrderDelivery(OrderState):
    """Mixin of `Order`: its parcels from dispatch to delivery."""

    class ShipmentDispatched(Aggregate.Event):
        dispatch: Dispatch
        fully_shipped: bool

        def apply(self, order: OrderDelivery) -> None:
            order.dispatches = (*order.dispatches, self.dispatch)
            if order.status is not OrderStatus.DELIVERED:  # the carrier's news came first
                order.enter(
                    OrderStatus.SHIPPED if self.fully_shipped else OrderStatus.PARTLY_SHIPPED,
                    self.timestamp,
                )

    class ShipmentInTransit(Aggregate.Event):
        """The carrier has the parcel and it is moving."""

        shipment_id: uuid.UUID
        description: str
        at: datetime

        def apply(self, order: OrderDelivery) -> None:
            order.track(self.shipment_id, "in-transit", self.description, self.at)

    class ShipmentDelivered(Aggregate.Event):
        shipment_id: uuid.UUID
        delivered_at: datetime

        def apply(self, order: OrderDelivery) -> None:
            order.delivered = (*order.delivered, self.shipment_id)
            order.track(self.shipment_id, "delivered", "delivered", self.delivered_at)

    class Delivered(Aggregate.Event):
        """The last parcel arrived: the order is closed."""

        shipment_id: uuid.UUID
        delivered_at: datetime

        def apply(self, order: OrderDelivery) -> None:
            order.delivered = (*order.delivered, self.shipment_id)
            order.enter(OrderStatus.DELIVERED, self.timestamp)
            order.track(self.shipment_id, "delivered", "delivered", self.delivered_at)

    class DeliveryException(Aggregate.Event):
        shipment_id: uuid.UUID
        description: str
        at: datetime

        def apply(self, order: OrderDelivery) -> None:
            order.delivery_exceptions = (
                *order.delivery_exceptions,
                f"{self.at.isoformat()} {self.description}",
            )
            order.track(self.shipment_id, "exception", self.description, self.at)

    def record_dispatch(self, dispatch: Dispatch) -> None:
        """A shipment of the order left its warehouse; a repeat changes nothing."""
        if any(done.shipment_id == dispatch.shipment_id for done in self.dispatches):
            return
        if all(shipment.shipment_id != dispatch.shipment_id for shipment in self.shipments):
            raise DomainError(f"order {self.id} has no shipment {dispatch.shipment_id}")
        shipped = {done.shipment_id for done in self.dispatches} | {dispatch.shipment_id}
        nothing_left = all(s.shipment_id in shipped for s in self.shipments) and not any(
            line.quantity_backordered for line in self.allocation
        )
        self.trigger_event(self.ShipmentDispatched, dispatch=dispatch, fully_shipped=nothing_left)

    def record_delivery(self, shipment_id: uuid.UUID, delivered_at: datetime) -> None:
        """A parcel arrived; when it is the last one and nothing is backordered, the order closes.

        The carrier's news may overtake the warehouse's: a delivery counts for any parcel the order
        released, whether or not its dispatch is recorded yet.
        """
        self._check_shipment(shipment_id)
        if shipment_id in self.delivered:
            return
        arrived = {*self.delivered, shipment_id}
        closed = all(s.shipment_id in arrived for s in self.shipments) and not any(
            line.quantity_backordered for line in self.allocation
        )
        self.trigger_event(
            self.Delivered if closed else self.ShipmentDelivered,
            shipment_id=shipment_id,
            delivered_at=delivered_at,
        )

    def track(self, shipment_id: uuid.UUID, status: str, description: str, at: datetime) -> None:
        others = tuple(update for update in self.tracking if update.shipment_id != shipment_id)
        self.tracking = (*others, TrackingUpdate(shipment_id, status, description, at))

    def latest_tracking(self, shipment_id: uuid.UUID) -> TrackingUpdate | None:
        return next((u for u in self.tracking if u.shipment_id == shipment_id), None)

    def record_in_transit(self, shipment_id: uuid.UUID, description: str, at: datetime) -> None:
        """A carrier scanned a parcel on its way; news older than what the order shows is kept
        out, and a delivered parcel stays delivered."""
        self._check_shipment(shipment_id)
        latest = self.latest_tracking(shipment_id)
        if shipment_id in self.delivered or (latest is not None and latest.at >= at):
            return
        self.trigger_event(
            self.ShipmentInTransit, shipment_id=shipment_id, description=description, at=at
        )

    def record_delivery_exception(
        self, shipment_id: uuid.UUID, description: str, at: datetime
    ) -> None:
        """A carrier reported a problem with a parcel; it shows on the order."""
        self._check_shipment(shipment_id)
        self.trigger_event(
            self.DeliveryException, shipment_id=shipment_id, description=description, at=at
        )
