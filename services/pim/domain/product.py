"""Parent products and their variants, the sellable products. Pure: no I/O.

A `ParentProduct` declares up to six variant axes (colour, storage, region, voltage, plug, bundle)
and their values. Each variant is a `Product` of its own: its own SKU, EAN, price, weight and
dimensions, one value per axis of its parent. A standalone product has no parent and no axes.
The product also decides its channel catalogue entry per market: listed while active (or end of
life, showing the successor), enabled and validly certified for the market; withdrawn otherwise.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Self

from services.pim.domain.attributes import Attribute, Dimensions
from services.pim.domain.errors import FieldError, about
from services.pim.domain.identifiers import (
    check_gtin,
    check_mpn,
    check_sku,
    product_id_for,
)
from services.pim.domain.markets import Certification, MarketRules
from services.runtime.aggregate import Aggregate, DomainError

PARENT_NAMESPACE = uuid.UUID("0b8e1f52-7c3d-4a9e-b6f0-3e2d1c4b5a69")
AXES = ("colour", "storage", "region", "voltage", "plug", "bundle")
"""The variant axes a parent may declare, at most all six."""
ASSET_KINDS = ("image", "manual", "datasheet", "video", "other")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
URI = re.compile(r"^(https?|s3)://\S+$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_WARRANTY_MONTHS = 240
MAX_COMPONENT_QUANTITY = 100


def parent_id_for(code: str) -> uuid.UUID:
    return uuid.uuid5(PARENT_NAMESPACE, code)


@dataclass(frozen=True)
class ProductFacts:
    """The facts other services act on (published as `ProductRegistered` / `ProductChanged`)."""

    name: str
    weight_grams: int
    lithium_ion: bool
    serialized: bool
    warranty_months: int

    def check(self) -> None:
        if not self.name.strip():
            raise FieldError("name", "a product needs a name")
        if self.weight_grams < 1:
            raise FieldError("weight_grams", "a product's shipping weight must be at least 1 gram")
        if not 0 <= self.warranty_months <= MAX_WARRANTY_MONTHS:
            raise FieldError(
                "warranty_months",
                f"warranty of {self.warranty_months} months is not 0 to {MAX_WARRANTY_MONTHS}",
            )


@dataclass(frozen=True)
class Axis:
    """A variant axis a parent declares, with the values its variants may take."""

    name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class AxisValue:
    """A variant's value on one axis of its parent."""

    axis: str
    value: str


@dataclass(frozen=True)
class ExcludedCombination:
    """Values of some axes a parent's variants may not take together, e.g. gold in 512GB: a
    combination the brand does not make. Any variant holding all of them is refused."""

    values: tuple[AxisValue, ...]
    reason: str

    def describe(self) -> str:
        return " + ".join(f"{value.axis} {value.value!r}" for value in self.values)


@dataclass(frozen=True)
class Component:
    """One component of a bundle or kit: a SKU and how many of it."""

    sku: str
    quantity: int


@dataclass(frozen=True)
class Asset:
    """A digital asset by reference: where it is and the SHA-256 of its bytes."""

    kind: str
    uri: str
    sha256: str


@dataclass(frozen=True)
class ProductSpec:
    """Everything a variant is, as it is now; its facts are a part of it."""

    name: str
    weight_grams: int
    lithium_ion: bool
    serialized: bool
    warranty_months: int
    ean: str | None = None
    mpn: str | None = None
    brand: str | None = None
    parent: str | None = None
    axes: tuple[AxisValue, ...] = ()
    price: str | None = None
    currency: str | None = None
    dimensions: Dimensions | None = None
    attributes: tuple[Attribute, ...] = ()
    components: tuple[Component, ...] = ()
    compatible_with: tuple[str, ...] = ()
    assets: tuple[Asset, ...] = ()

    @classmethod
    def from_facts(cls, facts: ProductFacts) -> ProductSpec:
        return cls(
            name=facts.name,
            weight_grams=facts.weight_grams,
            lithium_ion=facts.lithium_ion,
            serialized=facts.serialized,
            warranty_months=facts.warranty_months,
        )

    @property
    def facts(self) -> ProductFacts:
        return ProductFacts(
            self.name, self.weight_grams, self.lithium_ion, self.serialized, self.warranty_months
        )

    @property
    def axes_key(self) -> str:
        """The variant's axis combination as one text, e.g. `colour=black;storage=512GB`."""
        return ";".join(f"{a.axis}={a.value}" for a in self.axes)

    def check(self, sku: str) -> ProductSpec:
        """This spec when every rule holds, with identifiers normalised; else a `FieldError`."""
        self.facts.check()
        with about("ean"):
            ean = check_gtin(self.ean) if self.ean else None
        with about("mpn"):
            mpn = check_mpn(self.mpn) if self.mpn else None
        if self.parent is not None:
            with about("parent"):
                check_sku(self.parent, "parent")
        elif self.axes:
            raise FieldError("axes", "a product without a parent has no variant axes")
        axes = [a.axis for a in self.axes]
        if len(set(axes)) != len(axes):
            raise FieldError("axes", f"an axis is given twice in {self.axes_key!r}")
        if self.price is not None:
            with about("price"):
                price = _money(self.price)
            if self.currency is None or not CURRENCY.match(self.currency):
                raise FieldError(
                    "currency", f"a price needs an ISO currency code, not {self.currency!r}"
                )
        else:
            price = None
        _check_components(sku, self.components)
        for other in self.compatible_with:
            with about("compatible_with"):
                check_sku(other, "compatible_with")
            if other == sku:
                raise FieldError("compatible_with", f"{sku} cannot be compatible with itself")
        if len(set(self.compatible_with)) != len(self.compatible_with):
            raise FieldError("compatible_with", "a SKU is listed twice")
        for asset in self.assets:
            _check_asset(asset)
        return replace(
            self,
            ean=ean,
            mpn=mpn,
            price=price,
            compatible_with=tuple(sorted(self.compatible_with)),
            components=tuple(sorted(self.components, key=lambda c: c.sku)),
        )


def _money(value: str) -> str:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise DomainError(f"price {value!r} is not an amount") from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise DomainError(f"price {value!r} is not a non-negative amount with at most 2 decimals")
    return format(amount.quantize(Decimal("0.01")), "f")


def _check_components(sku: str, components: tuple[Component, ...]) -> None:
    seen: set[str] = set()
    for component in components:
        with about("components"):
            check_sku(component.sku, "component")
        if component.sku == sku:
            raise FieldError("components", f"bundle {sku} cannot contain itself")
        if component.sku in seen:
            raise FieldError("components", f"component {component.sku} is listed twice")
        if not 1 <= component.quantity <= MAX_COMPONENT_QUANTITY:
            raise FieldError(
                "components",
                f"component {component.sku} quantity {component.quantity} is not 1 to "
                f"{MAX_COMPONENT_QUANTITY}",
            )
        seen.add(component.sku)


def _check_asset(asset: Asset) -> None:
    if asset.kind not in ASSET_KINDS:
        raise FieldError(
            "assets", f"asset kind {asset.kind!r} is not one of {', '.join(ASSET_KINDS)}"
        )
    if not URI.match(asset.uri):
        raise FieldError("assets", f"asset uri {asset.uri!r} is not an http(s):// or s3:// address")
    if not SHA256.match(asset.sha256):
        raise FieldError("assets", f"asset sha256 {asset.sha256!r} is not 64 lower-case hex digits")


class ParentProduct(Aggregate):
    """A product family whose variants differ along declared axes, e.g. colour and storage."""

    class Declared(Aggregate.Created):
        code: str
        name: str
        brand: str | None
        axes: tuple[Axis, ...]
        # Absent from events stored before parents could exclude combinations: none.
        excluded: tuple[ExcludedCombination, ...] = ()

        def apply(self, parent: ParentProduct) -> None:
            parent.code = self.code
            parent.name = self.name
            parent.brand = self.brand
            parent.axes = self.axes
            parent.excluded = self.excluded

    class Changed(Aggregate.Event):
        code: str
        name: str
        brand: str | None
        axes: tuple[Axis, ...]
        excluded: tuple[ExcludedCombination, ...] = ()

        def apply(self, parent: ParentProduct) -> None:
            parent.name = self.name
            parent.brand = self.brand
            parent.axes = self.axes
            parent.excluded = self.excluded

    if TYPE_CHECKING:
        code: str
        name: str
        brand: str | None
        axes: tuple[Axis, ...]
        excluded: tuple[ExcludedCombination, ...]

    @classmethod
    def declare(
        cls,
        code: str,
        name: str,
        brand: str | None,
        axes: tuple[Axis, ...],
        excluded: tuple[ExcludedCombination, ...] = (),
    ) -> Self:
        check_sku(code, "parent")
        axes = _check_axes(name, axes)
        excluded = _check_excluded(axes, excluded)
        return cls._create(
            cls.Declared,
            id=parent_id_for(code),
            code=code,
            name=name,
            brand=brand,
            axes=axes,
            excluded=excluded,
        )

    def change(
        self,
        name: str,
        brand: str | None,
        axes: tuple[Axis, ...],
        excluded: tuple[ExcludedCombination, ...] = (),
    ) -> None:
        """Rename, redeclare the axes or the excluded combinations; the same declaration again
        changes nothing."""
        axes = _check_axes(name, axes)
        excluded = _check_excluded(axes, excluded)
        if (name, brand, axes, excluded) != (self.name, self.brand, self.axes, self.excluded):
            self.trigger_event(
                self.Changed, code=self.code, name=name, brand=brand, axes=axes, excluded=excluded
            )

    def check_combination(self, axes: tuple[AxisValue, ...]) -> None:
        """A variant takes exactly one declared value on every axis of its parent."""
        given = {a.axis: a.value for a in axes}
        for axis in self.axes:
            if axis.name not in given:
                raise FieldError(
                    "axes", f"variant of {self.code} needs a value for axis {axis.name!r}"
                )
            if given[axis.name] not in axis.values:
                raise FieldError(
                    "axes",
                    f"{axis.name} {given[axis.name]!r} is not a value of {self.code} "
                    f"(declared: {', '.join(axis.values)})",
                )
        extra = sorted(set(given) - {axis.name for axis in self.axes})
        if extra:
            raise FieldError("axes", f"{self.code} declares no axis {extra[0]!r}")
        for rule in self.excluded:
            if all(given.get(value.axis) == value.value for value in rule.values):
                raise FieldError("axes", f"{self.code} excludes {rule.describe()}: {rule.reason}")

    def ordered(self, axes: tuple[AxisValue, ...]) -> tuple[AxisValue, ...]:
        """The variant's axis values in the order the parent declares its axes."""
        order = {axis.name: i for i, axis in enumerate(self.axes)}
        return tuple(sorted(axes, key=lambda a: order.get(a.axis, len(order))))


def _check_excluded(
    axes: tuple[Axis, ...], excluded: tuple[ExcludedCombination, ...]
) -> tuple[ExcludedCombination, ...]:
    """Each excluded combination names declared values of distinct axes, with a reason."""
    declared = {axis.name: axis.values for axis in axes}
    for rule in excluded:
        if not rule.values:
            raise FieldError("excluded", "an excluded combination names at least one axis value")
        if not rule.reason.strip():
            raise FieldError("excluded", f"excluding {rule.describe()} needs a reason")
        names = [value.axis for value in rule.values]
        if len(set(names)) != len(names):
            raise FieldError("excluded", f"{rule.describe()} names an axis twice")
        for value in rule.values:
            if value.value not in declared.get(value.axis, ()):
                raise FieldError(
                    "excluded", f"{value.axis} {value.value!r} is not a declared axis value"
                )
    order = {name: position for position, name in enumerate(declared)}
    normalised = tuple(
        ExcludedCombination(
            tuple(sorted(rule.values, key=lambda value: order[value.axis])), rule.reason.strip()
        )
        for rule in excluded
    )
    if len({rule.values for rule in normalised}) != len(normalised):
        raise FieldError("excluded", "a combination is excluded twice")
    return normalised


def _check_axes(name: str, axes: tuple[Axis, ...]) -> tuple[Axis, ...]:
    if not name.strip():
        raise FieldError("name", "a parent product needs a name")
    if not axes:
        raise FieldError("axes", "a parent product declares at least one variant axis")
    if len(axes) > len(AXES):
        raise FieldError("axes", f"at most {len(AXES)} variant axes, not {len(axes)}")
    names = [axis.name for axis in axes]
    for axis in axes:
        if axis.name not in AXES:
            raise FieldError("axes", f"{axis.name!r} is not a variant axis ({', '.join(AXES)})")
        if not axis.values or any(not value.strip() for value in axis.values):
            raise FieldError("axes", f"axis {axis.name!r} needs non-empty values")
        if len(set(axis.values)) != len(axis.values):
            raise FieldError("axes", f"axis {axis.name!r} lists a value twice")
    if len(set(names)) != len(names):
        raise FieldError("axes", "an axis is declared twice")
    return tuple(axes)


ACTIVE = "active"
END_OF_LIFE = "end_of_life"
DISCONTINUED = "discontinued"


@dataclass(frozen=True)
class Listing:
    """A variant's entry in one market's channel catalogue: what a channel shows and sells."""

    market: str
    sku: str
    spec: ProductSpec
    lifecycle: str
    successor_sku: str | None
    certifications: tuple[str, ...]


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

    def listing_for(self, market: str, rules: MarketRules, day: date) -> Listing | str:
        """The catalogue entry in `market` on `day`, or why there is none."""
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
        )

    def refresh_catalogue(self, rules: MarketRules, day: date) -> None:
        """List, update or withdraw the entry of every market so it matches the product on `day`."""
        for market in sorted({*rules.markets, *self.listings}):
            outcome: Listing | str = (
                self.listing_for(market, rules, day)
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
