"""Consignments: a parcel's carrier service, label, insurance, signature and tracking.

Pure: no I/O. Rules: the cheapest service that meets the order's delivery promise (its service
level, or the date promised) and the parcel's constraints (a lithium-ion battery ships by ground
only); insurance above a declared value; a signature when the order needs one; no label while the
order is on hold.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, NamedTuple, Self

from services.runtime.aggregate import Aggregate, DomainError
from services.shipping.domain.rates import (
    CENT,
    DeliveryPromise,
    ServiceLevel,
    ShippingPolicy,
    choose_service,
)


@dataclass(frozen=True)
class ParcelLine:
    sku: str
    quantity: int


class ProductFacts(NamedTuple):
    """What shipping knows of a product from the PIM."""

    weight_grams: int
    lithium_ion: bool
    volume_cm3: int | None = None
    """Outer volume of one unit; None while the PIM has no dimensions for it."""


@dataclass(frozen=True)
class LabelRequest:
    """The label to buy from a carrier: which service, insured for how much, with a signature?"""

    carrier: str
    service: str
    mode: str
    cost: Decimal
    transit_days: int
    promise_met: bool
    """False when no allowed service arrives within what the order promised."""
    insured_value: Decimal
    insurance_cost: Decimal
    signature_required: bool
    service_level: str = "standard"
    """What the order promised: a `ServiceLevel`, or…"""
    deliver_by: date | None = None
    """…the date the customer was promised, which then decides."""


@dataclass(frozen=True)
class Label:
    request: LabelRequest
    tracking_number: str


class ConsignmentStatus(enum.StrEnum):
    PLANNED = "planned"
    LABEL_WITHHELD = "label-withheld"
    LABELLED = "labelled"
    IN_TRANSIT = "in-transit"
    DELIVERED = "delivered"
    EXCEPTION = "exception"


class Tracking(enum.StrEnum):
    IN_TRANSIT = "in-transit"
    DELIVERED = "delivered"
    EXCEPTION = "exception"


GENERIC_TRACKING_CODES = {
    "in_transit": Tracking.IN_TRANSIT,
    "out_for_delivery": Tracking.IN_TRANSIT,
    "delivered": Tracking.DELIVERED,
    "exception": Tracking.EXCEPTION,
}
CARRIER_TRACKING_CODES: dict[str, dict[str, Tracking]] = {
    "ups": {"P": Tracking.IN_TRANSIT, "I": Tracking.IN_TRANSIT, "O": Tracking.IN_TRANSIT,
            "D": Tracking.DELIVERED, "X": Tracking.EXCEPTION, "RS": Tracking.EXCEPTION},
    "usps": {"03": Tracking.IN_TRANSIT, "10": Tracking.IN_TRANSIT, "OF": Tracking.IN_TRANSIT,
             "01": Tracking.DELIVERED, "02": Tracking.EXCEPTION, "04": Tracking.EXCEPTION},
    "fedex": {"PU": Tracking.IN_TRANSIT, "IT": Tracking.IN_TRANSIT, "OD": Tracking.IN_TRANSIT,
              "DL": Tracking.DELIVERED, "DE": Tracking.EXCEPTION, "CA": Tracking.EXCEPTION},
    "dhl": {"PU": Tracking.IN_TRANSIT, "TR": Tracking.IN_TRANSIT, "WC": Tracking.IN_TRANSIT,
            "OK": Tracking.DELIVERED, "NH": Tracking.EXCEPTION, "CA": Tracking.EXCEPTION},
}  # fmt: skip
"""Each carrier's own event codes; the generic codes are accepted from every carrier."""


def normalise_tracking(carrier: str, code: str) -> Tracking:
    """What a carrier's event code means for the parcel."""
    known = GENERIC_TRACKING_CODES | CARRIER_TRACKING_CODES.get(carrier, {})
    try:
        return known[code]
    except KeyError:
        raise DomainError(f"unknown tracking code {code!r} for carrier {carrier!r}") from None


class Consignment(Aggregate):
    """One parcel of an order (its id is the order's shipment id) on its way to a carrier."""

    class Planned(Aggregate.Created):
        order_id: uuid.UUID
        location: str
        lines: tuple[ParcelLine, ...]
        country: str
        declared_value: Decimal
        currency: str
        signature_required: bool
        weight_grams: int | None
        """None when a product's weight is not known yet."""
        ground_only: bool
        missing_facts: tuple[str, ...]
        volume_cm3: int | None = None
        """None when a product's dimensions are not known (the parcel is charged by weight)."""
        service_level: str = ServiceLevel.STANDARD.value
        deliver_by: date | None = None
        """The date promised to the customer, if the order named one."""

        def apply(self, consignment: Consignment) -> None:
            consignment.order_id = self.order_id
            consignment.location = self.location
            consignment.lines = self.lines
            consignment.country = self.country
            consignment.declared_value = self.declared_value
            consignment.signature_required = self.signature_required
            consignment.weight_grams = self.weight_grams
            consignment.ground_only = self.ground_only
            consignment.missing_facts = self.missing_facts
            consignment.volume_cm3 = self.volume_cm3
            consignment.service_level = self.service_level
            consignment.deliver_by = self.deliver_by
            consignment.hold_reason = None
            consignment.packed = False
            consignment.label = None
            consignment.status = ConsignmentStatus.PLANNED

    class FactsCompleted(Aggregate.Event):
        """The PIM's facts of every product in the parcel are known now."""

        order_id: uuid.UUID
        weight_grams: int
        ground_only: bool
        volume_cm3: int | None = None

        def apply(self, consignment: Consignment) -> None:
            consignment.weight_grams = self.weight_grams
            consignment.ground_only = self.ground_only
            consignment.missing_facts = ()
            consignment.volume_cm3 = self.volume_cm3

    class Held(Aggregate.Event):
        order_id: uuid.UUID
        reason: str

        def apply(self, consignment: Consignment) -> None:
            consignment.hold_reason = self.reason

    class HoldReleased(Aggregate.Event):
        order_id: uuid.UUID

        def apply(self, consignment: Consignment) -> None:
            consignment.hold_reason = None

    class LabelWithheld(Aggregate.Event):
        order_id: uuid.UUID
        reason: str

        def apply(self, consignment: Consignment) -> None:
            consignment.packed = True
            consignment.status = ConsignmentStatus.LABEL_WITHHELD

    class LabelPurchased(Aggregate.Event):
        order_id: uuid.UUID
        label: Label

        def apply(self, consignment: Consignment) -> None:
            consignment.packed = True
            consignment.label = self.label
            consignment.status = ConsignmentStatus.LABELLED

    class TrackingEvent(Aggregate.Event):
        """A carrier's scan, normalised (one of the three kinds below)."""

        order_id: uuid.UUID
        carrier: str
        tracking_number: str
        carrier_code: str
        description: str
        at: datetime

        def scanned(self, consignment: Consignment) -> None:
            consignment.last_scan = (self.carrier_code, self.at)

    class InTransit(TrackingEvent):
        def apply(self, consignment: Consignment) -> None:
            consignment.status = ConsignmentStatus.IN_TRANSIT
            self.scanned(consignment)

    class Delivered(TrackingEvent):
        def apply(self, consignment: Consignment) -> None:
            consignment.status = ConsignmentStatus.DELIVERED
            self.scanned(consignment)

    class DeliveryException(TrackingEvent):
        def apply(self, consignment: Consignment) -> None:
            consignment.status = ConsignmentStatus.EXCEPTION
            self.scanned(consignment)

    if TYPE_CHECKING:
        order_id: uuid.UUID
        location: str
        lines: tuple[ParcelLine, ...]
        country: str
        declared_value: Decimal
        signature_required: bool
        weight_grams: int | None
        volume_cm3: int | None
        ground_only: bool
        missing_facts: tuple[str, ...]
        hold_reason: str | None
        packed: bool
        label: Label | None
        status: ConsignmentStatus

    # State that parcels planned before delivery promises start from (defaults, not event fields).
    service_level: str = ServiceLevel.STANDARD.value
    deliver_by: date | None = None
    last_scan: tuple[str, datetime] | None = None
    """The carrier code and time of the last scan that was recorded."""

    @property
    def promise(self) -> DeliveryPromise:
        """What the parcel's order promised the customer."""
        return DeliveryPromise(ServiceLevel(self.service_level), self.deliver_by)

    @classmethod
    def plan(
        cls,
        *,
        shipment_id: uuid.UUID,
        order_id: uuid.UUID,
        location: str,
        lines: tuple[ParcelLine, ...],
        country: str,
        declared_value: Decimal,
        currency: str,
        signature_required: bool,
        facts: Mapping[str, ProductFacts],
        promise: DeliveryPromise | None = None,
    ) -> Self:
        """`facts`: what the PIM published of each product (weight, lithium-ion, volume);
        `promise`: what the order promised the customer."""
        missing, weight, volume, ground_only = _parcel_facts(lines, facts)
        promise = promise or DeliveryPromise()
        return cls._create(
            cls.Planned,
            id=shipment_id,
            order_id=order_id,
            location=location,
            lines=lines,
            country=country,
            declared_value=declared_value,
            currency=currency,
            signature_required=signature_required,
            weight_grams=weight,
            ground_only=ground_only,
            missing_facts=missing,
            volume_cm3=volume,
            service_level=promise.service_level.value,
            deliver_by=promise.deliver_by,
        )

    def complete_facts(
        self, facts: Mapping[str, ProductFacts], policy: ShippingPolicy, today: date
    ) -> LabelRequest | None:
        """Product facts arrived after the parcel was planned: once all are known, a packed parcel
        that waited for them gets its label (returned to buy), unless its order is on hold."""
        if self.weight_grams is not None:
            return None
        missing, weight, volume, ground_only = _parcel_facts(self.lines, facts)
        if weight is None or missing:
            return None
        self.trigger_event(
            self.FactsCompleted,
            order_id=self.order_id,
            weight_grams=weight,
            ground_only=ground_only,
            volume_cm3=volume,
        )
        if self.status is ConsignmentStatus.LABEL_WITHHELD and self.hold_reason is None:
            return self.request_label(policy, today)
        return None

    def hold(self, reason: str) -> None:
        if self.hold_reason is None and self.label is None:
            self.trigger_event(self.Held, order_id=self.order_id, reason=reason)

    def release_hold(self, policy: ShippingPolicy, today: date) -> LabelRequest | None:
        """Lift the hold; a parcel that waited for its label gets one now (returned to buy)."""
        if self.hold_reason is None:
            return None
        self.trigger_event(self.HoldReleased, order_id=self.order_id)
        if self.status is ConsignmentStatus.LABEL_WITHHELD:
            return self.request_label(policy, today)
        return None

    def request_label(self, policy: ShippingPolicy, today: date) -> LabelRequest | None:
        """The parcel is packed (`today`): what label to buy, or None when it must not have one
        yet (the order is on hold, or product facts are missing; recorded with the reason)."""
        if self.label is not None:
            return None
        if self.hold_reason is not None:
            reason = f"the order is on hold: {self.hold_reason}"
        elif self.weight_grams is None:
            reason = f"no product facts from PIM for {', '.join(self.missing_facts)}"
        else:
            return self._label_request(policy, today)
        if self.status is not ConsignmentStatus.LABEL_WITHHELD:
            self.trigger_event(self.LabelWithheld, order_id=self.order_id, reason=reason)
        return None

    def record_label(self, request: LabelRequest, tracking_number: str) -> None:
        """The carrier sold the label."""
        if self.label is not None:
            return
        self.trigger_event(
            self.LabelPurchased,
            order_id=self.order_id,
            label=Label(request=request, tracking_number=tracking_number),
        )

    def record_tracking(self, code: str, description: str, at: datetime) -> None:
        """A carrier scan of the parcel; a repeat, news older than the last scan recorded (a
        scan delivered again after a restart), or news after delivery, changes nothing."""
        if self.label is None:
            raise DomainError(f"consignment {self.id} has no label to track")
        if self.status is ConsignmentStatus.DELIVERED:
            return
        if self.last_scan is not None and (at < self.last_scan[1] or (code, at) == self.last_scan):
            return
        tracking = normalise_tracking(self.label.request.carrier, code)
        event_class = {
            Tracking.IN_TRANSIT: self.InTransit,
            Tracking.DELIVERED: self.Delivered,
            Tracking.EXCEPTION: self.DeliveryException,
        }[tracking]
        if tracking is Tracking.IN_TRANSIT and self.status is ConsignmentStatus.IN_TRANSIT:
            return
        self.trigger_event(
            event_class,
            order_id=self.order_id,
            carrier=self.label.request.carrier,
            tracking_number=self.label.tracking_number,
            carrier_code=code,
            description=description,
            at=at,
        )

    def _label_request(self, policy: ShippingPolicy, today: date) -> LabelRequest:
        if self.weight_grams is None:
            raise DomainError(f"consignment {self.id} has no weight to price a label by")
        promise = self.promise
        quote, promise_met = choose_service(
            policy,
            weight_grams=policy.billable_grams(self.weight_grams, self.volume_cm3),
            origin=policy.origin_of(self.location),
            country=self.country,
            ground_only=self.ground_only,
            within_days=promise.days_in_transit(policy, today),
        )
        insured = self.declared_value > policy.insure_over
        insurance_cost = (
            (self.declared_value * policy.insurance_rate).quantize(CENT, ROUND_HALF_UP)
            if insured
            else Decimal("0.00")
        )
        service = quote.service
        return LabelRequest(
            carrier=service.carrier,
            service=service.service,
            mode=service.mode,
            cost=quote.cost,
            transit_days=quote.transit_days,
            promise_met=promise_met,
            insured_value=self.declared_value if insured else Decimal("0.00"),
            insurance_cost=insurance_cost,
            signature_required=self.signature_required,
            service_level=promise.service_level.value,
            deliver_by=promise.deliver_by,
        )


def _parcel_facts(
    lines: tuple[ParcelLine, ...], facts: Mapping[str, ProductFacts]
) -> tuple[tuple[str, ...], int | None, int | None, bool]:
    """SKUs without facts, the parcel's weight (None while any is missing), its volume (None
    unless every product's dimensions are known), and whether it goes by ground only."""
    missing = tuple(sorted({line.sku for line in lines if line.sku not in facts}))
    ground_only = any(facts[line.sku].lithium_ion for line in lines if line.sku in facts)
    if missing:
        return missing, None, None, ground_only
    weight = sum(facts[line.sku].weight_grams * line.quantity for line in lines)
    volumes = [(facts[line.sku].volume_cm3, line.quantity) for line in lines]
    volume = (
        sum(unit * quantity for unit, quantity in volumes if unit is not None)
        if all(unit is not None for unit, _ in volumes)
        else None
    )
    return missing, weight, volume, ground_only
