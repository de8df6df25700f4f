"""PIM domain ↔ public contracts. Pure functions.

Total: every event a PIM aggregate records has a contract, because consumers track each aggregate's
versions contiguously and an unpublished version would look like a gap to them.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from contracts import pim as contracts
from contracts.base import IntegrationEvent
from services.pim.domain import (
    ComplianceDocument,
    Listing,
    ParentProduct,
    Product,
    ProductSpec,
)
from services.pim.projections import excluded_view


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
        fitted_by=list(listing.fitted_by),
        **spec_fields(listing.spec),
    )


@functools.singledispatch
def to_contract(event: object) -> IntegrationEvent:
    """The public event for a recorded PIM event (a function per event class, registered
    below)."""
    raise TypeError(f"no contract for PIM event {type(event).__qualname__}")


class _OfAProduct(Protocol):
    @property
    def originator_id(self) -> uuid.UUID: ...
    @property
    def sku(self) -> str: ...


def _ids(event: _OfAProduct) -> dict[str, Any]:
    return {"product_id": event.originator_id, "sku": event.sku}


@to_contract.register
def _registered(event: Product.Registered) -> contracts.ProductRegistered:
    return contracts.ProductRegistered(**_ids(event), **asdict(event.facts))


@to_contract.register
def _changed(event: Product.Changed) -> contracts.ProductChanged:
    return contracts.ProductChanged(**_ids(event), **asdict(event.facts))


@to_contract.register
def _specified(event: Product.Specified) -> contracts.ProductSpecified:
    return contracts.ProductSpecified(**_ids(event), **spec_fields(event.spec))


@to_contract.register
def _certified(event: Product.Certified) -> contracts.ProductCertified:
    certification = event.certification
    return contracts.ProductCertified(
        **_ids(event),
        scheme=certification.scheme,
        certificate_number=certification.certificate_number,
        valid_from=date.fromisoformat(certification.valid_from),
        valid_to=date.fromisoformat(certification.valid_to) if certification.valid_to else None,
    )


@to_contract.register
def _certification_withdrawn(
    event: Product.CertificationWithdrawn,
) -> contracts.ProductCertificationWithdrawn:
    return contracts.ProductCertificationWithdrawn(**_ids(event), scheme=event.scheme)


@to_contract.register
def _disabled(event: Product.Disabled) -> contracts.VariantDisabled:
    return contracts.VariantDisabled(**_ids(event), reason=event.reason)


@to_contract.register
def _enabled(event: Product.Enabled) -> contracts.VariantEnabled:
    return contracts.VariantEnabled(**_ids(event))


@to_contract.register
def _end_of_life(event: Product.EndOfLifeDeclared) -> contracts.ProductEndOfLife:
    return contracts.ProductEndOfLife(**_ids(event), successor_sku=event.successor_sku)


@to_contract.register
def _discontinued(event: Product.Discontinued) -> contracts.ProductDiscontinued:
    return contracts.ProductDiscontinued(**_ids(event))


@to_contract.register
def _listed(event: Product.Listed) -> contracts.CatalogueEntryChanged:
    return catalogue_entry(event.originator_id, event.listing)


@to_contract.register
def _withdrawn(event: Product.Withdrawn) -> contracts.CatalogueEntryWithdrawn:
    return contracts.CatalogueEntryWithdrawn(
        **_ids(event), market=event.market, reason=event.reason
    )


def _parent_fields(event: ParentProduct.Declared | ParentProduct.Changed) -> dict[str, Any]:
    return {
        "parent_id": event.originator_id,
        "code": event.code,
        "name": event.name,
        "brand": event.brand,
        "axes": {axis.name: list(axis.values) for axis in event.axes},
        "excluded": [excluded_view(rule) for rule in event.excluded],
    }


@to_contract.register
def _parent_declared(event: ParentProduct.Declared) -> contracts.ParentProductDeclared:
    return contracts.ParentProductDeclared(**_parent_fields(event))


@to_contract.register
def _parent_changed(event: ParentProduct.Changed) -> contracts.ParentProductChanged:
    return contracts.ParentProductChanged(**_parent_fields(event))


@to_contract.register
def _document_version(
    event: ComplianceDocument.FirstVersionPublished | ComplianceDocument.VersionPublished,
) -> contracts.ComplianceDocumentVersionPublished:
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
