"""The committed JSON Schemas match the contract models, and the compatibility check works."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from contracts.base import ContractModel
from contracts.schemas import (
    SCHEMA_DIR,
    JsonSchema,
    breaking_changes,
    published_models,
    render_schema,
    schema_of,
)

REGENERATE = "run `python scripts/generate_schemas.py` and commit the result"

PUBLISHED = published_models()


@pytest.mark.parametrize(("stem", "model"), PUBLISHED, ids=[stem for stem, _ in PUBLISHED])
def test_committed_schema_matches_the_model(stem: str, model: type[ContractModel]) -> None:
    path = SCHEMA_DIR / f"{stem}.json"
    assert path.exists(), f"{path} is missing; {REGENERATE}"
    assert path.read_text(encoding="utf-8") == render_schema(schema_of(model)), (
        f"{path} is out of date; {REGENERATE}"
    )


def test_every_schema_file_belongs_to_a_published_model() -> None:
    expected = {f"{stem}.json" for stem, _ in PUBLISHED}
    committed = {path.name for path in SCHEMA_DIR.glob("*.json")}
    assert not expected - committed, f"missing schema files; {REGENERATE}"
    assert not committed - expected, "schema files without a published model (orphaned)"


def undescribed_properties(schema: JsonSchema) -> list[str]:
    definitions = schema.get("$defs", {})
    objects = {"$": schema, **{f"$defs.{name}": nested for name, nested in definitions.items()}}
    return [
        f"{location}.{name}"
        for location, described in objects.items()
        for name, property_schema in described.get("properties", {}).items()
        if not property_schema.get("description")
    ]


@pytest.mark.parametrize(("stem", "model"), PUBLISHED, ids=[stem for stem, _ in PUBLISHED])
def test_every_property_is_described(stem: str, model: type[ContractModel]) -> None:
    assert undescribed_properties(schema_of(model)) == [], (
        f"{stem}: give these fields a description (pydantic leaves out a field's description "
        "when it equals the docstring of the field's model, so make it say something else)"
    )


def order_schema(**changes: Any) -> JsonSchema:
    """A small published schema: an order with a status and lines, a line defined in `$defs`."""
    schema: JsonSchema = {
        "$defs": {
            "Line": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "sku": {"type": "string", "description": "SKU."},
                    "quantity": {"type": "integer", "description": "Units."},
                },
                "required": ["sku", "quantity"],
            }
        },
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "order_id": {"type": "string", "description": "Order."},
            "status": {"type": "string", "enum": ["pending", "paid"], "description": "Status."},
            "note": {
                "anyOf": [{"type": "string"}, {"type": "null"}],
                "default": None,
                "description": "Note.",
            },
            "lines": {"type": "array", "items": {"$ref": "#/$defs/Line"}, "description": "Lines."},
        },
        "required": ["order_id", "status", "lines"],
    }
    schema.update(changes)
    return schema


def edited(edit: Callable[[JsonSchema], object]) -> JsonSchema:
    """The order schema after `edit` changed it in place."""
    schema = order_schema()
    edit(schema)
    return schema


def test_an_unchanged_schema_has_no_breaking_changes() -> None:
    assert breaking_changes(order_schema(), order_schema()) == []


def test_adding_an_optional_field_is_not_breaking() -> None:
    new = edited(
        lambda s: s["properties"].update(channel={"type": "string", "description": "From."})
    )
    assert breaking_changes(order_schema(), new) == []


def test_adding_an_optional_field_to_a_nested_model_is_not_breaking() -> None:
    new = edited(lambda s: s["$defs"]["Line"]["properties"].update(price={"type": "string"}))
    assert breaking_changes(order_schema(), new) == []


def test_removing_a_field_is_reported() -> None:
    new = edited(lambda s: s["properties"].pop("note"))
    assert breaking_changes(order_schema(), new) == ["$.note: property removed"]


def test_removing_a_field_of_a_nested_model_is_reported() -> None:
    new = edited(lambda s: s["$defs"]["Line"]["properties"].pop("quantity"))
    assert "$.lines[].quantity: property removed" in breaking_changes(order_schema(), new)


def test_making_a_field_required_is_reported() -> None:
    new = edited(lambda s: s["required"].append("note"))
    assert breaking_changes(order_schema(), new) == ["$.note: property newly required"]


def test_changing_a_type_is_reported() -> None:
    new = edited(lambda s: s["$defs"]["Line"]["properties"]["quantity"].update(type="number"))
    assert breaking_changes(order_schema(), new) == [
        "$.lines[].quantity: type changed from integer to number"
    ]


def test_making_a_field_nullable_is_reported_as_a_type_change() -> None:
    new = edited(
        lambda s: s["properties"].update(
            order_id={"anyOf": [{"type": "string"}, {"type": "null"}], "description": "Order."}
        ),
    )
    assert breaking_changes(order_schema(), new) == [
        "$.order_id: type changed from string to null | string"
    ]


def test_removing_an_enum_value_is_reported() -> None:
    new = edited(lambda s: s["properties"]["status"].update(enum=["paid"]))
    assert breaking_changes(order_schema(), new) == ["$.status: enum values removed: ['pending']"]


def test_tightening_additional_properties_is_reported() -> None:
    old = order_schema(additionalProperties=True)
    assert breaking_changes(old, order_schema()) == [
        "$: additionalProperties tightened from open to closed"
    ]


def test_a_recursive_model_is_compared_without_looping() -> None:
    node = {
        "type": "object",
        "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
    }
    old = {"$defs": {"Node": node}, "$ref": "#/$defs/Node"}
    new = {"$defs": {"Node": {**node, "required": ["children"]}}, "$ref": "#/$defs/Node"}
    assert breaking_changes(old, new) == ["$.children: property newly required"]
