"""Carrier services, their rate tables, and the choice of a service for a parcel. Pure: no I/O.

Carriers' rates are data: versioned rate tables, each in force from its effective date until the
next one's (`RateTable`). A parcel is priced with the table in force on the day its label is
bought, and gets the cheapest service that delivers within what its order promised: a service
level's days in transit, or the days left until the date the customer was promised.

The rate card (the services in force, and the country each location ships from) is published, so
that inventory can route an order to the location that ships it cheapest.
"""

from __future__ import annotations

import enum
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Self

from services.runtime.aggregate import Aggregate, Conflict, DomainError

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


@dataclass(frozen=True)
class RateTable:
    """One version of the carriers' services and rates, in force from `effective_from` (a UTC day)
    until a later table's effective date."""

    version: str
    effective_from: date
    services: tuple[CarrierService, ...]


class ServiceLevel(enum.StrEnum):
    """How fast the customer asked for the parcel; each level is a number of days in transit."""

    STANDARD = "standard"
    EXPRESS = "express"
    NEXT_DAY = "next-day"


@dataclass(frozen=True)
class DeliveryPromise:
    """What an order promised the customer: a service level, or a date (which then decides)."""

    service_level: ServiceLevel = ServiceLevel.STANDARD
    deliver_by: date | None = None

    def days_in_transit(self, policy: ShippingPolicy, today: date) -> int:
        """The most days in transit a service may take to keep the promise, shipping `today`
        (calendar days; zero or less: no service can)."""
        if self.deliver_by is not None:
            return (self.deliver_by - today).days
        return policy.days_for(self.service_level)


@dataclass(frozen=True)
class ShippingPolicy:
    """The configurable shipping rules (documented defaults in the service's settings) with the
    services of the rate table in force (`with_table`)."""

    services: tuple[CarrierService, ...] = ()
    origin_country: str = "US"
    """Where a location ships from, unless `location_origins` says otherwise."""
    location_origins: tuple[tuple[str, str], ...] = ()
    """(location, country) for locations that ship from another country."""
    delivery_promise_days: int = 5
    """Days in transit of the standard service level."""
    express_days: int = 2
    next_day_days: int = 1
    insure_over: Decimal = Decimal("200")
    insurance_rate: Decimal = Decimal("0.01")
    volumetric_divisor: int = 5000
    """Cubic centimetres per kilogram: as carriers do, a parcel is charged by its volumetric weight
    (volume ÷ this) when that is more than it weighs; 0 charges by weight alone."""

    def origin_of(self, location: str) -> str:
        return dict(self.location_origins).get(location, self.origin_country)

    def days_for(self, level: ServiceLevel) -> int:
        """Days in transit a service level promises."""
        return {
            ServiceLevel.STANDARD: self.delivery_promise_days,
            ServiceLevel.EXPRESS: self.express_days,
            ServiceLevel.NEXT_DAY: self.next_day_days,
        }[level]

    def with_table(self, table: RateTable) -> ShippingPolicy:
        """These rules, priced with the services of `table`."""
        return replace(self, services=table.services)

    def billable_grams(self, weight_grams: int, volume_cm3: int | None) -> int:
        """What a parcel is charged as: its weight, or its volumetric weight when that is more."""
        if not volume_cm3 or not self.volumetric_divisor:
            return weight_grams
        return max(weight_grams, math.ceil(volume_cm3 * 1000 / self.volumetric_divisor))


def choose_service(
    policy: ShippingPolicy,
    *,
    weight_grams: int,
    origin: str,
    country: str,
    ground_only: bool,
    within_days: int | None = None,
) -> tuple[Quote, bool]:
    """The cheapest allowed service that arrives within `within_days` (by default the standard
    level's), and whether one does.

    When no allowed service meets the promise, the fastest allowed one is chosen (cheapest among
    equally fast): the parcel still ships, late, and the consignment says so.
    """
    promise = policy.delivery_promise_days if within_days is None else within_days
    international = country != origin
    allowed = [
        service.quote(weight_grams, international)
        for service in policy.services
        if service.mode == "ground" or not ground_only
    ]
    if not allowed:
        raise DomainError("no carrier service is allowed for this parcel")
    in_time = [quote for quote in allowed if quote.transit_days <= promise]
    if in_time:
        return min(in_time, key=lambda quote: (quote.cost, quote.transit_days)), True
    return min(allowed, key=lambda quote: (quote.transit_days, quote.cost)), False


class RateTableConflict(Conflict):
    """A rate table's version is already recorded with other rates: a changed table needs a new
    version, so that every label's price can be traced to the table it was bought with."""


class RateCard(Aggregate):
    """The carriers' rate tables, by version and effective date, and the terms published to others
    (the services in force, locations' origins, the standard promise).

    There is one rate card; its id is fixed. Terms are published when the configuration changes or
    a table takes effect, so inventory estimates with the rates shipping pays that day.
    """

    class FirstPublished(Aggregate.Created):
        services: tuple[CarrierService, ...]
        origin_country: str
        location_origins: tuple[tuple[str, str], ...]
        delivery_promise_days: int
        volumetric_divisor: int = 0
        """Cards published before volumetric pricing charged by weight alone."""
        table_version: str | None = None
        """The rate table in force; None on cards published before tables were versioned."""
        effective_from: date | None = None

        def apply(self, card: RateCard) -> None:
            card.take_terms(self)

    class Published(Aggregate.Event):
        services: tuple[CarrierService, ...]
        origin_country: str
        location_origins: tuple[tuple[str, str], ...]
        delivery_promise_days: int
        volumetric_divisor: int = 0
        """Cards published before volumetric pricing charged by weight alone."""
        table_version: str | None = None
        """The rate table in force; None on cards published before tables were versioned."""
        effective_from: date | None = None

        def apply(self, card: RateCard) -> None:
            card.take_terms(self)

    class TableAdded(Aggregate.Event):
        """A version of the carriers' rates was recorded, in force from `in_force_from`: its
        effective date, or the day it was recorded when that was later."""

        table: RateTable
        in_force_from: date
        recorded_by: str
        """Who recorded it: the authenticated caller, or the service from its directory."""

        def apply(self, card: RateCard) -> None:
            card.tables = tuple(
                sorted((*card.tables, (self.in_force_from, self.table)), key=lambda t: t[0])
            )

    if TYPE_CHECKING:
        services: tuple[CarrierService, ...]
        origin_country: str
        location_origins: tuple[tuple[str, str], ...]
        delivery_promise_days: int
        volumetric_divisor: int
        table_version: str | None
        effective_from: date | None

    tables: tuple[tuple[date, RateTable], ...] = ()
    """Every version recorded, with the day it is in force from, in that order (cards from before
    versions have none)."""

    @staticmethod
    def terms_of(
        policy: ShippingPolicy, in_force: tuple[date, RateTable] | None = None
    ) -> dict[str, Any]:
        """What is published: `policy`'s rules with the services of the table `in_force` (the day
        it is in force from, and the table), else the policy's own services."""
        since, table = in_force or (None, None)
        return {
            "services": policy.services if table is None else table.services,
            "origin_country": policy.origin_country,
            "location_origins": tuple(sorted(policy.location_origins)),
            "delivery_promise_days": policy.delivery_promise_days,
            "volumetric_divisor": policy.volumetric_divisor,
            "table_version": None if table is None else table.version,
            "effective_from": since,
        }

    def take_terms(self, event: FirstPublished | Published) -> None:
        self.services = event.services
        self.origin_country = event.origin_country
        self.location_origins = event.location_origins
        self.delivery_promise_days = event.delivery_promise_days
        self.volumetric_divisor = event.volumetric_divisor
        self.table_version = event.table_version
        self.effective_from = event.effective_from

    @classmethod
    def first(
        cls, policy: ShippingPolicy, tables: Sequence[RateTable] = (), today: date | None = None
    ) -> Self:
        """The card, published with the services of the table among `tables` that is in force
        `today` (else the policy's own), which is then recorded with the others."""
        in_force = [table for table in tables if today and table.effective_from <= today]
        current = max(in_force, key=lambda table: table.effective_from) if in_force else None
        return cls._create(
            cls.FirstPublished,
            id=RATE_CARD_ID,
            **cls.terms_of(policy, None if current is None or today is None else (today, current)),
        )

    def add_table(self, table: RateTable, today: date, recorded_by: str) -> date | None:
        """Record a version of the rates; the day it is in force from, or None when this very
        table is recorded already.

        A table takes effect on its date, or today when that has passed: labels already bought
        keep the price they were bought at. A recorded version never changes
        (`RateTableConflict`).
        """
        recorded = self.table(table.version)
        if recorded is not None:
            if recorded != table:
                raise RateTableConflict(
                    f"rate table {table.version} is recorded with other rates or another"
                    " effective date; give a changed table a new version"
                )
            return None
        if not table.services:
            raise DomainError(f"rate table {table.version} has no service")
        in_force_from = max(table.effective_from, today)
        self.trigger_event(
            self.TableAdded, table=table, in_force_from=in_force_from, recorded_by=recorded_by
        )
        return in_force_from

    def table(self, version: str) -> RateTable | None:
        return next((table for _, table in self.tables if table.version == version), None)

    def table_at(self, day: date) -> RateTable | None:
        """The table in force on `day`: the latest in force on or before it."""
        in_force = self._in_force(day)
        return None if in_force is None else in_force[1]

    def _in_force(self, day: date) -> tuple[date, RateTable] | None:
        in_force = [entry for entry in self.tables if entry[0] <= day]
        return in_force[-1] if in_force else None

    def policy_at(self, policy: ShippingPolicy, day: date) -> ShippingPolicy:
        """`policy` priced with the table in force on `day` (a card from before tables: with the
        services it last published)."""
        table = self.table_at(day)
        if table is not None:
            return policy.with_table(table)
        if self.tables:
            raise DomainError(f"no rate table is in force on {day}")
        return replace(policy, services=self.services)

    def publish(self, policy: ShippingPolicy, today: date) -> None:
        """Publish the terms in force today; nothing happens when they are already published."""
        terms = self.terms_of(policy, self._in_force(today))
        if any(getattr(self, name) != value for name, value in terms.items()):
            self.trigger_event(self.Published, **terms)
