"""Products: what a product is. Pure: no I/O.

Today a product holds the facts that fulfilment acts on (weight, lithium-ion battery, serial numbers,
warranty); identifiers, variants, certifications and documents arrive with the PIM issue.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from services.runtime.aggregate import Aggregate, DomainError

PRODUCT_NAMESPACE = uuid.UUID("5d3c7a10-9e2b-4f61-8a4d-1c0b9e7f6a52")
SKU_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")


def product_id_for(sku: str) -> uuid.UUID:
    return uuid.uuid5(PRODUCT_NAMESPACE, sku)


@dataclass(frozen=True)
class ProductFacts:
    name: str
    weight_grams: int
    lithium_ion: bool
    serialized: bool
    warranty_months: int

    def check(self) -> None:
        if not self.name.strip():
            raise DomainError("a product needs a name")
        if self.weight_grams < 1:
            raise DomainError("a product's shipping weight must be at least 1 gram")
        if self.warranty_months < 0:
            raise DomainError("a warranty cannot be negative")


class Product(Aggregate):
    """A product in the catalogue, identified by its SKU."""

    class Registered(Aggregate.Created):
        sku: str
        facts: ProductFacts

        def apply(self, product: Any) -> None:
            product.sku = self.sku
            product.facts = self.facts

    class Changed(Aggregate.Event):
        sku: str
        facts: ProductFacts

        def apply(self, product: Any) -> None:
            product.facts = self.facts

    if TYPE_CHECKING:
        sku: str
        facts: ProductFacts

    @classmethod
    def register(cls, sku: str, facts: ProductFacts) -> Self:
        if not SKU_PATTERN.match(sku):
            raise DomainError(f"{sku!r} is not a valid SKU")
        facts.check()
        return cls._create(cls.Registered, id=product_id_for(sku), sku=sku, facts=facts)

    def change(self, facts: ProductFacts) -> None:
        """Replace the facts; the same facts again change nothing."""
        facts.check()
        if facts != self.facts:
            self.trigger_event(self.Changed, sku=self.sku, facts=facts)
