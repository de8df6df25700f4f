"""What a product is: its facts, variant axes and values, components, assets and the whole spec,
checked field by field. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from services.pim.domain.attributes import Attribute, Dimensions
from services.pim.domain.errors import FieldError, about
from services.pim.domain.identifiers import (
    check_gtin,
    check_mpn,
    check_sku,
)
from services.runtime.aggregate import DomainError

AXES = ("colour", "storage", "region", "voltage", "plug", "bundle")
"""The variant axes a parent may declare, at most all six."""

ASSET_KINDS = ("image", "manual", "datasheet", "video", "other")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
URI = re.compile(r"^(https?|s3)://\S+$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_WARRANTY_MONTHS = 240
MAX_COMPONENT_QUANTITY = 100


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
