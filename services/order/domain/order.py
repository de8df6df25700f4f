"""The order: from a channel's order to its last parcel delivered.

Pure: no I/O, no framework beyond the event-sourced aggregate base.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Self

from services.order.domain.amendment import (
    Change,
    ChangeableUntil,
    OrderContent,
    changeable_until,
    changes_between,
)
from services.order.domain.policy import FulfilmentPolicy
from services.order.domain.values import (
    ALLOCATED_STATES,
    DECIDED_STATES,
    SHIPPING_STATES,
    Address,
    Customer,
    Dispatch,
    LineAllocation,
    LineReservation,
    OrderLine,
    OrderStatus,
    ShipmentLine,
    ShipmentRequest,
    TrackingUpdate,
    shipment_id_for,
)
from services.runtime.aggregate import Aggregate, Conflict, DomainError, RecordedRefusal


class ResendRefused(RecordedRefusal):
    """A channel re-sent an order with changes its state no longer allows; the reason names them."""


class Order(Aggregate):
    """An order from a channel, deduplicated by (channel, channel order id)."""

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

    class Allocated(Aggregate.Event):
        lines: tuple[LineAllocation, ...]

        def apply(self, order: Order) -> None:
            order.allocation = self.lines
            backordered = any(line.quantity_backordered for line in self.lines)
            order.enter(
                OrderStatus.PARTLY_BACKORDERED if backordered else OrderStatus.ALLOCATED,
                self.timestamp,
            )

    class Backordered(Aggregate.Event):
        lines: tuple[LineAllocation, ...]

        def apply(self, order: Order) -> None:
            order.allocation = self.lines
            order.enter(OrderStatus.BACKORDERED, self.timestamp)

    class BackorderAllocated(Aggregate.Event):
        """Stock arrived for backordered lines; `lines` is the whole allocation after it."""

        fill: int
        lines: tuple[LineAllocation, ...]

        def apply(self, order: Order) -> None:
            order.allocation = self.lines
            order.backorder_fills = self.fill
            if order.status in (OrderStatus.BACKORDERED, *ALLOCATED_STATES):
                backordered = any(line.quantity_backordered for line in self.lines)
                order.enter(
                    OrderStatus.PARTLY_BACKORDERED if backordered else OrderStatus.ALLOCATED,
                    self.timestamp,
                )

    class Held(Aggregate.Event):
        reason: str
        actor: str

        def apply(self, order: Order) -> None:
            order.hold_reason = self.reason

    class HoldReleased(Aggregate.Event):
        actor: str
        note: str

        def apply(self, order: Order) -> None:
            order.hold_reason = None
            order.unknown_skus = ()  # a person released the order as it is

    class HeldForUnknownSkus(Aggregate.Event):
        """Lines for SKUs the PIM never registered: the order waits until it does."""

        skus: tuple[str, ...]
        reason: str
        """Everything that holds the order now, as shown and published."""

        def apply(self, order: Order) -> None:
            order.unknown_skus = self.skus

    class SkusRegistered(Aggregate.Event):
        """The PIM registered SKUs the order was waiting for."""

        skus: tuple[str, ...]
        still_held_because: str | None
        """What holds the order still (None: nothing, it goes on)."""

        def apply(self, order: Order) -> None:
            order.unknown_skus = tuple(sku for sku in order.unknown_skus if sku not in self.skus)

    class ReleasedToWarehouse(Aggregate.Event):
        """Carries everything a warehouse and a carrier need for the units allocated since the
        last release: the first release, then one per backorder fill."""

        shipments: tuple[ShipmentRequest, ...]
        ship_to: Address
        signature_required: bool
        declared_value: Decimal
        currency: str
        service_level: str = "standard"
        deliver_by: date | None = None
        """What the order promised, for the carrier's choice (releases before promises: none)."""

        def apply(self, order: Order) -> None:
            order.shipments = (*order.shipments, *self.shipments)
            order.released_at = (
                *order.released_at,
                *((shipment.shipment_id, self.timestamp) for shipment in self.shipments),
            )
            order.releases += 1
            order.signature_required = self.signature_required
            if order.status in ALLOCATED_STATES:  # a later parcel does not undo "partly shipped"
                order.enter(OrderStatus.RELEASED, self.timestamp)

    class ShipmentDispatched(Aggregate.Event):
        dispatch: Dispatch
        fully_shipped: bool

        def apply(self, order: Order) -> None:
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

        def apply(self, order: Order) -> None:
            order.track(self.shipment_id, "in-transit", self.description, self.at)

    class ShipmentDelivered(Aggregate.Event):
        shipment_id: uuid.UUID
        delivered_at: datetime

        def apply(self, order: Order) -> None:
            order.delivered = (*order.delivered, self.shipment_id)
            order.track(self.shipment_id, "delivered", "delivered", self.delivered_at)

    class Delivered(Aggregate.Event):
        """The last parcel arrived: the order is closed."""

        shipment_id: uuid.UUID
        delivered_at: datetime

        def apply(self, order: Order) -> None:
            order.delivered = (*order.delivered, self.shipment_id)
            order.enter(OrderStatus.DELIVERED, self.timestamp)
            order.track(self.shipment_id, "delivered", "delivered", self.delivered_at)

    class DeliveryException(Aggregate.Event):
        shipment_id: uuid.UUID
        description: str
        at: datetime

        def apply(self, order: Order) -> None:
            order.delivery_exceptions = (
                *order.delivery_exceptions,
                f"{self.at.isoformat()} {self.description}",
            )
            order.track(self.shipment_id, "exception", self.description, self.at)

    class Amended(Aggregate.Event):
        """The channel re-sent the order with changes its state still allows: the order is now as
        re-sent. Carries the whole new content and the changes, for the channel's feedback."""

        channel: str
        channel_order_id: str
        changes: tuple[Change, ...]
        placed_at: datetime
        customer: Customer
        shipping_address: Address
        lines: tuple[OrderLine, ...]
        currency: str
        fraud_score: float
        service_level: str = "standard"
        deliver_by: date | None = None

        def apply(self, order: Order) -> None:
            order.take_content(OrderContent.of(self))
            order.refused_changes = ()

    class AmendmentRefused(Aggregate.Event):
        """The channel re-sent the order with changes its state no longer allows; nothing of it
        was applied."""

        channel: str
        channel_order_id: str
        changes: tuple[Change, ...]
        reason: str

        def apply(self, order: Order) -> None:
            order.refused_changes = self.changes

    class Cancelled(Aggregate.Event):
        reason: str
        actor: str
        shipment_ids: tuple[uuid.UUID, ...]
        """Shipments already requested from warehouses, which must now be withdrawn."""

        def apply(self, order: Order) -> None:
            order.cancellation_reason = self.reason
            order.enter(OrderStatus.CANCELLED, self.timestamp)

    if TYPE_CHECKING:  # set by the events' apply methods; not dataclass fields of the aggregate
        channel: str
        channel_order_id: str
        placed_at: datetime
        customer: Customer
        shipping_address: Address
        lines: tuple[OrderLine, ...]
        currency: str
        fraud_score: float
        allocation: tuple[LineAllocation, ...]
        status: OrderStatus
        hold_reason: str | None
        shipments: tuple[ShipmentRequest, ...]
        signature_required: bool
        cancellation_reason: str | None
        dispatches: tuple[Dispatch, ...]
        delivered: tuple[uuid.UUID, ...]
        delivery_exceptions: tuple[str, ...]
        backorder_fills: int
        releases: int
        tracking: tuple[TrackingUpdate, ...]
        """The latest carrier news per parcel that has any."""

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

    def enter(self, status: OrderStatus, at: datetime) -> None:
        """Move to `status` at `at` (events' `apply` only); staying in a status keeps its start."""
        if getattr(self, "status", None) is not status:
            self.status = status
            self.status_since = at

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

    @staticmethod
    def check_lines(lines: tuple[OrderLine, ...]) -> None:
        """An order has lines, each of at least one unit, numbered uniquely."""
        if not lines:
            raise DomainError("an order needs at least one line")
        if any(line.quantity < 1 for line in lines):
            raise DomainError("every line needs a quantity of at least 1")
        numbers = [line.line_number for line in lines]
        if len(set(numbers)) != len(numbers):
            raise DomainError("line numbers must be unique")

    # -- state ---------------------------------------------------------------------------------

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0"))

    def line(self, line_number: int) -> OrderLine:
        for line in self.lines:
            if line.line_number == line_number:
                return line
        raise DomainError(f"order {self.id} has no line {line_number}")

    @property
    def content(self) -> OrderContent:
        """What the channel said of the order, as amended."""
        return OrderContent.of(self)

    def take_content(self, content: OrderContent) -> None:
        for name, value in content.values().items():
            setattr(self, name, value)

    # -- commands ------------------------------------------------------------------------------

    def amend(self, received: OrderContent) -> str | None:
        """Take a channel's re-send of the order: an exact repeat changes nothing; changes that
        the order's state still allows are applied together (`Amended`); if any is not allowed,
        none is, the refusal is recorded (`AmendmentRefused`, once for repeats of one re-send)
        and its reason, naming each difference, is returned for the caller to report.

        What depends on the changed facts is decided again by construction: lines, currency,
        fraud score and country change only before payment, which decides everything that
        depends on them; the address and the customer are read at release.
        """
        changes = changes_between(self.content, received)
        if not changes:
            return None
        refused = [(change, self._refusal(change)) for change in changes]
        refused = [(change, why) for change, why in refused if why is not None]
        if not refused:
            self.check_lines(received.lines)
            self.trigger_event(
                self.Amended,
                channel=self.channel,
                channel_order_id=self.channel_order_id,
                changes=changes,
                **received.values(),
            )
            return None
        reason = f"re-send of {self.channel}:{self.channel_order_id} refused: " + "; ".join(
            f"{change} {why}" for change, why in refused
        )
        if changes != self.refused_changes:
            self.trigger_event(
                self.AmendmentRefused,
                channel=self.channel,
                channel_order_id=self.channel_order_id,
                changes=changes,
                reason=reason,
            )
        return reason

    def _refusal(self, change: Change) -> str | None:
        """Why this change may not be applied now; None when it may."""
        if self.status is OrderStatus.CANCELLED:
            return "(the order is cancelled)"
        until = changeable_until(change)
        if until is ChangeableUntil.PAYMENT and self.status is not OrderStatus.PLACED:
            return f"{until} (the order is {self.status})"
        if until is ChangeableUntil.RELEASE and self.releases:
            return f"{until} (the order is {self.status})"
        return None

    def released_at_of(self, shipment_id: uuid.UUID) -> datetime | None:
        """When the parcel was released to its warehouse; None for a parcel of another order."""
        return next((at for shipment, at in self.released_at if shipment == shipment_id), None)

    def waiting_at_warehouse(self, shipment_id: uuid.UUID, now: datetime) -> timedelta | None:
        """How long the warehouse has had the parcel without shipping it; None once it shipped
        (or the order was cancelled): a long wait is a 3PL that stopped answering."""
        released = self.released_at_of(shipment_id)
        shipped = any(dispatch.shipment_id == shipment_id for dispatch in self.dispatches)
        if released is None or shipped or self.status is OrderStatus.CANCELLED:
            return None
        return now - released

    @property
    def on_hold(self) -> bool:
        return self.hold_reason is not None or bool(self.unknown_skus)

    @property
    def holding_reasons(self) -> str | None:
        """Everything that holds the order, as a person reads it (None: nothing)."""
        return self._reasons_with(self.unknown_skus)

    def _reasons_with(self, unknown_skus: Collection[str]) -> str | None:
        unknown = [
            f"unknown-sku: line {line.line_number} ({line.sku}) is not registered in the PIM"
            for line in self.lines
            if line.sku in unknown_skus
        ]
        general = [self.hold_reason] if self.hold_reason is not None else []
        return "; ".join(general + unknown) or None

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

    def recognise_skus(self, registered: Collection[str], policy: FulfilmentPolicy) -> None:
        """The PIM registered these SKUs: the order stops waiting for them, and when nothing else
        holds it, what is allocated goes to the warehouse. SKUs it does not wait for change
        nothing."""
        known = tuple(sku for sku in self.unknown_skus if sku in registered)
        if not known or self.status is OrderStatus.CANCELLED:
            return
        remaining = [sku for sku in self.unknown_skus if sku not in known]
        self.trigger_event(
            self.SkusRegistered, skus=known, still_held_because=self._reasons_with(remaining)
        )
        self._release_to_warehouse(policy)

    def hold(self, *, reason: str, actor: str) -> None:
        """Stop the order from going further (no release, no label) until the hold is released."""
        self._check_open("put on hold")
        if self.hold_reason is not None:
            raise Conflict(f"order {self.id} is already on hold: {self.holding_reasons}")
        if not reason.strip() or not actor.strip():
            raise DomainError("a hold needs a reason and an actor")
        self.trigger_event(self.Held, reason=reason, actor=actor)

    def release_hold(self, *, actor: str, note: str, policy: FulfilmentPolicy) -> None:
        """Lift every hold, also the wait for SKUs unknown to the PIM (a person decides that the
        lines ship as they are, e.g. a gift card the PIM does not know); an order already allocated
        goes to the warehouse now."""
        self._check_open("released from hold")
        if not self.on_hold:
            raise Conflict(f"order {self.id} is not on hold")
        if not actor.strip():
            raise DomainError("releasing a hold needs an actor")
        self.trigger_event(self.HoldReleased, actor=actor, note=note)
        self._release_to_warehouse(policy)

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

    def _check_shipment(self, shipment_id: uuid.UUID) -> None:
        if all(shipment.shipment_id != shipment_id for shipment in self.shipments):
            raise DomainError(f"order {self.id} has no shipment {shipment_id}")

    def _check_open(self, action: str) -> None:
        if self.status is OrderStatus.CANCELLED:
            raise Conflict(f"order {self.id} is cancelled and cannot be {action}")
        if self.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED):
            raise Conflict(f"order {self.id} is {self.status} and cannot be {action}")

    def record_reservation(
        self, reservations: tuple[LineReservation, ...], policy: FulfilmentPolicy
    ) -> None:
        """Allocate the order from what inventory reserved; the rest of each line is backordered.

        An allocated order that is not on hold is released to the warehouse at once.
        """
        if self.status in (*DECIDED_STATES, OrderStatus.CANCELLED):
            return  # decided already, or cancelled: inventory releases what it reserved
        if self.status is not OrderStatus.PAID:
            raise Conflict(f"order {self.id} is {self.status}, stock is reserved once paid")
        allocations = self._allocations_from(reservations)
        if all(allocation.quantity_allocated == 0 for allocation in allocations):
            self.trigger_event(self.Backordered, lines=tuple(allocations))
            return
        self.trigger_event(self.Allocated, lines=allocations)
        self._release_to_warehouse(policy)

    def record_backorder_fill(
        self, fill: int, reservations: tuple[LineReservation, ...], policy: FulfilmentPolicy
    ) -> None:
        """Stock arrived for backordered lines: allocate it, and (unless the order is on hold)
        release it as a later shipment. A repeat of the same fill changes nothing."""
        if self.status is OrderStatus.CANCELLED or fill <= self.backorder_fills:
            return  # inventory releases what it reserved for a cancelled order
        if self.status not in DECIDED_STATES:
            raise Conflict(f"order {self.id} is {self.status} and has no backorder to fill")
        allocations = self._allocations_from(reservations)
        for before, after in zip(self.allocation, allocations, strict=True):
            if after.quantity_allocated < before.quantity_allocated:
                raise DomainError(f"line {after.line_number}: a fill cannot take units away")
        self.trigger_event(self.BackorderAllocated, fill=fill, lines=allocations)
        self._release_to_warehouse(policy)

    def _allocations_from(
        self, reservations: tuple[LineReservation, ...]
    ) -> tuple[LineAllocation, ...]:
        by_line = {reservation.line_number: reservation for reservation in reservations}
        if set(by_line) != {line.line_number for line in self.lines}:
            raise DomainError(f"the reservation for order {self.id} does not match its lines")
        allocations = []
        for line in self.lines:
            reservation = by_line[line.line_number]
            if reservation.sku != line.sku:
                raise DomainError(f"line {line.line_number} is {line.sku}, not {reservation.sku}")
            if reservation.quantity_reserved + reservation.quantity_short != line.quantity:
                raise DomainError(f"line {line.line_number}: reserved and short ≠ ordered")
            allocations.append(
                LineAllocation(
                    line_number=line.line_number,
                    sku=line.sku,
                    quantity_ordered=line.quantity,
                    quantity_allocated=reservation.quantity_reserved,
                    quantity_backordered=reservation.quantity_short,
                    allocations=reservation.allocations,
                    components=reservation.components,
                )
            )
        return tuple(allocations)

    def _unreleased(self) -> dict[str, list[ShipmentLine]]:
        """Allocated units not yet in any shipment, by location."""
        released: dict[tuple[int, str], int] = {}
        for shipment in self.shipments:
            for item in shipment.lines:
                key = (item.line_number, shipment.location)
                released[key] = released.get(key, 0) + item.quantity
        by_location: dict[str, list[ShipmentLine]] = {}
        for line in self.allocation:
            for part in line.allocations:
                rest = part.quantity - released.get((line.line_number, part.location), 0)
                if rest > 0:
                    by_location.setdefault(part.location, []).append(
                        ShipmentLine(line.line_number, line.sku, rest, line.components)
                    )
        return by_location

    def _release_to_warehouse(self, policy: FulfilmentPolicy) -> None:
        """Send the warehouses what is allocated and not yet sent, unless the order is on hold."""
        by_location = self._unreleased()
        if self.on_hold or not by_location:
            return
        wave = self.releases + 1
        shipments = tuple(
            ShipmentRequest(
                shipment_id_for(self.id, location, wave),
                location,
                tuple(lines),
                sum(
                    (self.line(line.line_number).unit_price * line.quantity for line in lines),
                    Decimal("0"),
                ),
            )
            for location, lines in sorted(by_location.items())
        )
        self.trigger_event(
            self.ReleasedToWarehouse,
            shipments=shipments,
            ship_to=self.shipping_address,
            signature_required=self.total > policy.signature_over,
            declared_value=sum((shipment.declared_value for shipment in shipments), Decimal("0")),
            currency=self.currency,
            service_level=self.service_level,
            deliver_by=self.deliver_by,
        )
