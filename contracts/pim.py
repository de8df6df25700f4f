"""Events the `pim` service publishes on `pim.events.v1`, keyed by product id."""

from __future__ import annotations

import uuid

from pydantic import Field

from contracts.base import IntegrationEvent, Sku


class ProductFactsEvent(IntegrationEvent):
    """The facts about a product that other services act on; published as one of the two below."""

    aggregate_type = "product"

    product_id: uuid.UUID = Field(description="The product.")
    sku: Sku
    name: str = Field(description="Product name.")
    weight_grams: int = Field(ge=1, description="Shipping weight of one unit, in grams.")
    lithium_ion: bool = Field(description="Contains a lithium-ion battery (ships by ground only).")
    serialized: bool = Field(description="Each unit carries a serial number to scan.")
    warranty_months: int = Field(ge=0, description="Manufacturer's warranty, in months.")


class ProductRegistered(ProductFactsEvent):
    """A product entered the catalogue."""

    event_type = "ProductRegistered"


class ProductChanged(ProductFactsEvent):
    """A product's facts changed; the event carries all of them as they are now."""

    event_type = "ProductChanged"
