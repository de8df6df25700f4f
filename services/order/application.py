"""Order use cases: load → decide → save. They return ids, not aggregates."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from contracts.envelope import Envelope
from contracts.pim import ProductRegistered
from services.order import projections
from services.order.customer_keys import CustomerKeys
from services.order.domain import (
    DEFAULT_MARKET_COUNTRIES,
    Address,
    CatalogueKnowledge,
    Change,
    Customer,
    Dispatch,
    FulfilmentPolicy,
    KitComponent,
    LineAllocation,
    LineReservation,
    LocationQuantity,
    MarketMap,
    Order,
    OrderContent,
    OrderLine,
    OrderStatus,
    ResendRefused,
    ShipmentLine,
    ShipmentRequest,
    TrackingUpdate,
    ineligible_lines,
)
from services.order.domain.erasure import CustomerErasure, erasure_id_for
from services.runtime.aggregate import NotFound
from services.runtime.database import PostgresLocation
from services.runtime.eventstore import ServiceApplication


@dataclass(frozen=True)
class OrderIntake:
    """A channel's order, normalised into the one order model."""

    order_id: uuid.UUID
    channel: str
    channel_order_id: str
    placed_at: datetime
    customer: Customer
    shipping_address: Address
    lines: tuple[OrderLine, ...]
    currency: str
    fraud_score: float
    paid: bool
    cancelled: bool
    service_level: str = "standard"
    deliver_by: date | None = None

    @property
    def content(self) -> OrderContent:
        """What the channel says of the order, to compare with what is recorded."""
        return OrderContent.of(self)


FINAL_STATES = (OrderStatus.DELIVERED, OrderStatus.CANCELLED)
"""Statuses an order stays in for good: never stuck."""


class UnknownOrder(NotFound):
    """No order has this id."""


class OrderApplication(ServiceApplication):
    """Orders from every channel: intake, payment, allocation."""

    value_objects = (
        OrderLine,
        Customer,
        Address,
        LocationQuantity,
        LineAllocation,
        KitComponent,
        ShipmentLine,
        ShipmentRequest,
        Dispatch,
        TrackingUpdate,
        Change,
    )
    read_models = projections.read_models

    def __init__(
        self,
        location: PostgresLocation | None,
        policy: FulfilmentPolicy | None = None,
        markets: MarketMap | None = None,
    ) -> None:
        super().__init__(location)
        self.policy = policy or FulfilmentPolicy()
        self.markets = markets or MarketMap.of(DEFAULT_MARKET_COUNTRIES)
        self.customer_keys = CustomerKeys(self)

    def sealed(self, intake: OrderIntake) -> OrderIntake:
        """The intake with the customer's name, e-mail and street address sealed under the
        customer's key (`services.runtime.privacy`): nothing recorded holds them in clear. The
        country stays clear: markets, routing and rates depend on it."""
        customer, address = intake.customer, intake.shipping_address
        seal = self.customer_keys.sealer(customer.customer_id)
        return replace(
            intake,
            customer=replace(customer, name=seal(customer.name), email=seal(customer.email)),
            shipping_address=replace(
                address,
                name=seal(address.name),
                line1=seal(address.line1),
                line2=seal.optional(address.line2),
                city=seal(address.city),
                region=seal.optional(address.region),
                postal_code=seal(address.postal_code),
            ),
        )

    def receive_channel_order(self, intake: OrderIntake) -> uuid.UUID:
        """Record a channel's order once, however often the channel sends it; then follow what
        the channel says of it: changed content (an amendment where the order's state allows
        it), paid, or cancelled (whatever the content: the order is cancelled).

        Raises `ResendRefused` after recording the refusal, when the channel changed what the
        order's state no longer allows; nothing else of that message is applied."""
        intake = self.sealed(intake)
        try:
            order: Order = self.get(intake.order_id, Order)
        except AggregateNotFoundError:
            order = Order.place(
                order_id=intake.order_id,
                channel=intake.channel,
                channel_order_id=intake.channel_order_id,
                placed_at=intake.placed_at,
                customer=intake.customer,
                shipping_address=intake.shipping_address,
                lines=intake.lines,
                currency=intake.currency,
                fraud_score=intake.fraud_score,
                service_level=intake.service_level,
                deliver_by=intake.deliver_by,
            )
        else:
            if not intake.cancelled and (refusal := order.amend(intake.content)) is not None:
                self.save_projected(order)
                raise ResendRefused(refusal)
        if intake.cancelled:
            order.cancel(reason="cancelled in the channel", actor=f"channel:{intake.channel}")
        elif intake.paid:
            skus = [line.sku for line in order.lines]
            catalogue = self.catalogue_knowledge(skus)
            country = order.shipping_address.country
            order.mark_paid(
                self.policy,
                ineligible_lines(order.lines, country, self.markets, catalogue),
                self.unregistered(skus),
            )
        self.save_projected(order)
        return order.id

    def catalogue_knowledge(self, skus: list[str]) -> CatalogueKnowledge:
        """What the PIM said of these SKUs, per market (nothing, for a store without read
        models: an in-memory one checks no market)."""
        if not self.has_read_models:
            return CatalogueKnowledge({})
        listings: dict[str, dict[str, str | None]] = {
            row["sku"]: {}
            for row in self.read("SELECT sku FROM catalogued_products WHERE sku = ANY(%s)", skus)
        }
        for row in self.read(
            "SELECT sku, market, not_listed_because FROM catalogue_listings WHERE sku = ANY(%s)",
            skus,
        ):
            # The two reads are not one snapshot: a product catalogued between them has its
            # listings read without its row (a listing implies the product).
            listings.setdefault(row["sku"], {})[row["market"]] = row["not_listed_because"]
        return CatalogueKnowledge(listings)

    def unregistered(self, skus: list[str]) -> set[str]:
        """The SKUs the PIM never registered, as far as this service heard (none, for a store
        without read models: an in-memory one knows no catalogue)."""
        if not self.has_read_models:
            return set()
        known = self.read("SELECT sku FROM catalogued_products WHERE sku = ANY(%s)", skus)
        return set(skus) - {row["sku"] for row in known}

    def register_product(self, event: ProductRegistered, envelope: Envelope) -> None:
        """The PIM registered a variant: catalogue it, and let the orders waiting for it go on
        (in the transaction that records the event's consumption)."""
        waiting = (
            self.read("SELECT order_id FROM orders_awaiting_skus WHERE sku = %s", event.sku)
            if self.has_read_models
            else []
        )
        orders: list[Order] = [self.get(row["order_id"], Order) for row in waiting]
        for order in orders:
            order.recognise_skus({event.sku}, self.policy)
        self.save_projected(*orders, read_model_changes=self.projected(event, envelope))

    def release_orders_awaiting_registered_skus(self) -> int:
        """Let go every order still waiting for a SKU the catalogue now has: the safety net for
        an order paid while its SKU's registration was being recorded, and for catalogue tables
        rebuilt by a replay. How many orders it let go."""
        rows = self.read(
            "SELECT order_id, array_agg(sku) AS skus FROM orders_awaiting_skus"
            " JOIN catalogued_products USING (sku) GROUP BY order_id"
        )
        for row in rows:
            order: Order = self.get(row["order_id"], Order)
            order.recognise_skus(set(row["skus"]), self.policy)
            self.save_projected(order)
        return len(rows)

    def record_reservation(
        self, order_id: uuid.UUID, reservations: tuple[LineReservation, ...]
    ) -> uuid.UUID:
        """Allocate the order from inventory's reservation; what is short is backordered."""
        order: Order = self.get(order_id, Order)
        order.record_reservation(reservations, self.policy)
        self.save_projected(order)
        return order.id

    def record_backorder_fill(
        self, order_id: uuid.UUID, fill: int, reservations: tuple[LineReservation, ...]
    ) -> uuid.UUID:
        """Allocate stock that arrived for backordered lines; it ships as a later shipment."""
        order: Order = self.get(order_id, Order)
        order.record_backorder_fill(fill, reservations, self.policy)
        self.save_projected(order)
        return order.id

    def record_dispatch(self, order_id: uuid.UUID, dispatch: Dispatch) -> uuid.UUID:
        """One of the order's shipments left its warehouse, with these serials and tracking."""
        order = self.get_order(order_id)
        order.record_dispatch(dispatch)
        self.save_projected(order)
        return order.id

    def record_delivery(
        self, order_id: uuid.UUID, shipment_id: uuid.UUID, delivered_at: datetime
    ) -> uuid.UUID:
        """A carrier delivered one of the order's parcels."""
        order = self.get_order(order_id)
        order.record_delivery(shipment_id, delivered_at)
        self.save_projected(order)
        return order.id

    def record_in_transit(
        self, order_id: uuid.UUID, shipment_id: uuid.UUID, description: str, at: datetime
    ) -> uuid.UUID:
        """A parcel of the order is on its way: the order shows the carrier's latest news."""
        order: Order = self.get(order_id, Order)
        order.record_in_transit(shipment_id, description, at)
        self.save_projected(order)
        return order.id

    def record_delivery_exception(
        self, order_id: uuid.UUID, shipment_id: uuid.UUID, description: str, at: datetime
    ) -> uuid.UUID:
        """A carrier reported a problem with one of the order's parcels."""
        order = self.get_order(order_id)
        order.record_delivery_exception(shipment_id, description, at)
        self.save_projected(order)
        return order.id

    def hold_order(self, order_id: uuid.UUID, *, reason: str, actor: str) -> uuid.UUID:
        """Put an order on hold: it is not released to a warehouse and gets no label."""
        order = self.get_order(order_id)
        order.hold(reason=reason, actor=actor)
        self.save_projected(order)
        return order.id

    def release_hold(self, order_id: uuid.UUID, *, actor: str, note: str) -> uuid.UUID:
        """Release an order from hold; if its stock is allocated it goes to the warehouse."""
        order = self.get_order(order_id)
        order.release_hold(actor=actor, note=note, policy=self.policy)
        self.save_projected(order)
        return order.id

    def cancel_order(self, order_id: uuid.UUID, *, reason: str, actor: str) -> uuid.UUID:
        """Cancel an order before shipment; its reserved stock is released by inventory."""
        order = self.get_order(order_id)
        order.cancel(reason=reason, actor=actor)
        self.save_projected(order)
        return order.id

    def forget_customer(self, customer_id: str, *, actor: str) -> uuid.UUID:
        """Forget a customer (GDPR Art. 17): delete their key, so that every sealed value of
        theirs, wherever a copy went, reads as erased, and record `CustomerForgotten` for the
        services that hold their data, in one transaction. Asking again records it again."""
        with self.unit_of_work():
            self.customer_keys.delete(customer_id)
            try:
                erasure: CustomerErasure = self.get(erasure_id_for(customer_id), CustomerErasure)
            except AggregateNotFoundError:
                erasure = CustomerErasure.forget(customer_id, actor)
            else:
                erasure.forget_again(actor)
            self.save(erasure)
        return erasure.id

    def state_counts(self, stuck_after: timedelta, now: datetime) -> list[dict[str, Any]]:
        """Per status with orders: how many, how many of them are held, how many have been in it
        longer than `stuck_after` (none in a final status: delivered or cancelled), and since when
        the oldest has been in it (a query)."""
        return self.read(
            "SELECT state, count(*) AS orders, count(held_because) AS held,"
            " count(*) FILTER (WHERE state_since < %s AND NOT state = ANY(%s)) AS stuck,"
            " min(state_since) AS oldest_since FROM orders_by_state GROUP BY state ORDER BY state",
            now - stuck_after,
            list(FINAL_STATES),
        )

    def stuck_orders(
        self, stuck_after: timedelta, now: datetime, *, state: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """Orders in one status (not a final one) for longer than `stuck_after`, longest first
        (a query)."""
        return self.read(
            "SELECT order_id, channel, channel_order_id, state, state_since, held_because,"
            " placed_at FROM orders_by_state WHERE state_since < %s AND NOT state = ANY(%s)"
            " AND (%s::text IS NULL OR state = %s) ORDER BY state_since, order_id LIMIT %s",
            now - stuck_after,
            list(FINAL_STATES),
            state,
            state,
            limit,
        )

    def orders_in_state(self, state: str, limit: int) -> list[dict[str, Any]]:
        """The orders in one status, latest to enter it first (a query)."""
        return self.read(
            "SELECT order_id, channel, channel_order_id, state, state_since, held_because,"
            " placed_at FROM orders_by_state WHERE state = %s"
            " ORDER BY state_since DESC, order_id LIMIT %s",
            state,
            limit,
        )

    def held_orders(self, limit: int) -> list[dict[str, Any]]:
        """Orders something holds (a person's hold, SKUs the PIM has not registered), longest
        held first (a query)."""
        return self.read(
            "SELECT order_id, channel, channel_order_id, state, state_since, held_because,"
            " placed_at FROM orders_by_state WHERE held_because IS NOT NULL"
            " ORDER BY state_since, order_id LIMIT %s",
            limit,
        )

    def get_order(self, order_id: uuid.UUID) -> Order:
        """The order's current state (a query; nothing is changed)."""
        try:
            order: Order = self.get(order_id, Order)
        except AggregateNotFoundError:
            raise UnknownOrder(f"no order {order_id}") from None
        return order
