"""PIM use cases: load → decide → save. They return ids, not aggregates."""

from __future__ import annotations

import uuid

from eventsourcing.application import AggregateNotFoundError

from services.pim.domain import Product, ProductFacts, product_id_for
from services.runtime.eventstore import ServiceApplication


class UnknownProduct(LookupError):
    """No product has this SKU."""


class PimApplication(ServiceApplication):
    """The product system of record: what a product is, for every other service and channel."""

    value_objects = (ProductFacts,)

    def put_product(self, sku: str, facts: ProductFacts) -> uuid.UUID:
        """Register a product, or bring its facts up to date."""
        try:
            product: Product = self.get(product_id_for(sku), Product)
        except AggregateNotFoundError:
            product = Product.register(sku, facts)
        else:
            product.change(facts)
        self.save(product)
        return product.id

    def get_product(self, sku: str) -> Product:
        try:
            product: Product = self.get(product_id_for(sku), Product)
        except AggregateNotFoundError:
            raise UnknownProduct(sku) from None
        return product
