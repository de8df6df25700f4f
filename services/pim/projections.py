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
import json
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
from services.runtime.eventstore import ReadModelChange
from services.runtime.projections import ReadModels

read_models = ReadModels(
    "CREATE TABLE IF NOT EXISTS pim_products ("
    " sku text PRIMARY KEY, gtin text UNIQUE, parent text, axes_key text,"
    " lifecycle text NOT NULL, spec_fingerprint text NOT NULL,"
    " certifications_fingerprint text NOT NULL, view jsonb NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS pim_products_combination"
    " ON pim_products (parent, axes_key) WHERE parent IS NOT NULL",
    # "What fits this camera?": the products whose compatible_with lists a SKU.
    "CREATE INDEX IF NOT EXISTS pim_products_compatible_with"
    " ON pim_products USING gin ((view -> 'compatible_with'))",
    "CREATE TABLE IF NOT EXISTS pim_catalogue ("
    " market text NOT NULL, sku text NOT NULL, entry jsonb NOT NULL,"
    " PRIMARY KEY (market, sku))",
)


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
        "lifecycle": listing.lifecycle,
        "successor_sku": listing.successor_sku,
        "certifications": list(listing.certifications),
    }


@read_models.on_own_aggregates(Product)
def product_rows(products: Sequence[Product]) -> list[ReadModelChange]:
    """Three set-based statements for any number of products: their rows and catalogue entries.

    Each batch travels as one JSON document: passing arrays of JSON texts instead costs more in
    the driver's array escaping than the database needs for the writes.
    """
    if not products:
        return []
    rows = [
        {
            "sku": p.sku,
            "gtin": gtin13(p.spec.ean) if p.spec.ean else None,
            "parent": p.spec.parent,
            "axes_key": p.spec.axes_key if p.spec.parent else None,
            "lifecycle": p.lifecycle,
            "spec_fingerprint": spec_fingerprint(p.spec),
            "certifications_fingerprint": certifications_fingerprint(p.certifications.values()),
            "view": product_view(p),
        }
        for p in products
    ]
    entries = [
        {"market": listing.market, "sku": p.sku, "entry": listing_view(listing)}
        for p in products
        for listing in p.listings.values()
    ]
    return [
        (
            "INSERT INTO pim_products (sku, gtin, parent, axes_key, lifecycle, spec_fingerprint,"
            " certifications_fingerprint, view)"
            " SELECT * FROM jsonb_to_recordset(%s::jsonb) AS r(sku text, gtin text, parent text,"
            " axes_key text, lifecycle text, spec_fingerprint text,"
            " certifications_fingerprint text, view jsonb)"
            " ON CONFLICT (sku) DO UPDATE SET gtin = excluded.gtin, parent = excluded.parent,"
            " axes_key = excluded.axes_key, lifecycle = excluded.lifecycle,"
            " spec_fingerprint = excluded.spec_fingerprint,"
            " certifications_fingerprint = excluded.certifications_fingerprint,"
            " view = excluded.view",
            [json.dumps(rows)],
        ),
        ("DELETE FROM pim_catalogue WHERE sku = ANY(%s)", [[p.sku for p in products]]),
        (
            "INSERT INTO pim_catalogue (market, sku, entry)"
            " SELECT * FROM jsonb_to_recordset(%s::jsonb) AS r(market text, sku text, entry jsonb)",
            [json.dumps(entries)],
        ),
    ]
