"""Sellable products: variants of a parent, or standalone. Pure: no I/O.

Each variant is a `Product` of its own: its own SKU, EAN, price, weight and dimensions, one value
per axis of its parent (`parent.py`). A standalone product has no parent and no axes. The product
also decides its channel catalogue entry per market: listed while active (or end of life, showing
the successor), enabled and validly certified for the market; withdrawn otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Self

from services.pim.domain.errors import FieldError
from services.pim.domain.identifiers import (
    check_sku,
    product_id_for,
)
from services.pim.domain.markets import Certification, MarketRules
from services.pim.domain.spec import ProductFacts, ProductSpec
from services.runtime.aggregate import Aggregate, DomainError

ACTIVE = "active"


END_OF_LIFE = "end_of_life"


DISCONTINUED = "discontinued"


@dataclass(frozen=True)
class Listing:
    """A variant's entry in one market's channel catalogue: what a channel shows and sells.

    `fitted_by`: the products declared to fit this one (their `compatible_with` lists it), so a
    channel shows compatibility both ways; empty in listings stored before entries showed it.
    """

    market: str
    sku: str
    spec: ProductSpec
    lifecycle: str
    successor_sku: str | None
    certifications: tuple[str, ...]
    fitted_by: tuple[str, ...] = ()


def fitted_by(
    declared: Mapping[str, Iterable[str]], skus: Iterable[str]
) -> dict[str, tuple[str, ...]]:
    """What is declared to fit each of `skus`, in SKU order: every product whose
    `compatible_with` (`declared`, by product SKU) lists it."""
    fitters: dict[str, set[str]] = {sku: set() for sku in skus}
    for product, fits in declared.items():
        for sku in fits:
            if sku in fitters:
                fitters[sku].add(product)
    return {sku: tuple(sorted(products)) for sku, products in fitters.items()}


class Product(Aggregate):
    """A sellable product (a variant, or a standalone product), identified by its SKU."""

    class Registered(Aggregate.Created):
        sku: str
        facts: ProductFacts

        def apply(self, product: Product) -> None:
            product.sku = self.sku
            product.facts = self.facts
            product.spec = ProductSpec.from_facts(self.facts)
            product.certifications = {}
            product.lifecycle = ACTIVE
            product.successor_sku = None
            product.disabled_reason = None
            product.listings = {}

    class Changed(Aggregate.Event):
        sku: str
        facts: ProductFacts

        def apply(self, product: Product) -> None:
            product.facts = self.facts
            product.spec = replace(
                product.spec,
                name=self.facts.name,
                weight_grams=self.facts.weight_grams,
                lithium_ion=self.facts.lithium_ion,
                serialized=self.facts.serialized,
                warranty_months=self.facts.warranty_months,
            )

    class Specified(Aggregate.Event):
        sku: str
        spec: ProductSpec

        def apply(self, product: Product) -> None:
            product.spec = self.spec
            product.facts = self.spec.facts

    class Certified(Aggregate.Event):
        sku: str
        certification: Certification

        def apply(self, product: Product) -> None:
            product.certifications[self.certification.scheme] = self.certification

    class CertificationWithdrawn(Aggregate.Event):
        sku: str
        scheme: str

        def apply(self, product: Product) -> None:
            del product.certifications[self.scheme]

    class Disabled(Aggregate.Event):
        sku: str
        reason: str

        def apply(self, product: Product) -> None:
            product.disabled_reason = self.reason

    class Enabled(Aggregate.Event):
        sku: str

        def apply(self, product: Product) -> None:
            product.disabled_reason = None

    class EndOfLifeDeclared(Aggregate.Event):
        sku: str
        successor_sku: str

        def apply(self, product: Product) -> None:
            product.lifecycle = END_OF_LIFE
            product.successor_sku = self.successor_sku

    class Discontinued(Aggregate.Event):
        sku: str

        def apply(self, product: Product) -> None:
            product.lifecycle = DISCONTINUED

    class Listed(Aggregate.Event):
        sku: str
        listing: Listing

        def apply(self, product: Product) -> None:
            product.listings[self.listing.market] = self.listing

    class Withdrawn(Aggregate.Event):
        sku: str
        market: str
        reason: str

        def apply(self, product: Product) -> None:
            del product.listings[self.market]

    if TYPE_CHECKING:
        sku: str
        facts: ProductFacts
        spec: ProductSpec
        certifications: dict[str, Certification]
        lifecycle: str
        successor_sku: str | None
        disabled_reason: str | None
        listings: dict[str, Listing]

    @classmethod
    def register(cls, sku: str, spec: ProductSpec | ProductFacts) -> Self:
        """A new product; its facts first (for every consumer of v1), then its whole spec."""
        check_sku(sku)
        if isinstance(spec, ProductFacts):
            spec = ProductSpec.from_facts(spec)
        spec = spec.check(sku)
        product = cls._create(cls.Registered, id=product_id_for(sku), sku=sku, facts=spec.facts)
        product.trigger_event(cls.Specified, sku=sku, spec=spec)
        return product

    def specify(self, spec: ProductSpec) -> None:
        """Replace the spec; the facts event only when a fact changed; the same spec changes nothing."""
        spec = spec.check(self.sku)
        spec_changed = spec != self.spec  # decided first: the facts event updates the spec too
        if spec.facts != self.facts:
            self.trigger_event(self.Changed, sku=self.sku, facts=spec.facts)
        if spec_changed:
            self.trigger_event(self.Specified, sku=self.sku, spec=spec)

    def change(self, facts: ProductFacts) -> None:
        """Replace only the facts (the v1 `PUT /products/{sku}`), keeping the rest of the spec."""
        self.specify(
            replace(
                self.spec,
                name=facts.name,
                weight_grams=facts.weight_grams,
                lithium_ion=facts.lithium_ion,
                serialized=facts.serialized,
                warranty_months=facts.warranty_months,
            )
        )

    def certify(self, certification: Certification) -> None:
        """Record a certificate (a renewal replaces the scheme's previous one)."""
        certification = certification.check()
        if self.certifications.get(certification.scheme) != certification:
            self.trigger_event(self.Certified, sku=self.sku, certification=certification)

    def withdraw_certification(self, scheme: str) -> None:
        if scheme not in self.certifications:
            raise FieldError("scheme", f"{self.sku} holds no {scheme} certification")
        self.trigger_event(self.CertificationWithdrawn, sku=self.sku, scheme=scheme)

    def set_certifications(self, certifications: tuple[Certification, ...]) -> None:
        """Hold exactly these certifications (an import row lists all of them)."""
        schemes = [c.scheme for c in certifications]
        if len(set(schemes)) != len(schemes):
            raise FieldError("certifications", "a scheme is listed twice")
        for scheme in sorted(set(self.certifications) - set(schemes)):
            self.withdraw_certification(scheme)
        for certification in certifications:
            self.certify(certification)

    def disable(self, reason: str) -> None:
        """Take an invalid combination (or a variant that must not sell) out of every catalogue."""
        if not reason.strip():
            raise FieldError("reason", "disabling a variant needs a reason")
        if self.disabled_reason != reason:
            self.trigger_event(self.Disabled, sku=self.sku, reason=reason)

    def enable(self) -> None:
        if self.disabled_reason is not None:
            self.trigger_event(self.Enabled, sku=self.sku)

    def declare_end_of_life(self, successor_sku: str) -> None:
        """Active → end of life: still listed, showing its successor, until discontinued."""
        check_sku(successor_sku, "successor_sku")
        if successor_sku == self.sku:
            raise FieldError("successor_sku", f"{self.sku} cannot succeed itself")
        if self.lifecycle == END_OF_LIFE and self.successor_sku == successor_sku:
            return
        if self.lifecycle == DISCONTINUED:
            raise DomainError(f"{self.sku} is discontinued; its life cannot end again")
        self.trigger_event(self.EndOfLifeDeclared, sku=self.sku, successor_sku=successor_sku)

    def discontinue(self) -> None:
        """End of life → discontinued: withdrawn from every catalogue, for good."""
        if self.lifecycle == DISCONTINUED:
            return
        if self.lifecycle != END_OF_LIFE:
            raise DomainError(
                f"{self.sku} is {self.lifecycle}: declare its end of life (with a successor) "
                "before discontinuing it"
            )
        self.trigger_event(self.Discontinued, sku=self.sku)

    def listing_for(
        self, market: str, rules: MarketRules, day: date, *, fitted_by: Iterable[str]
    ) -> Listing | str:
        """The catalogue entry in `market` on `day`, showing what is declared to fit the product
        (`fitted_by`), or why there is none."""
        if self.lifecycle == DISCONTINUED:
            return "discontinued"
        if self.disabled_reason is not None:
            return f"disabled: {self.disabled_reason}"
        certifications = tuple(self.certifications.values())
        missing = rules.missing(market, certifications, day)
        if missing:
            return f"no valid {', '.join(missing)} certification"
        return Listing(
            market=market,
            sku=self.sku,
            spec=self.spec,
            lifecycle=self.lifecycle,
            successor_sku=self.successor_sku,
            certifications=tuple(sorted(c.scheme for c in certifications if c.valid_on(day))),
            fitted_by=tuple(sorted(fitted_by)),
        )

    def refresh_catalogue(self, rules: MarketRules, day: date, *, fitted_by: Iterable[str]) -> None:
        """List, update or withdraw the entry of every market so it matches the product on `day`
        and what is declared to fit it (`fitted_by`, which the product itself cannot know)."""
        fitters = tuple(fitted_by)
        for market in sorted({*rules.markets, *self.listings}):
            outcome: Listing | str = (
                self.listing_for(market, rules, day, fitted_by=fitters)
                if market in rules.markets
                else "market no longer served"
            )
            if isinstance(outcome, Listing):
                if self.listings.get(market) != outcome:
                    self.trigger_event(self.Listed, sku=self.sku, listing=outcome)
            elif market in self.listings:
                self.trigger_event(self.Withdrawn, sku=self.sku, market=market, reason=outcome)

    @property
    def state_fingerprint(self) -> str:
        """What an import row sets (spec and certifications), to tell an unchanged row cheaply."""
        return repr((self.spec, tuple(sorted(self.certifications.items()))))
