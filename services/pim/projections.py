"""PIM's read models, views of its own products: written in the same transaction as the
products' events (`PimApplication.save_projected`), rebuilt from PIM's own store by a replay.

- `pim_products`: a row per SKU with what the rules across products check (EAN, parent and axis
  combination, unique: its indexes catch a concurrent writer that slipped past a check; spec and
  certification fingerprints, so an import leaves unchanged rows alone) and the product as the
  HTTP API shows it;
- `pim_catalogue`: each market's catalogue feed, an entry per listed SKU.

Both are the products' state, not any one event's: each save writes the rows of the products it
saves (`on_own_aggregates`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

from services.pim.domain import (
    Certification,
    ExcludedCombination,
    Listing,
    Product,
    ProductSpec,
    gtin13,
)
from services.runtime.projections import (
    AnyOf,
    Change,
    Delete,
    Index,
    Insert,
    ReadModels,
    Table,
    Upsert,
)

PIM_PRODUCTS = Table(
    "pim_products",
    {
        "sku": "text",
        "gtin": "text?",
        "parent": "text?",
        "axes_key": "text?",
        "lifecycle": "text",
        "spec_fingerprint": "text",
        "certifications_fingerprint": "text",
        "view": "jsonb",
    },
    key=("sku",),
    indexes=(
        # Named as a column's UNIQUE constraint would be: tables made before are left alone.
        Index("pim_products_gtin_key", ("gtin",), unique=True),
        Index(
            "pim_products_combination",
            ("parent", "axes_key"),
            unique=True,
            where="parent IS NOT NULL",
        ),
        # "What fits this camera?": the products whose compatible_with lists a SKU.
        Index("pim_products_compatible_with", ("(view -> 'compatible_with')",), using="gin"),
    ),
)
PIM_CATALOGUE = Table(
    "pim_catalogue",
    {"market": "text", "sku": "text", "entry": "jsonb"},
    key=("market", "sku"),
)

read_models = ReadModels(PIM_PRODUCTS, PIM_CATALOGUE)


def fingerprint(value: object) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:32]


def spec_fingerprint(spec: ProductSpec) -> str:
    return fingerprint(spec)


def certifications_fingerprint(certifications: Iterable[Certification]) -> str:
    return fingerprint(tuple(sorted(certifications, key=lambda c: c.scheme)))


def product_view(product: Product) -> dict[str, Any]:
    """A product as the HTTP API and the products read model show it."""
    spec = product.spec
    return {
        "product_id": str(product.id),
        "sku": product.sku,
        "version": product.version,
        **asdict(product.facts),
        "ean": spec.ean,
        "mpn": spec.mpn,
        "brand": spec.brand,
        "parent": spec.parent,
        "axes": {a.axis: a.value for a in spec.axes},
        "price": spec.price,
        "currency": spec.currency,
        "dimensions": asdict(spec.dimensions) if spec.dimensions else None,
        "attributes": {a.name: {"value": a.value, "unit": a.unit} for a in spec.attributes},
        "components": [asdict(c) for c in spec.components],
        "compatible_with": list(spec.compatible_with),
        "assets": [asdict(a) for a in spec.assets],
        "certifications": [asdict(c) for c in product.certifications.values()],
        "lifecycle": product.lifecycle,
        "successor_sku": product.successor_sku,
        "disabled_reason": product.disabled_reason,
        "markets": sorted(product.listings),
    }


def excluded_view(rule: ExcludedCombination) -> dict[str, Any]:
    """A parent's excluded combination as its events and the HTTP API show it."""
    return {"values": {value.axis: value.value for value in rule.values}, "reason": rule.reason}


def listing_view(listing: Listing) -> dict[str, Any]:
    """A catalogue entry as a channel's feed shows it."""
    spec = listing.spec
    return {
        "market": listing.market,
        "sku": listing.sku,
        "name": spec.name,
        "brand": spec.brand,
        "ean": spec.ean,
        "mpn": spec.mpn,
        "parent": spec.parent,
        "axes": {a.axis: a.value for a in spec.axes},
        "price": spec.price,
        "currency": spec.currency,
        "weight_grams": spec.weight_grams,
        "dimensions": asdict(spec.dimensions) if spec.dimensions else None,
        "attributes": {a.name: {"value": a.value, "unit": a.unit} for a in spec.attributes},
        "lithium_ion": spec.lithium_ion,
        "warranty_months": spec.warranty_months,
        "components": [asdict(c) for c in spec.components],
        "compatible_with": list(spec.compatible_with),
        "fitted_by": list(listing.fitted_by),
        "lifecycle": listing.lifecycle,
        "successor_sku": listing.successor_sku,
        "certifications": list(listing.certifications),
    }


@read_models.on_own_aggregates(Product)
def product_rows(products: Sequence[Product]) -> list[Change]:
    """The products' rows and their catalogue entries (a set statement each, for any number of
    products: `SqlRenderer`)."""
    rows = [
        Upsert(
            PIM_PRODUCTS.name,
            {
                "sku": p.sku,
                "gtin": gtin13(p.spec.ean) if p.spec.ean else None,
                "parent": p.spec.parent,
                "axes_key": p.spec.axes_key if p.spec.parent else None,
                "lifecycle": p.lifecycle,
                "spec_fingerprint": spec_fingerprint(p.spec),
                "certifications_fingerprint": certifications_fingerprint(p.certifications.values()),
                "view": product_view(p),
            },
        )
        for p in products
    ]
    entries = [
        Insert(
            PIM_CATALOGUE.name,
            {"market": listing.market, "sku": p.sku, "entry": listing_view(listing)},
        )
        for p in products
        for listing in p.listings.values()
    ]
    withdrawn = Delete(PIM_CATALOGUE.name, {"sku": AnyOf(tuple(p.sku for p in products))})
    return [*rows, withdrawn, *entries] if products else []
