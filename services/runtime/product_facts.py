"""The PIM's product facts that decide what a parcel costs, as a read model any service can keep:
weight, whether it holds a lithium-ion battery (it may not fly), and a unit's outer dimensions and
volume (carriers charge bulky parcels by volume).

A service keeps it by including it in its read models (`ReadModels(..., include=[read_models])`)
and reads it with `facts_of`; the consumer subscribes it from the declaration.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, NamedTuple

from contracts.envelope import Envelope
from contracts.pim import DimensionsMm, ProductChanged, ProductRegistered, ProductSpecified
from services.runtime.projections import Change, Delete, Join, ReadModels, Select, Table, Upsert

PRODUCT_FACTS = Table(
    "product_facts",
    {"sku": "text", "weight_grams": "integer", "lithium_ion": "boolean"},
    key=("sku",),
)
PRODUCT_DIMENSIONS = Table(
    "product_dimensions",
    {
        "sku": "text",
        "length_mm": "numeric",
        "width_mm": "numeric",
        "height_mm": "numeric",
        "volume_cm3": "integer",
    },
    key=("sku",),
)

read_models = ReadModels(PRODUCT_FACTS, PRODUCT_DIMENSIONS)


class ProductFacts(NamedTuple):
    """What is known of a product from the PIM."""

    weight_grams: int
    lithium_ion: bool
    volume_cm3: int | None = None
    """Outer volume of one unit; None while the PIM has no dimensions for it."""


def volume_cm3(dimensions: DimensionsMm) -> int:
    """Outer volume of one unit in whole cm³ (rounded up), from the PIM's dimensions in mm."""
    cubic_mm = (
        Decimal(dimensions.length_mm) * Decimal(dimensions.width_mm) * Decimal(dimensions.height_mm)
    )
    return math.ceil(cubic_mm / 1000)


@read_models.on_event(ProductRegistered, producer="pim")
@read_models.on_event(ProductChanged, producer="pim")
def facts(event: ProductRegistered | ProductChanged, _: Envelope) -> list[Change]:
    """Weight, and whether it may fly."""
    row = {"sku": event.sku, "weight_grams": event.weight_grams, "lithium_ion": event.lithium_ion}
    return [Upsert(PRODUCT_FACTS.name, row)]


@read_models.on_event(ProductSpecified, producer="pim")
def dimensions(event: ProductSpecified, _: Envelope) -> list[Change]:
    """The outer dimensions in millimetres and the volume (none: it has none, any more)."""
    size = event.dimensions
    if size is None:
        return [Delete(PRODUCT_DIMENSIONS.name, {"sku": event.sku})]
    row = {
        "sku": event.sku,
        "length_mm": Decimal(size.length_mm),
        "width_mm": Decimal(size.width_mm),
        "height_mm": Decimal(size.height_mm),
        "volume_cm3": volume_cm3(size),
    }
    return [Upsert(PRODUCT_DIMENSIONS.name, row)]


FACTS = Select(
    PRODUCT_FACTS.name,
    ("sku", "weight_grams", "lithium_ion"),
    where={"sku": "any"},
    join=Join(PRODUCT_DIMENSIONS.name, on=("sku",), columns=("volume_cm3",)),
)
"""The facts of some SKUs (one parameter: the SKUs), with the volume where it is known."""


def facts_of(
    query: Callable[..., list[dict[str, Any]]], skus: Iterable[str]
) -> dict[str, ProductFacts]:
    """The facts known of these SKUs (`query`: the application's `ServiceApplication.query`)."""
    return {
        row["sku"]: ProductFacts(row["weight_grams"], row["lithium_ion"], row["volume_cm3"])
        for row in query(FACTS, sorted(set(skus)))
    }
