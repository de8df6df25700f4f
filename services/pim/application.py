"""PIM use cases: load → decide → save. They return ids, not aggregates.

Rules that span products (an EAN or an axis combination belongs to one SKU; components, compatible
products and successors exist) are checked here against the `pim_products` read model
(`projections.py`), which is written in the same transaction as the products' events; its unique
indexes catch a concurrent writer that slipped past the check (the command is then decided again).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

from eventsourcing.application import AggregateNotFoundError

from services.pim import projections
from services.pim.domain import (
    DEFAULT_MARKET_RULES,
    DOCUMENT_KINDS,
    Asset,
    Attribute,
    Axis,
    AxisValue,
    Certification,
    ComplianceDocument,
    Component,
    Dimensions,
    DocumentVersion,
    ExcludedCombination,
    FieldError,
    Listing,
    MarketRules,
    ParentProduct,
    Product,
    ProductFacts,
    ProductSpec,
    document_id_for,
    fitted_by,
    gtin13,
    parent_id_for,
    product_id_for,
)
from services.pim.importing import FieldErrors, ProductInput, RowError, product_input
from services.pim.projections import certifications_fingerprint, spec_fingerprint
from services.runtime.aggregate import Conflict, NotFound
from services.runtime.database import PostgresLocation
from services.runtime.eventstore import ServiceApplication

IMPORT_CHUNK = 100
"""Products saved per transaction by an import or a refresh. Larger saves are no faster, and saves
of 200+ products (over a thousand events) were seen to stall in the store's pipelined insert."""


class UnknownProduct(NotFound):
    """No product has this SKU."""


class UnknownParent(NotFound):
    """No parent product has this code."""


class UnknownMarket(NotFound):
    """No market has this code."""


class DuplicateSku(Conflict):
    """A product with this SKU is already registered."""


class ProductIndex(Protocol):
    """What the cross-product rules need to know about the other products."""

    def sku_with_gtin(self, gtin: str) -> str | None: ...

    def sku_with_combination(self, parent: str, axes_key: str) -> str | None: ...

    def missing(self, skus: Iterable[str]) -> list[str]: ...


@dataclass
class IndexedProduct:
    sku: str
    gtin: str | None
    parent: str | None
    axes_key: str | None
    spec_fingerprint: str
    certifications_fingerprint: str


@dataclass
class MemoryIndex:
    """The products table loaded once, updated as an import accepts rows."""

    products: dict[str, IndexedProduct]
    by_gtin: dict[str, str] = field(default_factory=dict)
    by_combination: dict[tuple[str, str], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for product in self.products.values():
            self.add(product)

    def add(self, product: IndexedProduct) -> None:
        previous = self.products.get(product.sku)
        if previous is not None and previous is not product:
            if previous.gtin:
                self.by_gtin.pop(previous.gtin, None)
            if previous.parent and previous.axes_key is not None:
                self.by_combination.pop((previous.parent, previous.axes_key), None)
        self.products[product.sku] = product
        if product.gtin:
            self.by_gtin[product.gtin] = product.sku
        if product.parent and product.axes_key is not None:
            self.by_combination[(product.parent, product.axes_key)] = product.sku

    def sku_with_gtin(self, gtin: str) -> str | None:
        return self.by_gtin.get(gtin)

    def sku_with_combination(self, parent: str, axes_key: str) -> str | None:
        return self.by_combination.get((parent, axes_key))

    def missing(self, skus: Iterable[str]) -> list[str]:
        return [sku for sku in skus if sku not in self.products]


@dataclass(frozen=True)
class ImportResult:
    """What an import did: rows applied, rows already as given, and every row it refused."""

    applied: int
    unchanged: int
    errors: list[RowError]


class PimApplication(ServiceApplication):
    """The product system of record: what a product is, for every other service and channel."""

    value_objects = (
        ProductFacts,
        ProductSpec,
        Axis,
        AxisValue,
        ExcludedCombination,
        Component,
        Asset,
        Attribute,
        Dimensions,
        Certification,
        Listing,
        DocumentVersion,
    )
    moved_since_module_paths = {
        moved: "services.pim.domain.product"
        for moved in (
            ParentProduct,
            ProductFacts,
            ProductSpec,
            Axis,
            AxisValue,
            ExcludedCombination,
            Component,
            Asset,
        )
    }
    read_models = projections.read_models

    def __init__(
        self,
        location: PostgresLocation | None,
        rules: MarketRules = DEFAULT_MARKET_RULES,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        super().__init__(location)
        self.rules = rules
        self.today = today

    # -- products -----------------------------------------------------------------------------

    def put_product(
        self,
        sku: str,
        spec: ProductSpec | ProductFacts,
        certifications: tuple[Certification, ...] | None = None,
    ) -> uuid.UUID:
        """Register a product, or bring it up to date (the same spec again changes nothing).

        Facts alone (the v1 body) keep the rest of an existing product's spec.
        """
        product = self._find(sku)
        if isinstance(spec, ProductFacts):
            spec = (
                ProductSpec.from_facts(spec) if product is None else _with_facts(product.spec, spec)
            )
        spec = self._checked(sku, spec.check(sku), DatabaseIndex(self))
        if product is None:
            product = Product.register(sku, spec)
        else:
            product.specify(spec)
        if certifications is not None:
            product.set_certifications(certifications)
        self._save_products([product])
        return product.id

    def register_product(
        self, sku: str, spec: ProductSpec, certifications: tuple[Certification, ...] | None = None
    ) -> uuid.UUID:
        """Register a new product; a SKU that is already registered is refused."""
        if self._find(sku) is not None:
            raise DuplicateSku(f"sku {sku!r} is already registered")
        return self.put_product(sku, spec, certifications)

    def certify(self, sku: str, certification: Certification) -> uuid.UUID:
        """Record a variant's certificate (a renewal replaces the scheme's previous one)."""
        return self._command(sku, lambda product: product.certify(certification))

    def withdraw_certification(self, sku: str, scheme: str) -> uuid.UUID:
        return self._command(sku, lambda product: product.withdraw_certification(scheme))

    def disable(self, sku: str, reason: str) -> uuid.UUID:
        """Take a variant (e.g. an invalid combination) out of every catalogue, with a reason."""
        return self._command(sku, lambda product: product.disable(reason))

    def enable(self, sku: str) -> uuid.UUID:
        return self._command(sku, lambda product: product.enable())

    def declare_end_of_life(self, sku: str, successor_sku: str) -> uuid.UUID:
        """Active → end of life; the successor must be a registered product."""
        if successor_sku != sku and DatabaseIndex(self).missing([successor_sku]):
            raise FieldError("successor_sku", f"successor {successor_sku!r} is not a product")
        return self._command(sku, lambda product: product.declare_end_of_life(successor_sku))

    def discontinue(self, sku: str) -> uuid.UUID:
        return self._command(sku, lambda product: product.discontinue())

    def refresh_catalogue(self) -> int:
        """Re-decide every catalogue entry for today (certificates start and expire with time);
        returns how many products changed."""
        changed = 0
        skus = [row["sku"] for row in self.read("SELECT sku FROM pim_products ORDER BY sku")]
        for start in range(0, len(skus), IMPORT_CHUNK):
            chunk = skus[start : start + IMPORT_CHUNK]
            products = [self.get_product(sku) for sku in chunk]
            fitters = self._fitted_by(chunk)
            day = self.today()
            for product in products:
                product.refresh_catalogue(self.rules, day, fitted_by=fitters[product.sku])
            touched = [product for product in products if _has_pending(product)]
            if touched:
                self.save_projected(*touched)  # with their rows and catalogue entries
            changed += len(touched)
        return changed

    def get_product(self, sku: str) -> Product:
        product = self._find(sku)
        if product is None:
            raise UnknownProduct(f"no product {sku}")
        return product

    def compatibility(self, sku: str) -> dict[str, Any]:
        """Compatibility both ways: what a product fits (its own `compatible_with`) and what is
        declared to fit it (every product whose `compatible_with` lists it)."""
        product = self.get_product(sku)
        return {
            "sku": sku,
            "fits": sorted(product.spec.compatible_with),
            "fitted_by": list(self._fitted_by([sku])[sku]),
        }

    def catalogue(self, market: str) -> list[dict[str, Any]]:
        """The channel catalogue feed of a market: its listed entries, by SKU."""
        if market not in self.rules.markets:
            raise UnknownMarket(
                f"unknown market {market!r} (known: {', '.join(self.rules.markets)})"
            )
        rows = self.read("SELECT entry FROM pim_catalogue WHERE market = %s ORDER BY sku", market)
        return [row["entry"] for row in rows]

    # -- parents ------------------------------------------------------------------------------

    def declare_parent(
        self,
        code: str,
        name: str,
        brand: str | None,
        axes: tuple[Axis, ...],
        excluded: tuple[ExcludedCombination, ...] = (),
    ) -> uuid.UUID:
        """Declare a parent product, its variant axes and the combinations it excludes, or
        change them.

        A value still taken by a variant cannot be dropped, nor a combination a variant holds
        excluded: disable or change the variant first.
        """
        try:
            parent: ParentProduct = self.get(parent_id_for(code), ParentProduct)
        except AggregateNotFoundError:
            parent = ParentProduct.declare(code, name, brand, axes, excluded)
        else:
            parent.change(name, brand, axes, excluded)
            for row in self.read(
                "SELECT sku, axes_key FROM pim_products WHERE parent = %s ORDER BY sku", code
            ):
                values = dict(part.split("=", 1) for part in row["axes_key"].split(";") if part)
                try:
                    parent.check_combination(tuple(AxisValue(a, v) for a, v in values.items()))
                except FieldError as error:
                    raise FieldError("axes", f"variant {row['sku']}: {error.problem}") from None
        self.save(parent)
        return parent.id

    def get_parent(self, code: str) -> ParentProduct:
        try:
            parent: ParentProduct = self.get(parent_id_for(code), ParentProduct)
        except AggregateNotFoundError:
            raise UnknownParent(f"no parent product {code}") from None
        return parent

    def variants_of(self, code: str) -> list[str]:
        rows = self.read("SELECT sku FROM pim_products WHERE parent = %s ORDER BY sku", code)
        return [row["sku"] for row in rows]

    # -- compliance documents -----------------------------------------------------------------

    def publish_document(self, sku: str, kind: str, version: DocumentVersion) -> uuid.UUID:
        """Publish a version of a SKU's compliance document (earlier versions stay answerable)."""
        self.get_product(sku)
        try:
            document: ComplianceDocument = self.get(document_id_for(sku, kind), ComplianceDocument)
        except AggregateNotFoundError:
            document = ComplianceDocument.first(sku, kind, version)
        else:
            document.publish(version)
        self.save(document)
        return document.id

    def documents(self, sku: str) -> dict[str, ComplianceDocument]:
        """A SKU's compliance documents by kind (only kinds with a published version)."""
        found: dict[str, ComplianceDocument] = {}
        for kind in DOCUMENT_KINDS:
            try:
                found[kind] = self.get(document_id_for(sku, kind), ComplianceDocument)
            except AggregateNotFoundError:
                continue
        return found

    # -- bulk import --------------------------------------------------------------------------

    def import_catalogue(self, rows: Sequence[dict[str, Any]]) -> ImportResult:
        """Apply every valid row, refuse the others with row, field and problem; idempotent.

        A row is the whole truth about its product's spec (and, when it has a `certifications`
        value, its certifications). Rows already as given are not touched: no events, no writes.
        """
        index = MemoryIndex(self._indexed_products())
        parents: dict[str, ParentProduct | None] = {}
        errors: list[RowError] = []
        seen: dict[str, int] = {}
        accepted: list[ProductInput] = []
        unchanged = 0
        for number, raw in enumerate(rows, start=1):
            try:
                wanted = product_input(raw)
                if wanted.sku in seen:
                    raise FieldError("sku", f"sku {wanted.sku!r} is also in row {seen[wanted.sku]}")
                seen[wanted.sku] = number
                spec = self._checked(wanted.sku, wanted.spec, index, parents)
            except FieldErrors as problems:
                errors.extend(RowError(number, e.field, e.problem) for e in problems.errors)
                continue
            except FieldError as error:
                errors.append(RowError(number, error.field, error.problem))
                continue
            wanted = ProductInput(wanted.sku, spec, wanted.certifications)
            known = index.products.get(wanted.sku)
            same_certifications = wanted.certifications is None or (
                known is not None
                and known.certifications_fingerprint
                == certifications_fingerprint(wanted.certifications)
            )
            if (
                known is not None
                and known.spec_fingerprint == spec_fingerprint(spec)
                and same_certifications
            ):
                unchanged += 1
                continue
            index.add(
                IndexedProduct(
                    wanted.sku,
                    gtin13(spec.ean) if spec.ean else None,
                    spec.parent,
                    spec.axes_key if spec.parent else None,
                    spec_fingerprint(spec),
                    known.certifications_fingerprint if known else "",
                )
            )
            accepted.append(wanted)
        applied = 0
        for start in range(0, len(accepted), IMPORT_CHUNK):
            chunk = accepted[start : start + IMPORT_CHUNK]
            products = self._apply_inputs(chunk)
            self._save_products(products)
            applied += len(products)
        errors.sort(key=lambda error: error.row)
        return ImportResult(applied=applied, unchanged=unchanged, errors=errors)

    def _apply_inputs(self, inputs: Sequence[ProductInput]) -> list[Product]:
        existing = {
            row["sku"]
            for row in self.read(
                "SELECT sku FROM pim_products WHERE sku = ANY(%s)", [i.sku for i in inputs]
            )
        }
        products = []
        for wanted in inputs:
            if wanted.sku in existing:
                product = self.get_product(wanted.sku)
                product.specify(wanted.spec)
            else:
                product = Product.register(wanted.sku, wanted.spec)
            if wanted.certifications is not None:
                product.set_certifications(wanted.certifications)
            products.append(product)
        return products

    # -- helpers ------------------------------------------------------------------------------

    def _find(self, sku: str) -> Product | None:
        try:
            product: Product = self.get(product_id_for(sku), Product)
        except AggregateNotFoundError:
            return None
        return product

    def _command(self, sku: str, decide: Callable[[Product], None]) -> uuid.UUID:
        product = self.get_product(sku)
        decide(product)
        self._save_products([product])
        return product.id

    def _checked(
        self,
        sku: str,
        spec: ProductSpec,
        index: ProductIndex,
        parents: dict[str, ParentProduct | None] | None = None,
    ) -> ProductSpec:
        """The spec when the rules across products hold: unique EAN and axis combination,
        a declared parent and combination, registered components and compatible products."""
        if spec.ean:
            holder = index.sku_with_gtin(gtin13(spec.ean))
            if holder is not None and holder != sku:
                raise FieldError("ean", f"ean {spec.ean} is already used by {holder}")
        if spec.parent is not None:
            code = spec.parent
            parent = self._parent(code, parents)
            if parent is None:
                raise FieldError("parent", f"parent {code!r} is not declared")
            parent.check_combination(spec.axes)
            spec = ProductSpec(**{**_shallow(spec), "axes": parent.ordered(spec.axes)})
            holder = index.sku_with_combination(code, spec.axes_key)
            if holder is not None and holder != sku:
                raise FieldError("axes", f"{code} variant {spec.axes_key} is already {holder}")
        missing = index.missing(c.sku for c in spec.components)
        if missing:
            raise FieldError("components", f"component {missing[0]!r} is not a product")
        missing = index.missing(spec.compatible_with)
        if missing:
            raise FieldError("compatible_with", f"{missing[0]!r} is not a product")
        return spec

    def _parent(
        self, code: str, cache: dict[str, ParentProduct | None] | None
    ) -> ParentProduct | None:
        if cache is not None and code in cache:
            return cache[code]
        try:
            parent: ParentProduct | None = self.get(parent_id_for(code), ParentProduct)
        except AggregateNotFoundError:
            parent = None
        if cache is not None:
            cache[code] = parent
        return parent

    def _indexed_products(self) -> dict[str, IndexedProduct]:
        rows = self.read(
            "SELECT sku, gtin, parent, axes_key, spec_fingerprint, certifications_fingerprint"
            " FROM pim_products"
        )
        return {row["sku"]: IndexedProduct(**row) for row in rows}

    def _save_products(self, products: Sequence[Product]) -> None:
        """Save products with their catalogue entries decided for today, and their read models.

        Their entries show what is declared to fit them; and the products they start or stop
        declaring to fit are saved with them, their entries showing that (a channel learns it
        from the feed, in the same transaction).
        """
        saving = {product.sku: product for product in products}
        rows = self.read(
            "SELECT sku, view -> 'compatible_with' AS fits FROM pim_products WHERE sku = ANY(%s)",
            list(saving),
        )
        declared_before = {row["sku"]: set(row["fits"]) for row in rows}
        changed: set[str] = set()
        for sku, product in saving.items():
            changed |= declared_before.get(sku, set()) ^ set(product.spec.compatible_with)
        fitted = [
            other
            for sku in sorted(changed - saving.keys())
            if (other := self._find(sku)) is not None
        ]
        fitters = self._fitted_by([*saving, *(other.sku for other in fitted)], saving=products)
        day = self.today()
        for product in [*products, *fitted]:
            product.refresh_catalogue(self.rules, day, fitted_by=fitters[product.sku])
        # with their rows and catalogue entries
        self.save_projected(*products, *(other for other in fitted if _has_pending(other)))

    def _fitted_by(
        self, skus: Sequence[str], saving: Sequence[Product] = ()
    ) -> dict[str, tuple[str, ...]]:
        """What is declared to fit each of `skus`: the products whose `compatible_with` lists it,
        as the `pim_products` read model has them, and `saving` as they are about to be saved."""
        rows = self.read(
            "SELECT sku, view -> 'compatible_with' AS fits FROM pim_products"
            " WHERE view -> 'compatible_with' ?| %s",
            list(skus),
        )
        declared: dict[str, Iterable[str]] = {row["sku"]: row["fits"] for row in rows}
        declared |= {product.sku: product.spec.compatible_with for product in saving}
        return fitted_by(declared, skus)


class DatabaseIndex:
    """The products table, asked one question at a time (for single commands)."""

    def __init__(self, application: PimApplication) -> None:
        self._application = application

    def sku_with_gtin(self, gtin: str) -> str | None:
        rows = self._application.read("SELECT sku FROM pim_products WHERE gtin = %s", gtin)
        return rows[0]["sku"] if rows else None

    def sku_with_combination(self, parent: str, axes_key: str) -> str | None:
        rows = self._application.read(
            "SELECT sku FROM pim_products WHERE parent = %s AND axes_key = %s", parent, axes_key
        )
        return rows[0]["sku"] if rows else None

    def missing(self, skus: Iterable[str]) -> list[str]:
        wanted = list(skus)
        if not wanted:
            return []
        rows = self._application.read("SELECT sku FROM pim_products WHERE sku = ANY(%s)", wanted)
        found = {row["sku"] for row in rows}
        return [sku for sku in wanted if sku not in found]


def _shallow(spec: ProductSpec) -> dict[str, Any]:
    return {name: getattr(spec, name) for name in spec.__dataclass_fields__}


def _with_facts(spec: ProductSpec, facts: ProductFacts) -> ProductSpec:
    return ProductSpec(**{**_shallow(spec), **asdict(facts)})


def _has_pending(product: Product) -> bool:
    # The library keeps new events on the aggregate until saved; only those need a transaction.
    return bool(product._pending_events)
