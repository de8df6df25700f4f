"""Events the `pim` service publishes on `pim.events.v1`, keyed by product id."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import Field

from contracts.base import ContractModel, IntegrationEvent, Money, Sku


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


# -- the richer model: published next to the facts events, never instead of them ------------------


class Measurement(ContractModel):
    """A typed technical attribute, normalised to one unit per attribute."""

    name: str = Field(
        description="voltage (V), frequency (Hz), battery (Wh), refresh_rate (Hz), "
        "screen_size (in) or ports (no unit)."
    )
    value: str = Field(
        description="Decimal in `unit` (e.g. `144`, `0.5`), a range (`100-240`), or for ports a "
        "comma-separated list (`HDMI,USB-C`)."
    )
    unit: str | None = Field(description="The normalised unit; none for ports.")


class DimensionsMm(ContractModel):
    """Outer dimensions of one unit, in millimetres (decimals as text, exact)."""

    length_mm: str = Field(description="Length in millimetres.")
    width_mm: str = Field(description="Width in millimetres.")
    height_mm: str = Field(description="Height in millimetres.")


class BundleComponent(ContractModel):
    """One component of a bundle or kit."""

    sku: Sku
    quantity: int = Field(ge=1, description="Units of the component in one bundle.")


class AssetReference(ContractModel):
    """A digital asset (image, manual, datasheet, …) by reference, with its content hash."""

    kind: str = Field(description="image, manual, datasheet, video or other.")
    uri: str = Field(description="Where the asset is (http, https or s3).")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the asset's bytes.")


class ProductSpecFields(ContractModel):
    """Everything a sellable product (variant) is; shared by the spec and catalogue events."""

    name: str = Field(description="Product name.")
    brand: str | None = Field(description="Brand, when known.")
    ean: str | None = Field(description="EAN-13 or UPC-A, check digit verified.")
    mpn: str | None = Field(description="Manufacturer part number.")
    parent: str | None = Field(description="Code of the parent product this is a variant of.")
    axes: dict[str, str] = Field(
        description="The variant's value per axis of its parent (colour, storage, region, "
        "voltage, plug, bundle); empty for a standalone product."
    )
    price: Money | None = Field(description="List price, when set.")
    currency: str | None = Field(description="ISO 4217 currency of the price.")
    weight_grams: int = Field(ge=1, description="Shipping weight of one unit, in grams.")
    dimensions: DimensionsMm | None = Field(description="Outer dimensions of one unit.")
    attributes: list[Measurement] = Field(description="Typed technical attributes, by name.")
    lithium_ion: bool = Field(description="Contains a lithium-ion battery (ships by ground only).")
    serialized: bool = Field(description="Each unit carries a serial number to scan.")
    warranty_months: int = Field(ge=0, description="Manufacturer's warranty, in months.")
    components: list[BundleComponent] = Field(
        description="For a bundle or kit, its components; empty otherwise."
    )
    compatible_with: list[Sku] = Field(description="SKUs this product fits or works with.")
    assets: list[AssetReference] = Field(description="Images, manuals, datasheets by reference.")


class ProductSpecified(ProductSpecFields, IntegrationEvent):
    """A product's whole specification, as it is now (at registration and at every change)."""

    event_type = "ProductSpecified"
    aggregate_type = "product"

    product_id: uuid.UUID = Field(description="The product (variant).")
    sku: Sku


class ProductCertified(IntegrationEvent):
    """A variant holds a certificate of a scheme (a renewal replaces the previous one)."""

    event_type = "ProductCertified"
    aggregate_type = "product"

    product_id: uuid.UUID = Field(description="The product (variant).")
    sku: Sku
    scheme: str = Field(description="Certification scheme, e.g. FCC, CE, UKCA, UL.")
    certificate_number: str | None = Field(description="The certificate's number, when known.")
    valid_from: date = Field(description="First day the certificate is valid.")
    valid_to: date | None = Field(description="Last day it is valid; none: until withdrawn.")


class ProductCertificationWithdrawn(IntegrationEvent):
    """A variant no longer holds any certificate of a scheme."""

    event_type = "ProductCertificationWithdrawn"
    aggregate_type = "product"

    product_id: uuid.UUID = Field(description="The product (variant).")
    sku: Sku
    scheme: str = Field(description="The withdrawn scheme.")


class VariantDisabled(IntegrationEvent):
    """A variant (e.g. an invalid axis combination) must not be sold anywhere."""

    event_type = "VariantDisabled"
    aggregate_type = "product"

    product_id: uuid.UUID = Field(description="The product (variant).")
    sku: Sku
    reason: str = Field(description="Why it is disabled.")


class VariantEnabled(IntegrationEvent):
    """A disabled variant may be sold again (where certified)."""

    event_type = "VariantEnabled"
    aggregate_type = "product"

    product_id: uuid.UUID = Field(description="The product (variant).")
    sku: Sku


class ProductEndOfLife(IntegrationEvent):
    """A product reached its end of life; its successor replaces it."""

    event_type = "ProductEndOfLife"
    aggregate_type = "product"

    product_id: uuid.UUID = Field(description="The product (variant).")
    sku: Sku
    successor_sku: Sku = Field(description="The product that replaces it.")


class ProductDiscontinued(IntegrationEvent):
    """A product is discontinued for good; it is withdrawn from every catalogue."""

    event_type = "ProductDiscontinued"
    aggregate_type = "product"

    product_id: uuid.UUID = Field(description="The product (variant).")
    sku: Sku


class CatalogueEntryChanged(ProductSpecFields, IntegrationEvent):
    """A variant's entry in one market's channel catalogue, as it is now: channels list it.

    Published when a variant becomes sellable in the market and at every change of what the entry
    shows, including which other products are declared to fit it; channel connectors of the
    market replace their entry with it.
    """

    event_type = "CatalogueEntryChanged"
    aggregate_type = "product"

    product_id: uuid.UUID = Field(description="The product (variant).")
    market: str = Field(description="The market, e.g. US, EU, UK.")
    sku: Sku
    lifecycle: str = Field(description="active or end_of_life.")
    successor_sku: Sku | None = Field(description="For end of life: the product replacing it.")
    certifications: list[str] = Field(
        description="Schemes the variant holds valid certificates of (at least the market's)."
    )
    fitted_by: list[Sku] = Field(
        default_factory=list,
        description="SKUs declared to fit or work with this product (their `compatible_with` "
        "lists it): a camera's lenses. The entry is published again when a product starts or "
        "stops declaring it. Absent from entries published before the feed carried it (read as "
        "none); the PIM publishes again, when it starts, every entry something is declared to fit.",
    )


class CatalogueEntryWithdrawn(IntegrationEvent):
    """A variant left one market's channel catalogue: channels stop selling it there."""

    event_type = "CatalogueEntryWithdrawn"
    aggregate_type = "product"

    product_id: uuid.UUID = Field(description="The product (variant).")
    market: str = Field(description="The market, e.g. US, EU, UK.")
    sku: Sku
    reason: str = Field(description="Why, e.g. `no valid CE certification`, `discontinued`.")


class ExcludedCombination(ContractModel):
    """Axis values a parent's variants may not take together (a combination not made)."""

    values: dict[str, str] = Field(description="Axis → value; a variant holding all is refused.")
    reason: str = Field(description="Why the combination is not made or sold.")


class ParentProductFields(IntegrationEvent):
    """A parent product and the variant axes it declares; published as one of the two below."""

    aggregate_type = "parent_product"

    parent_id: uuid.UUID = Field(description="The parent product.")
    code: Sku
    name: str = Field(description="Name of the product family.")
    brand: str | None = Field(description="Brand, when known.")
    axes: dict[str, list[str]] = Field(
        description="Variant axes in declaration order, each with the values variants may take."
    )
    excluded: list[ExcludedCombination] = Field(
        default_factory=list,
        description="Combinations of axis values no variant may take. Absent from events "
        "published before parents could exclude combinations: none.",
    )


class ParentProductDeclared(ParentProductFields):
    """A parent product (a family of variants) entered the catalogue."""

    event_type = "ParentProductDeclared"


class ParentProductChanged(ParentProductFields):
    """A parent product's name or axes changed; the event carries all of them as they are now."""

    event_type = "ParentProductChanged"


class ComplianceDocumentVersionPublished(IntegrationEvent):
    """A version of a compliance document of a SKU was published, with its validity period."""

    event_type = "ComplianceDocumentVersionPublished"
    aggregate_type = "compliance_document"

    document_id: uuid.UUID = Field(description="The document (one per SKU and kind).")
    sku: Sku
    kind: str = Field(
        description="declaration_of_conformity, rohs, reach, safety_data_sheet or energy_label."
    )
    version: str = Field(description="Version label, unique per document.")
    valid_from: datetime = Field(description="When this version takes effect.")
    valid_to: datetime | None = Field(
        description="When it stops (exclusive); a later version taking effect also ends it."
    )
    uri: str = Field(description="Where the document is.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of its bytes.")
