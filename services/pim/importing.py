"""Catalogue input: one product's fields as given (an HTTP body, a CSV or JSON import row) turned
into a checked spec and certifications, with every problem attributed to its field. Pure.

CSV columns: `sku, name, weight` (or `weight_grams`) are required; optional `ean, mpn, brand,
parent, price, currency, dimensions, lithium_ion, serialized, warranty_months, components,
compatible_with, assets, certifications`, `axis.<axis>` per variant axis and `attribute.<name>` per
technical attribute. Lists inside a cell are separated by `;`: components `CABLE-1:2;CHARGER:1`,
certifications `FCC:2024-01-01:2029-12-31;CE:2024-01-01` (scheme, valid from, optional valid to),
assets `image|https://…|<sha256>`. JSON: a list of objects with the same names, where `axes`,
`attributes` are objects and `components`, `certifications`, `assets` are lists of objects.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.pim.domain import (
    Asset,
    AxisValue,
    Certification,
    Component,
    FieldError,
    ProductSpec,
    about,
    check_sku,
    normalise_attributes,
    normalise_dimensions,
    normalise_weight,
)
from services.runtime.aggregate import DomainError

TRUE = {"true", "yes", "y", "1"}
FALSE = {"false", "no", "n", "0"}
DEFAULTS = {"lithium_ion": False, "serialized": True, "warranty_months": 24}


@dataclass(frozen=True)
class RowError:
    """A problem with one field of one import row (rows count from 1, after the CSV header)."""

    row: int
    field: str
    problem: str


@dataclass(frozen=True)
class ProductInput:
    """One product as the input wants it: its spec and, when given, all its certifications."""

    sku: str
    spec: ProductSpec
    certifications: tuple[Certification, ...] | None


class InvalidInput(DomainError):
    """The input as a whole cannot be read (not CSV / JSON, no header, …)."""


def parse_rows(body: bytes, content_type: str) -> list[dict[str, Any]]:
    """The rows of a CSV (`text/csv`) or JSON (`application/json`: a list of objects) upload."""
    kind = content_type.split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInput(f"the upload is not UTF-8: {error}") from None
    if kind in ("text/csv", "application/csv"):
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "sku" not in reader.fieldnames:
            raise InvalidInput("a CSV import needs a header row with at least a `sku` column")
        return [_csv_row(row) for row in reader]
    if kind == "application/json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidInput(f"not valid JSON: {error}") from None
        if isinstance(data, dict) and isinstance(data.get("products"), list):
            data = data["products"]
        if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
            raise InvalidInput("a JSON import is a list of product objects")
        return data
    raise InvalidInput(
        f"unsupported content type {content_type!r}: use text/csv or application/json"
    )


def _csv_row(row: Mapping[str | None, Any]) -> dict[str, Any]:
    """A CSV row in the shape of a JSON row; empty cells are absent."""
    result: dict[str, Any] = {}
    axes: dict[str, str] = {}
    attributes: dict[str, str] = {}
    for column, cell in row.items():
        if column is None or cell is None or (isinstance(cell, str) and not cell.strip()):
            continue
        name, value = column.strip(), cell.strip()
        if name.startswith("axis."):
            axes[name.removeprefix("axis.")] = value
        elif name.startswith("attribute."):
            attributes[name.removeprefix("attribute.")] = value
        elif name == "components":
            result[name] = [_pair(item, "sku", "quantity") for item in _items(value)]
        elif name == "certifications":
            result[name] = [_certification_cell(item) for item in _items(value)]
        elif name == "assets":
            result[name] = [
                dict(zip(("kind", "uri", "sha256"), item.split("|"), strict=False))
                for item in _items(value)
            ]
        elif name == "compatible_with":
            result[name] = _items(value)
        else:
            result[name] = value
    if axes:
        result["axes"] = axes
    if attributes:
        result["attributes"] = attributes
    return result


def _items(cell: str) -> list[str]:
    return [item.strip() for item in cell.split(";") if item.strip()]


def _pair(item: str, first: str, second: str) -> dict[str, str]:
    head, _, tail = item.rpartition(":")
    return {first: head, second: tail} if head else {first: tail, second: "1"}


def _certification_cell(item: str) -> dict[str, str | None]:
    parts = item.split(":")
    return {
        "scheme": parts[0],
        "valid_from": parts[1] if len(parts) > 1 else "",
        "valid_to": parts[2] if len(parts) > 2 and parts[2] else None,
    }


def product_input(raw: Mapping[str, Any], sku: str | None = None) -> ProductInput:
    """The product `raw` describes, checked; raises `FieldErrors` listing every field at fault."""
    errors: list[FieldError] = []

    def field(name: str, convert: Any, default: Any = None) -> Any:
        value = raw.get(name)
        if value is None or value == "":
            return default
        try:
            with about(name):
                return convert(value)
        except FieldError as error:
            errors.append(error)
            return default

    sku = sku if sku is not None else field("sku", lambda v: check_sku(str(v)))
    if sku is None and not errors:
        errors.append(FieldError("sku", "a product needs a SKU"))
    name = field("name", _text)
    if name is None:
        errors.append(FieldError("name", "a product needs a name"))
    weight_raw = raw.get("weight_grams", raw.get("weight"))
    weight_field = "weight_grams" if "weight_grams" in raw else "weight"
    weight = field(weight_field, lambda v: normalise_weight(v, weight_field))
    if weight_raw is None or weight_raw == "":
        errors.append(FieldError("weight", "a product needs a shipping weight"))
    spec_fields = {
        "lithium_ion": field("lithium_ion", _boolean, DEFAULTS["lithium_ion"]),
        "serialized": field("serialized", _boolean, DEFAULTS["serialized"]),
        "warranty_months": field("warranty_months", _whole, DEFAULTS["warranty_months"]),
        "ean": field("ean", _text),
        "mpn": field("mpn", _text),
        "brand": field("brand", _text),
        "parent": field("parent", _text),
        "axes": field("axes", _axes, ()),
        "price": field("price", _text),
        "currency": field("currency", lambda v: _text(v).upper()),
        "dimensions": field("dimensions", normalise_dimensions),
        "attributes": field("attributes", _attributes, ()),
        "components": field("components", _components, ()),
        "compatible_with": field("compatible_with", _skus, ()),
        "assets": field("assets", _assets, ()),
    }
    certifications = field("certifications", _certifications)
    if errors or sku is None:
        raise FieldErrors(errors)
    spec = ProductSpec(name=name, weight_grams=weight, **spec_fields)
    try:
        spec = spec.check(sku)
    except FieldError as error:
        raise FieldErrors([error]) from None
    return ProductInput(sku, spec, certifications)


class FieldErrors(DomainError):
    """Every field of one input that broke a rule."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__("; ".join(_named(e) for e in errors))
        self.errors = tuple(errors)

    @property
    def details(self) -> list[dict[str, str]]:
        """Each field and what is wrong with it (the HTTP answer's `details`)."""
        return [{"field": error.field, "problem": error.problem} for error in self.errors]


def _named(error: FieldError) -> str:
    """The problem, prefixed with its field unless it already starts with the field's name."""
    return (
        error.problem
        if error.problem.startswith(error.field)
        else f"{error.field}: {error.problem}"
    )


def _text(value: Any) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise FieldError("", f"{value!r} is not text")
    return str(value).strip()


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise FieldError("", f"{value!r} is not yes or no (true/false)")


def _whole(value: Any) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise FieldError("", f"{value!r} is not a whole number") from None
    return number


def _axes(value: Any) -> tuple[AxisValue, ...]:
    if not isinstance(value, Mapping):
        raise FieldError("axes", f"{value!r} is not an object of axis values")
    return tuple(AxisValue(str(axis), _text(v)) for axis, v in value.items())


def _attributes(value: Any) -> Any:
    if not isinstance(value, Mapping):
        raise FieldError("attributes", f"{value!r} is not an object of attributes")
    return normalise_attributes(dict(value))


def _components(value: Any) -> tuple[Component, ...]:
    if not isinstance(value, list):
        raise FieldError("components", f"{value!r} is not a list of components")
    components = []
    for item in value:
        if not isinstance(item, Mapping) or "sku" not in item:
            raise FieldError("components", f"{item!r} is not a component (sku, quantity)")
        components.append(Component(_text(item["sku"]), _whole(item.get("quantity", 1))))
    return tuple(components)


def _skus(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = _items(value)
    if not isinstance(value, list):
        raise FieldError("compatible_with", f"{value!r} is not a list of SKUs")
    return tuple(_text(item) for item in value)


def _assets(value: Any) -> tuple[Asset, ...]:
    if not isinstance(value, list):
        raise FieldError("assets", f"{value!r} is not a list of assets")
    assets = []
    for item in value:
        if not isinstance(item, Mapping) or not {"kind", "uri", "sha256"} <= set(item):
            raise FieldError("assets", f"{item!r} is not an asset (kind, uri, sha256)")
        assets.append(Asset(_text(item["kind"]), _text(item["uri"]), _text(item["sha256"])))
    return tuple(assets)


def _certifications(value: Any) -> tuple[Certification, ...]:
    if not isinstance(value, list):
        raise FieldError("certifications", f"{value!r} is not a list of certifications")
    certifications = []
    for item in value:
        if not isinstance(item, Mapping) or not item.get("scheme") or not item.get("valid_from"):
            raise FieldError(
                "certifications", f"{item!r} is not a certification (scheme, valid_from)"
            )
        valid_to = item.get("valid_to")
        number = item.get("certificate_number")
        certifications.append(
            Certification(
                scheme=_text(item["scheme"]).upper(),
                valid_from=_text(item["valid_from"]),
                valid_to=_text(valid_to) if valid_to else None,
                certificate_number=_text(number) if number else None,
            ).check()
        )
    schemes = [c.scheme for c in certifications]
    duplicates = sorted({s for s in schemes if schemes.count(s) > 1})
    if duplicates:
        raise FieldError("certifications", f"scheme {duplicates[0]} is listed twice")
    return tuple(sorted(certifications, key=lambda c: c.scheme))
