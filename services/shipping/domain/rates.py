"""Carrier services, their rate tables, and the choice of a service for a parcel. Pure: no I/O.

The rate card (services, and the country each location ships from) is published, so that
inventory can route an order to the location that ships it cheapest.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Self

from services.runtime.aggregate import Aggregate, DomainError

CENT = Decimal("0.01")
RATE_CARD_ID = uuid.UUID("5b0f3f5e-8a61-4c0e-9d43-2f7e1c6a9b17")


@dataclass(frozen=True)
class CarrierService:
    """One service of one carrier and its rate table."""

    carrier: str
    service: str
    mode: Literal["ground", "air"]
    transit_days_domestic: int
    transit_days_international: int
    base_cost: Decimal
    cost_per_kg: Decimal
    international_surcharge: Decimal

    def quote(self, weight_grams: int, international: bool) -> Quote:
        kilograms = max(1, math.ceil(weight_grams / 1000))
        cost = self.base_cost + self.cost_per_kg * kilograms
        if international:
            cost += self.international_surcharge
        days = self.transit_days_international if international else self.transit_days_domestic
        return Quote(self, cost.quantize(CENT), days)


@dataclass(frozen=True)
class Quote:
    service: CarrierService
    cost: Decimal
    transit_days: int


DEFAULT_SERVICES = (
    CarrierService("usps", "ground-advantage", "ground", 5, 12, Decimal("6.50"), Decimal("1.10"), Decimal("25")),
    CarrierService("ups", "ground", "ground", 4, 10, Decimal("8.00"), Decimal("0.90"), Decimal("30")),
    CarrierService("ups", "2nd-day-air", "air", 2, 4, Decimal("18.00"), Decimal("2.50"), Decimal("40")),
    CarrierService("fedex", "express-saver", "air", 3, 5, Decimal("14.00"), Decimal("2.00"), Decimal("35")),
    CarrierService("dhl", "express-worldwide", "air", 3, 3, Decimal("30.00"), Decimal("3.00"), Decimal("10")),
)  # fmt: skip


@dataclass(frozen=True)
class ShippingPolicy:
    """The configurable shipping rules (documented defaults in the service's settings)."""

    services: tuple[CarrierService, ...] = DEFAULT_SERVICES
    origin_country: str = "US"
    """Where a location ships from, unless `location_origins` says otherwise."""
    location_origins: tuple[tuple[str, str], ...] = ()
    """(location, country) for locations that ship from another country."""
    delivery_promise_days: int = 5
    insure_over: Decimal = Decimal("200")
    insurance_rate: Decimal = Decimal("0.01")
    volumetric_divisor: int = 5000
    """Cubic centimetres per kilogram: as carriers do, a parcel is charged by its volumetric weight
    (volume ÷ this) when that is more than it weighs; 0 charges by weight alone."""

    def origin_of(self, location: str) -> str:
        return dict(self.location_origins).get(location, self.origin_country)

    def billable_grams(self, weight_grams: int, volume_cm3: int | None) -> int:
        """What a parcel is charged as: its weight, or its volumetric weight when that is more."""
        if not volume_cm3 or not self.volumetric_divisor:
            return weight_grams
        return max(weight_grams, math.ceil(volume_cm3 * 1000 / self.volumetric_divisor))


def choose_service(
    policy: ShippingPolicy, *, weight_grams: int, origin: str, country: str, ground_only: bool
) -> tuple[Quote, bool]:
    """The cheapest allowed service that meets the promise, and whether the promise is met.

    When no allowed service meets the promise, the fastest allowed one is chosen (cheapest among
    equally fast): the parcel still ships, late, and the consignment says so.
    """
    international = country != origin
    allowed = [
        service.quote(weight_grams, international)
        for service in policy.services
        if service.mode == "ground" or not ground_only
    ]
    if not allowed:
        raise DomainError("no carrier service is allowed for this parcel")
    in_time = [quote for quote in allowed if quote.transit_days <= policy.delivery_promise_days]
    if in_time:
        return min(in_time, key=lambda quote: (quote.cost, quote.transit_days)), True
    return min(allowed, key=lambda quote: (quote.transit_days, quote.cost)), False


class RateCard(Aggregate):
    """The rate tables and locations' origins in force, published when the configuration changes.

    There is one rate card; its id is fixed.
    """

    class FirstPublished(Aggregate.Created):
        services: tuple[CarrierService, ...]
        origin_country: str
        location_origins: tuple[tuple[str, str], ...]
        delivery_promise_days: int
        volumetric_divisor: int = 0
        """Cards published before volumetric pricing charged by weight alone."""

        def apply(self, card: Any) -> None:
            card.take_terms(self)

    class Published(Aggregate.Event):
        services: tuple[CarrierService, ...]
        origin_country: str
        location_origins: tuple[tuple[str, str], ...]
        delivery_promise_days: int
        volumetric_divisor: int = 0
        """Cards published before volumetric pricing charged by weight alone."""

        def apply(self, card: Any) -> None:
            card.take_terms(self)

    if TYPE_CHECKING:
        services: tuple[CarrierService, ...]
        origin_country: str
        location_origins: tuple[tuple[str, str], ...]
        delivery_promise_days: int
        volumetric_divisor: int

    @staticmethod
    def terms_of(policy: ShippingPolicy) -> dict[str, Any]:
        return {
            "services": policy.services,
            "origin_country": policy.origin_country,
            "location_origins": tuple(sorted(policy.location_origins)),
            "delivery_promise_days": policy.delivery_promise_days,
            "volumetric_divisor": policy.volumetric_divisor,
        }

    def take_terms(self, event: FirstPublished | Published) -> None:
        self.services = event.services
        self.origin_country = event.origin_country
        self.location_origins = event.location_origins
        self.delivery_promise_days = event.delivery_promise_days
        self.volumetric_divisor = event.volumetric_divisor

    @classmethod
    def first(cls, policy: ShippingPolicy) -> Self:
        return cls._create(cls.FirstPublished, id=RATE_CARD_ID, **cls.terms_of(policy))

    def publish(self, policy: ShippingPolicy) -> None:
        """Publish the policy's rates and origins; nothing happens when they are already in force."""
        terms = self.terms_of(policy)
        if any(getattr(self, name) != value for name, value in terms.items()):
            self.trigger_event(self.Published, **terms)
