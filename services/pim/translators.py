"""PIM domain ↔ public contracts. Pure functions.

Total: every event a PIM aggregate records has a contract, because consumers track each aggregate's
versions contiguously and an unpublished version would look like a gap to them.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from contracts import pim as contracts
from contracts.base import IntegrationEvent
from services.pim.domain import (
    ComplianceDocument,
    Listing,
    ParentProduct,
    Product,
    ProductSpec,
)


def spec_fields(spec: ProductSpec) -> dict[str, Any]:
    """The contract fields of a spec (shared by `ProductSpecified` and `CatalogueEntryChanged`)."""
    return {
        "name": spec.name,
        "brand": spec.brand,
        "ean": spec.ean,
        "mpn": spec.mpn,
        "parent": spec.parent,
        "axes": {a.axis: a.value for a in spec.axes},
        "price": Decimal(spec.price) if spec.price is not None else None,
        "currency": spec.currency,
        "weight_grams": spec.weight_grams,
        "dimensions": (
            contracts.DimensionsMm(**asdict(spec.dimensions)) if spec.dimensions else None
        ),
        "attributes": [contracts.Measurement(**asdict(a)) for a in spec.attributes],
        "lithium_ion": spec.lithium_ion,
        "serialized": spec.serialized,
        "warranty_months": spec.warranty_months,
        "components": [contracts.BundleComponent(**asdict(c)) for c in spec.components],
        "compatible_with": list(spec.compatible_with),
        "assets": [contracts.AssetReference(**asdict(a)) for a in spec.assets],
    }


def catalogue_entry(event_product_id: Any, listing: Listing) -> contracts.CatalogueEntryChanged:
    return contracts.CatalogueEntryChanged(
        product_id=event_product_id,
        market=listing.market,
        sku=listing.sku,
        lifecycle=listing.lifecycle,
        successor_sku=listing.successor_sku,
        certifications=list(listing.certifications),
        **spec_fields(listing.spec),
    )


def _product_event(event: Any) -> IntegrationEvent:
    ids = {"product_id": event.originator_id, "sku": event.sku}
    match event:
        case Product.Registered():
            return contracts.ProductRegistered(**ids, **asdict(event.facts))
        case Product.Changed():
            return contracts.ProductChanged(**ids, **asdict(event.facts))
        case Product.Specified():
            return contracts.ProductSpecified(**ids, **spec_fields(event.spec))
        case Product.Certified():
            certification = event.certification
            return contracts.ProductCertified(
                **ids,
                scheme=certification.scheme,
                certificate_number=certification.certificate_number,
                valid_from=date.fromisoformat(certification.valid_from),
                valid_to=(
                    date.fromisoformat(certification.valid_to) if certification.valid_to else None
                ),
            )
        case Product.CertificationWithdrawn():
            return contracts.ProductCertificationWithdrawn(**ids, scheme=event.scheme)
        case Product.Disabled():
            return contracts.VariantDisabled(**ids, reason=event.reason)
        case Product.Enabled():
            return contracts.VariantEnabled(**ids)
        case Product.EndOfLifeDeclared():
            return contracts.ProductEndOfLife(**ids, successor_sku=event.successor_sku)
        case Product.Discontinued():
            return contracts.ProductDiscontinued(**ids)
        case Product.Listed():
            return catalogue_entry(event.originator_id, event.listing)
        case Product.Withdrawn():
            return contracts.CatalogueEntryWithdrawn(
                **ids, market=event.market, reason=event.reason
            )
    raise TypeError(f"no contract for PIM event {type(event).__qualname__}")


def to_contract(event: Any) -> IntegrationEvent:
    """The public event for a recorded PIM event."""
    if isinstance(event, Product.Event):
        return _product_event(event)
    if isinstance(event, ParentProduct.Declared | ParentProduct.Changed):
        kind = (
            contracts.ParentProductDeclared
            if isinstance(event, ParentProduct.Declared)
            else contracts.ParentProductChanged
        )
        return kind(
            parent_id=event.originator_id,
            code=event.code,
            name=event.name,
            brand=event.brand,
            axes={axis.name: list(axis.values) for axis in event.axes},
        )
    if isinstance(
        event, ComplianceDocument.FirstVersionPublished | ComplianceDocument.VersionPublished
    ):
        version = event.document_version
        return contracts.ComplianceDocumentVersionPublished(
            document_id=event.originator_id,
            sku=event.sku,
            kind=event.kind,
            version=version.version,
            valid_from=datetime.fromisoformat(version.valid_from),
            valid_to=datetime.fromisoformat(version.valid_to) if version.valid_to else None,
            uri=version.uri,
            sha256=version.sha256,
        )
    raise TypeError(f"no contract for PIM event {type(event).__qualname__}")
