"""HTTP commands and queries on products, parents, documents, catalogues and imports."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.pim.application import (
    PimApplication,
)
from services.pim.domain import (
    Axis,
    AxisValue,
    Certification,
    ComplianceDocument,
    DocumentVersion,
    ExcludedCombination,
    parse_moment,
)
from services.pim.importing import parse_rows, product_input
from services.pim.projections import excluded_view, product_view
from services.runtime.aggregate import NotFound
from services.runtime.auth import Role, allow
from services.runtime.service import ServiceRuntime, runtime_of

products = APIRouter(prefix="/products", tags=["products"])
parents = APIRouter(prefix="/parents", tags=["parents"])
catalogue = APIRouter(prefix="/catalogue", tags=["catalogue"])
imports = APIRouter(prefix="/imports", tags=["imports"])
routers = [products, parents, catalogue, imports]

Runtime = Annotated[ServiceRuntime[PimApplication], Depends(runtime_of)]
EDITS = [allow(Role.INVENTORY)]
"""Who changes the catalogue: the people who plan and buy the assortment."""
READS = [allow(Role.CHANNEL, Role.INVENTORY, Role.WAREHOUSE, Role.CUSTOMER_SERVICE, Role.ANALYST)]
Code = Annotated[str, Field(max_length=100)]
"""A SKU, a parent's code, a scheme, a kind, a number: short."""
Words = Annotated[str, Field(max_length=500)]
"""A name, a brand, an attribute's or an axis' value."""
Uri = Annotated[str, Field(max_length=2_000)]
Quantity = int | float | Annotated[str, Field(max_length=50)]
"""A number, or one with its unit ('0.5 kg', '144 Hz')."""
MOST_ITEMS = 1_000
"""Most entries of a list or a mapping in a product or a parent."""


class ComponentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Code = Field(description="Component SKU.")
    quantity: int = Field(default=1, description="Units of it in one bundle.")


class AssetBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Code = Field(description="image, manual, datasheet, video or other.")
    uri: Uri = Field(description="Where it is: http(s):// or s3://.")
    sha256: Code = Field(description="SHA-256 of its bytes, 64 lower-case hex digits.")


class CertificationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scheme: Code = Field(description="FCC, CE, UKCA, UL, …")
    valid_from: Code = Field(description="First valid day, YYYY-MM-DD.")
    valid_to: Code | None = Field(default=None, description="Last valid day; none: open-ended.")
    certificate_number: Code | None = Field(default=None, description="The certificate's number.")

    def certification(self) -> Certification:
        return Certification(
            self.scheme.upper(), self.valid_from, self.valid_to, self.certificate_number
        )


class PutProduct(BaseModel):
    """A product (variant) as it is now; only the first three fields are required."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Product name.")
    weight_grams: Quantity = Field(
        description="Shipping weight of one unit: grams, or with a unit ('0.5 kg', '1.2 lb')."
    )
    lithium_ion: bool = Field(description="Contains a lithium-ion battery.")
    serialized: bool = Field(default=True, description="Each unit carries a serial number.")
    warranty_months: int = Field(default=24, description="Warranty in months.")
    ean: Code | None = Field(default=None, description="EAN-13 or UPC-A; check digit verified.")
    mpn: Code | None = Field(default=None, description="Manufacturer part number.")
    brand: Words | None = Field(default=None, description="Brand.")
    parent: Code | None = Field(default=None, description="Parent product code (for a variant).")
    axes: dict[Code, Words] | None = Field(
        default=None,
        max_length=MOST_ITEMS,
        description="The variant's value per axis of its parent.",
    )
    price: Code | None = Field(default=None, description="List price, e.g. '1299.00'.")
    currency: Code | None = Field(default=None, description="ISO currency of the price.")
    dimensions: Words | Annotated[list[Quantity], Field(max_length=3)] | None = Field(
        default=None, description="Length x width x height: '300 x 200 x 15 mm' or [300, 200, 15]."
    )
    attributes: (
        dict[Code, Quantity | Annotated[list[Words], Field(max_length=MOST_ITEMS)]] | None
    ) = Field(
        default=None,
        max_length=MOST_ITEMS,
        description="voltage, frequency, battery, refresh_rate, screen_size (with or without "
        "units: '144 Hz', 144), ports (list).",
    )
    components: list[ComponentBody] | None = Field(
        default=None, max_length=MOST_ITEMS, description="Bundle contents."
    )
    compatible_with: list[Code] | None = Field(
        default=None, max_length=MOST_ITEMS, description="SKUs it fits."
    )
    assets: list[AssetBody] | None = Field(
        default=None, max_length=MOST_ITEMS, description="Digital assets."
    )
    certifications: list[CertificationBody] | None = Field(
        default=None,
        max_length=MOST_ITEMS,
        description="When given: exactly the certifications the variant holds.",
    )


class NewProduct(PutProduct):
    sku: Code = Field(description="The new product's SKU.")


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500, description="Why.")


class Successor(BaseModel):
    model_config = ConfigDict(extra="forbid")
    successor_sku: Code = Field(description="The product that replaces this one.")


class ExcludedCombinationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    values: dict[Code, Words] = Field(
        min_length=1,
        max_length=MOST_ITEMS,
        description='Axis → value, e.g. {"colour": "gold", "storage": "512GB"}.',
    )
    reason: str = Field(min_length=1, max_length=500, description="Why it is not made or sold.")

    def combination(self) -> ExcludedCombination:
        values = tuple(AxisValue(axis, value) for axis, value in self.values.items())
        return ExcludedCombination(values, self.reason)


class PutParent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, description="Name of the product family.")
    brand: Words | None = Field(default=None, description="Brand.")
    axes: dict[Code, Annotated[list[Words], Field(max_length=MOST_ITEMS)]] = Field(
        max_length=MOST_ITEMS,
        description="Variant axes (colour, storage, region, voltage, plug, bundle) and values.",
    )
    excluded: list[ExcludedCombinationBody] = Field(
        default_factory=list,
        max_length=1_000,
        description="Combinations no variant may take; a variant holding one is refused, naming "
        "the rule. Leave out to exclude none.",
    )


class PutDocumentVersion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    valid_from: Code = Field(description="When this version takes effect (ISO date or time).")
    valid_to: Code | None = Field(default=None, description="When it stops (exclusive).")
    uri: Uri = Field(description="Where the document is.")
    sha256: Code = Field(description="SHA-256 of its bytes.")


async def _view(runtime: ServiceRuntime[PimApplication], sku: str) -> dict[str, Any]:
    product = await runtime.run_command(runtime.application.get_product, sku)
    return product_view(product)


def _input(sku: str, body: PutProduct) -> Any:
    raw = body.model_dump(exclude_none=True, exclude={"sku"})
    return product_input(raw, sku)


@products.put("/{sku}", dependencies=EDITS)
async def put_product(sku: str, command: PutProduct, runtime: Runtime) -> dict[str, Any]:
    """Register a product or replace its spec (and, when given, its certifications); every
    service and channel learns of it. The same body again changes nothing."""
    wanted = _input(sku, command)
    await runtime.run_command(
        runtime.application.put_product, sku, wanted.spec, wanted.certifications
    )
    return await _view(runtime, sku)


@products.post("", status_code=201, dependencies=EDITS)
async def register_product(command: NewProduct, runtime: Runtime) -> dict[str, Any]:
    """Register a new product; 409 when the SKU is already registered."""
    wanted = _input(command.sku, command)
    await runtime.run_command(
        runtime.application.register_product,
        command.sku,
        wanted.spec,
        wanted.certifications,
    )
    return await _view(runtime, command.sku)


@products.get("/{sku}", dependencies=READS)
async def get_product(sku: str, runtime: Runtime) -> dict[str, Any]:
    """A product: facts, spec, certifications, lifecycle and the markets it is listed in."""
    return await _view(runtime, sku)


@products.get("/{sku}/compatible", dependencies=READS)
async def get_compatibility(sku: str, runtime: Runtime) -> dict[str, Any]:
    """Compatibility both ways: `fits`, what this product works with (a lens: the cameras it
    mounts on), and `fitted_by`, what is declared to work with it (a camera: its lenses)."""
    compatibility: dict[str, Any] = await runtime.run_command(
        runtime.application.compatibility, sku
    )
    return compatibility


@products.post("/{sku}/certifications", dependencies=EDITS)
async def certify(sku: str, command: CertificationBody, runtime: Runtime) -> dict[str, Any]:
    """Record a certificate of the variant (replacing the scheme's previous one)."""
    await runtime.run_command(runtime.application.certify, sku, command.certification())
    return await _view(runtime, sku)


@products.delete("/{sku}/certifications/{scheme}", dependencies=EDITS)
async def withdraw_certification(sku: str, scheme: str, runtime: Runtime) -> dict[str, Any]:
    """The variant no longer holds this scheme's certificate (it leaves markets requiring it)."""
    await runtime.run_command(runtime.application.withdraw_certification, sku, scheme.upper())
    return await _view(runtime, sku)


@products.post("/{sku}/disable", dependencies=EDITS)
async def disable(sku: str, command: Reason, runtime: Runtime) -> dict[str, Any]:
    """Disable a variant (e.g. an invalid combination): withdrawn from every catalogue."""
    await runtime.run_command(runtime.application.disable, sku, command.reason)
    return await _view(runtime, sku)


@products.post("/{sku}/enable", dependencies=EDITS)
async def enable(sku: str, runtime: Runtime) -> dict[str, Any]:
    await runtime.run_command(runtime.application.enable, sku)
    return await _view(runtime, sku)


@products.post("/{sku}/end-of-life", dependencies=EDITS)
async def end_of_life(sku: str, command: Successor, runtime: Runtime) -> dict[str, Any]:
    """Active → end of life, naming the successor channels show instead."""
    await runtime.run_command(runtime.application.declare_end_of_life, sku, command.successor_sku)
    return await _view(runtime, sku)


@products.post("/{sku}/discontinue", dependencies=EDITS)
async def discontinue(sku: str, runtime: Runtime) -> dict[str, Any]:
    """End of life → discontinued: withdrawn from every catalogue."""
    await runtime.run_command(runtime.application.discontinue, sku)
    return await _view(runtime, sku)


def _version_view(version: DocumentVersion) -> dict[str, Any]:
    return asdict(version)


@products.put("/{sku}/documents/{kind}/{version}", dependencies=EDITS)
async def publish_document(
    sku: str, kind: str, version: str, command: PutDocumentVersion, runtime: Runtime
) -> dict[str, Any]:
    """Publish a version of a compliance document (declaration_of_conformity, rohs, reach,
    safety_data_sheet, energy_label); earlier versions stay answerable."""
    document_version = DocumentVersion(
        version, command.valid_from, command.valid_to, command.uri, command.sha256
    )
    await runtime.run_command(runtime.application.publish_document, sku, kind, document_version)
    return await _documents(runtime, sku, kind, None)


async def _documents(
    runtime: ServiceRuntime[PimApplication], sku: str, kind: str | None, at: str | None
) -> dict[str, Any]:
    await runtime.run_command(runtime.application.get_product, sku)
    documents: dict[str, ComplianceDocument] = await runtime.run_command(
        runtime.application.documents, sku
    )
    moment = parse_moment(at, "at") if at is not None else None
    if kind is not None:
        documents = {kind: documents[kind]} if kind in documents else {}
    if moment is None:
        return {
            "sku": sku,
            "documents": {k: [_version_view(v) for v in d.versions] for k, d in documents.items()},
        }
    valid = {k: d.valid_at(moment) for k, d in documents.items()}
    return {
        "sku": sku,
        "at": moment.astimezone(UTC).isoformat(),
        "documents": {k: _version_view(v) if v else None for k, v in valid.items()},
    }


@products.get("/{sku}/documents", dependencies=READS)
async def documents(
    sku: str,
    runtime: Runtime,
    at: Annotated[str | None, Query(description="ISO date or time: versions valid then")] = None,
) -> dict[str, Any]:
    """A SKU's compliance documents: every version, or with `at` the version valid then."""
    return await _documents(runtime, sku, None, at)


@products.get("/{sku}/documents/{kind}", dependencies=READS)
async def document(
    sku: str,
    kind: str,
    runtime: Runtime,
    at: Annotated[str | None, Query(description="ISO date or time: the version valid then")] = None,
) -> dict[str, Any]:
    """One document kind of a SKU: every version, or with `at` the one valid then (404 if none)."""
    found = await _documents(runtime, sku, kind, at)
    if not found["documents"].get(kind):
        when = f" at {at}" if at else ""
        raise NotFound(f"no {kind} of {sku} valid{when}")
    return found


@parents.put("/{code}", dependencies=EDITS)
async def put_parent(code: str, command: PutParent, runtime: Runtime) -> dict[str, Any]:
    """Declare a parent product, its variant axes (at most six) and the combinations it
    excludes, or change them."""
    axes = tuple(Axis(name, tuple(values)) for name, values in command.axes.items())
    excluded = tuple(rule.combination() for rule in command.excluded)
    await runtime.run_command(
        runtime.application.declare_parent, code, command.name, command.brand, axes, excluded
    )
    return await get_parent(code, runtime)


@parents.get("/{code}", dependencies=READS)
async def get_parent(code: str, runtime: Runtime) -> dict[str, Any]:
    """A parent product, its axes and its variants' SKUs."""
    parent = await runtime.run_command(runtime.application.get_parent, code)
    variants = await runtime.run_command(runtime.application.variants_of, code)
    return {
        "parent_id": str(parent.id),
        "code": parent.code,
        "name": parent.name,
        "brand": parent.brand,
        "axes": {axis.name: list(axis.values) for axis in parent.axes},
        "excluded": [excluded_view(rule) for rule in parent.excluded],
        "variants": variants,
    }


@catalogue.get("/{market}", dependencies=READS)
async def catalogue_feed(market: str, runtime: Runtime) -> dict[str, Any]:
    """A market's channel catalogue: its active or end-of-life, certified, enabled variants."""
    entries = await runtime.run_command(runtime.application.catalogue, market.upper())
    return {"market": market.upper(), "entries": entries}


@catalogue.post("/refresh", dependencies=[allow(Role.OPERATOR, Role.INVENTORY)])
async def refresh_catalogue(runtime: Runtime) -> dict[str, int]:
    """Re-decide every entry for today (certificates that started or expired since)."""
    changed = await runtime.run_command(runtime.application.refresh_catalogue)
    return {"changed": changed}


@imports.post("", dependencies=EDITS)
async def import_catalogue(request: Request, runtime: Runtime) -> dict[str, Any]:
    """Import a catalogue: raw body, `Content-Type: text/csv` or `application/json`.

    Valid rows are applied, invalid ones reported with row, field and problem; rows already as
    given change nothing, so re-running an import is harmless.
    """
    started = datetime.now(UTC)
    rows = parse_rows(await request.body(), request.headers.get("content-type", ""))
    result = await runtime.run_command(runtime.application.import_catalogue, rows)
    seconds = (datetime.now(UTC) - started).total_seconds()
    return {
        "rows": len(rows),
        "applied": result.applied,
        "unchanged": result.unchanged,
        "errors": [asdict(error) for error in result.errors],
        "seconds": round(seconds, 3),
    }
