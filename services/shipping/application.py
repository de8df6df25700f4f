"""Shipping use cases: load → decide → save. They return ids, not aggregates."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Protocol

from eventsourcing.application import AggregateNotFoundError

from contracts.envelope import Envelope
from contracts.pim import ProductChanged, ProductRegistered
from services.runtime import product_facts
from services.runtime.aggregate import DomainError, NotFound
from services.runtime.database import PostgresLocation
from services.runtime.eventstore import ServiceApplication
from services.shipping import projections
from services.shipping.domain import (
    RATE_CARD_ID,
    CarrierService,
    Consignment,
    DeliveryPromise,
    Label,
    LabelRequest,
    ParcelLine,
    ProductFacts,
    RateCard,
    RateTable,
    ReturnConsignment,
    ShippingPolicy,
    return_consignment_id_for,
    return_label_request,
)


class Carriers(Protocol):
    """Where labels are bought: one client per carrier API, or the simulation."""

    def purchase(self, shipment_id: uuid.UUID, request: LabelRequest) -> str:
        """Buy the label; return the carrier's tracking number."""
        ...


class SimulatedCarriers:
    """Sells every label at its quoted price; the tracking number is derived from the parcel, so
    buying the same label again returns the same number."""

    def purchase(self, shipment_id: uuid.UUID, request: LabelRequest) -> str:
        return f"{request.carrier.upper()}{shipment_id.hex[:16].upper()}"


@dataclass(frozen=True)
class ParcelToPlan:
    shipment_id: uuid.UUID
    location: str
    lines: tuple[ParcelLine, ...]
    declared_value: Decimal


RATE_TABLES_DIRECTORY = "shipping:rate-tables"
"""Who recorded the tables of the service's rate tables directory (`ShippingSettings`)."""

NO_FACTS = ProductFacts(weight_grams=0, lithium_ion=False)
"""A product the PIM has not described yet: priced at the carriers' minimum weight."""


class UnknownConsignment(NotFound):
    """No consignment has this shipment id (yet)."""


class UnknownTrackingNumber(DomainError, NotFound):
    """No parcel has this carrier's tracking number."""


class ShippingApplication(ServiceApplication):
    """Carrier choice, labels, insurance and signatures for every parcel."""

    value_objects = (ParcelLine, LabelRequest, Label, CarrierService, RateTable)
    read_models = projections.read_models

    def __init__(
        self,
        location: PostgresLocation | None,
        policy: ShippingPolicy | None = None,
        carriers: Carriers | None = None,
        rate_tables: Sequence[RateTable] = (),
    ) -> None:
        """`rate_tables`: the versions in the service's rate tables directory, recorded when the
        service starts (`publish_rate_card`); more come by `add_rate_table`."""
        super().__init__(location)
        self.policy = policy or ShippingPolicy()
        self.carriers = carriers or SimulatedCarriers()
        self.rate_tables = tuple(rate_tables)

    @staticmethod
    def today() -> date:
        """The UTC day: rate tables take effect, and promised dates fall, on UTC days."""
        return datetime.now(UTC).date()

    def publish_rate_card(self) -> None:
        """Record the configured rate tables not recorded yet, then publish the terms in force
        today when they differ from the last published (at start, and daily: a table whose date
        has come takes effect)."""
        today = self.today()
        card = self._rate_card(today)
        for table in self.rate_tables:
            card.add_table(table, today, recorded_by=RATE_TABLES_DIRECTORY)
        card.publish(self.policy, today)
        self.save(card)

    def add_rate_table(self, table: RateTable, recorded_by: str) -> date | None:
        """Record a version of the carriers' rates; the day it is in force from (its effective
        date, or today when that has passed), or None when this very table was recorded before.
        Published at once when it is in force today."""
        card = self._rate_card()
        today = self.today()
        in_force_from = card.add_table(table, today, recorded_by)
        card.publish(self.policy, today)
        self.save(card)
        return in_force_from

    def rate_card(self) -> RateCard:
        """The rate tables recorded, and the terms last published."""
        return self._rate_card()

    def _rate_card(self, today: date | None = None) -> RateCard:
        try:
            card: RateCard = self.get(RATE_CARD_ID, RateCard)
        except AggregateNotFoundError:
            return RateCard.first(self.policy, self.rate_tables, today or self.today())
        return card

    def _pricing(self) -> tuple[ShippingPolicy, date]:
        """The rules and the rates in force today, and today."""
        today = self.today()
        return self._rate_card().policy_at(self.policy, today), today

    def record_product_facts(
        self, event: ProductRegistered | ProductChanged, envelope: Envelope
    ) -> None:
        """Keep the PIM's facts that shipping needs: weight, and whether it may fly
        (`projections.py`).

        Parcels planned before the facts arrived are completed with them, and those already
        packed get their labels now.
        """
        sku = event.sku
        waiting = [
            self.get_consignment(row["shipment_id"])
            for row in self.query(projections.AWAITING_FACTS_OF, sku)
        ]
        skus = sorted({line.sku for consignment in waiting for line in consignment.lines})
        facts = self._facts([*skus, sku])
        facts[sku] = ProductFacts(
            event.weight_grams, event.lithium_ion, facts.get(sku, NO_FACTS).volume_cm3
        )
        policy, today = self._pricing()
        labels = [(c, c.complete_facts(facts, policy, today)) for c in waiting]
        completed = [c for c in waiting if c.weight_grams is not None]
        self.save_projected(*completed, read_model_changes=self.projected(event, envelope))
        for consignment, request in labels:
            if request is not None:
                self._buy_label(consignment, request)

    def _facts(self, skus: Sequence[str]) -> dict[str, ProductFacts]:
        return {
            sku: ProductFacts(*facts)
            for sku, facts in product_facts.facts_of(self.query, skus).items()
        }

    def plan_consignments(
        self,
        order_id: uuid.UUID,
        parcels: Sequence[ParcelToPlan],
        *,
        country: str,
        currency: str,
        signature_required: bool,
        promise: DeliveryPromise | None = None,
    ) -> list[uuid.UUID]:
        """Plan a consignment for each parcel of a released order, once per parcel; `promise`:
        what the order promised the customer (a service level, or a date)."""
        facts = self._facts(sorted({line.sku for parcel in parcels for line in parcel.lines}))
        planned = [
            Consignment.plan(
                shipment_id=parcel.shipment_id,
                order_id=order_id,
                location=parcel.location,
                lines=parcel.lines,
                country=country,
                declared_value=parcel.declared_value,
                currency=currency,
                signature_required=signature_required,
                facts=facts,
                promise=promise,
            )
            for parcel in parcels
            if self._find(parcel.shipment_id) is None
        ]
        # Indexed by order, and by the products it waits for (`projections.py`).
        self.save_projected(*planned)
        return [consignment.id for consignment in planned]

    def label_packed_parcel(self, shipment_id: uuid.UUID) -> uuid.UUID:
        """A parcel is packed: buy its label, unless its order is on hold."""
        consignment = self._find(shipment_id)
        if consignment is None:
            raise UnknownConsignment(f"no consignment {shipment_id}")
        self._buy_label(consignment, consignment.request_label(*self._pricing()))
        return consignment.id

    def label_return(
        self,
        *,
        rma_id: uuid.UUID,
        order_id: uuid.UUID,
        sku: str,
        from_country: str,
        return_to: str,
    ) -> uuid.UUID:
        """Buy the return label of an authorised RMA, once.

        Priced with the PIM's weight of the product; one PIM has not described yet is priced at
        the carriers' minimum weight (the carrier bills any difference).
        """
        consignment_id = return_consignment_id_for(rma_id)
        try:
            self.get(consignment_id, ReturnConsignment)
            return consignment_id
        except AggregateNotFoundError:
            pass
        facts = self._facts([sku]).get(sku, NO_FACTS)
        policy, _ = self._pricing()
        request = return_label_request(
            policy,
            weight_grams=policy.billable_grams(facts.weight_grams, facts.volume_cm3),
            from_country=from_country,
            return_to=return_to,
        )
        tracking_number = self.carriers.purchase(consignment_id, request)
        self.save(
            ReturnConsignment.labelled(
                rma_id=rma_id,
                order_id=order_id,
                return_to=return_to,
                request=request,
                tracking_number=tracking_number,
            )
        )
        return consignment_id

    def hold_order(self, order_id: uuid.UUID, reason: str) -> None:
        """No label for the order's parcels until the hold is released."""
        consignments = self._of_order(order_id)
        for consignment in consignments:
            consignment.hold(reason)
        self.save_projected(*consignments)

    def release_order(self, order_id: uuid.UUID) -> None:
        """The hold is lifted: packed parcels that waited get their labels now."""
        policy, today = self._pricing()
        for consignment in self._of_order(order_id):
            self._buy_label(consignment, consignment.release_hold(policy, today))

    def record_tracking(
        self, carrier: str, tracking_number: str, code: str, description: str, at: datetime
    ) -> uuid.UUID:
        """A carrier's scan: the parcel is in transit, delivered, or in trouble."""
        rows = self.query(projections.BY_TRACKING, carrier, tracking_number)
        if not rows:
            raise UnknownTrackingNumber(
                f"no parcel has {carrier} tracking number {tracking_number}"
            )
        consignment = self.get_consignment(rows[0]["shipment_id"])
        consignment.record_tracking(code, description, at)
        self.save_projected(consignment)
        return consignment.id

    def _buy_label(self, consignment: Consignment, request: LabelRequest | None) -> None:
        """Buy the label when there is one to buy; the tracking number is indexed with it
        (`projections.py`)."""
        if request is not None:
            tracking_number = self.carriers.purchase(consignment.id, request)
            consignment.record_label(request, tracking_number)
        self.save_projected(consignment)

    def get_consignment(self, shipment_id: uuid.UUID) -> Consignment:
        consignment = self._find(shipment_id)
        if consignment is None:
            raise UnknownConsignment(f"no consignment {shipment_id}")
        return consignment

    def _of_order(self, order_id: uuid.UUID) -> list[Consignment]:
        rows = self.query(projections.OF_ORDER, order_id)
        return [self.get_consignment(row["shipment_id"]) for row in rows]

    def _find(self, shipment_id: uuid.UUID) -> Consignment | None:
        try:
            consignment: Consignment = self.get(shipment_id, Consignment)
        except AggregateNotFoundError:
            return None
        return consignment
