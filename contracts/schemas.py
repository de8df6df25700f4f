"""JSON Schemas of the published contracts, and the compatibility check that guards them.

Every published model has one committed schema file per version, `schemas/<stem>.json`, generated
by `scripts/generate_schemas.py`. A published version never changes in a way its consumers would
notice; such a change needs a new schema version, and with it a new file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from contracts.base import ContractModel, IntegrationEvent
from contracts.carrier import CarrierTrackingEvent
from contracts.channel import ChannelOrderMessage
from contracts.envelope import Envelope
from contracts.inventory import StockMovement
from contracts.order import ChannelOrderFeedback
from contracts.registry import EVENT_MODELS
from contracts.threepl import (
    CycleCount,
    GoodsReceipt,
    PackConfirmation,
    PickConfirmation,
    ReturnArrival,
    ShelfDamage,
    ShipConfirmation,
    TransferArrival,
)

JsonSchema = dict[str, Any]

SCHEMA_DIR = Path(__file__).parent / "schemas"
EXAMPLES_DIR = Path(__file__).parent / "examples"
"""One recorded message per published model, `<stem>.json`: `{"topic", "key", "headers",
"payload"}`, the payload as it travelled (events in their envelope); see
tests/integration/examples.py."""
RELEASED_DIR = Path(__file__).parent / "released"
"""The schemas as of the last contracts release (see contracts/CHANGELOG.md): the baseline every
change is checked against. Regenerating `schemas/` cannot move it; only a release does."""
SCHEMA_ID_BASE = "https://unitrail.dev/schemas/"


def schema_stem(model: type[ContractModel]) -> str:
    """The file stem a model's schema is published under, e.g. `OrderPlaced.v1`."""
    if issubclass(model, IntegrationEvent):
        return f"{model.event_type}.v{model.schema_version}"
    return f"{model.__name__}.v1"


def published_models() -> list[tuple[str, type[ContractModel]]]:
    """Every model whose schema is published, with the file stem it is published under."""
    models: list[type[ContractModel]] = [
        Envelope,
        ChannelOrderMessage,
        PickConfirmation,
        PackConfirmation,
        ReturnArrival,
        GoodsReceipt,
        TransferArrival,
        CycleCount,
        ShelfDamage,
        ShipConfirmation,
        CarrierTrackingEvent,
        *EVENT_MODELS,
        StockMovement,  # inventory.movements.v1, not an events topic: not in the registry
        ChannelOrderFeedback,  # channel.feedback.v1, likewise
    ]
    return [(schema_stem(model), model) for model in models]


def changes_breaking_the_release(
    published: list[tuple[str, type[ContractModel]]] | None = None,
    released_dir: Path = RELEASED_DIR,
) -> list[str]:
    """What the contracts as they are now would break for someone who built on the last release.

    Every released schema version must still be published, and published compatibly: a breaking
    change is made as a new schema version beside the old one, and the old one upcasts to it
    (`IntegrationEvent.upcast`), so that consumers keep reading what was published before it.
    """
    models = dict(published if published is not None else published_models())
    problems: list[str] = []
    for path in sorted(released_dir.glob("*.json")):
        stem = path.name.removesuffix(".json")
        model = models.get(stem)
        if model is None:
            problems.append(
                f"{stem}: released but no longer published; keep its model and publish the "
                "breaking change as the next schema version, which the old one upcasts to"
            )
            continue
        released: JsonSchema = json.loads(path.read_text(encoding="utf-8"))
        problems.extend(
            f"{stem} {change}" for change in breaking_changes(released, schema_of(model))
        )
    return problems


def schema_of(model: type[ContractModel]) -> JsonSchema:
    """The JSON Schema published for a model, with its `$id` and, for events, their identity."""
    stem = schema_stem(model)
    # Events and the envelope are described as we send them (money as exact strings); what outside
    # systems send us is described as we accept it.
    mode: Literal["serialization", "validation"] = (
        "serialization" if issubclass(model, IntegrationEvent | Envelope) else "validation"
    )
    schema: JsonSchema = model.model_json_schema(mode=mode)
    if mode == "validation":
        _close_every_object(schema)  # as `validate_partner_message` reads them
    schema["$id"] = f"{SCHEMA_ID_BASE}{stem}.json"
    schema["title"] = stem.rsplit(".v", 1)[0]
    example = load_example(stem)
    if example is not None:
        payload = example["payload"]
        schema["examples"] = [
            payload["payload"] if issubclass(model, IntegrationEvent) else payload
        ]
    if issubclass(model, IntegrationEvent):
        schema["x-event-type"] = model.event_type
        schema["x-schema-version"] = model.schema_version
        schema["x-aggregate-type"] = model.aggregate_type
        if model.replaced_by is not None:
            schema["deprecated"] = True
            schema["x-replaced-by"] = model.replaced_by
    return schema


def _close_every_object(schema: Any) -> None:
    """Say `additionalProperties: false` on every object of a document that does not say more."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        for value in schema.values():
            _close_every_object(value)
    elif isinstance(schema, list):
        for value in schema:
            _close_every_object(value)


def load_example(stem: str) -> dict[str, Any] | None:
    """The recorded example message of a published model, if there is one."""
    path = EXAMPLES_DIR / f"{stem}.json"
    if not path.exists():
        return None
    example: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return example


def render_schema(schema: JsonSchema) -> str:
    """The exact text of a committed schema file."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def breaking_changes(old: JsonSchema, new: JsonSchema) -> list[str]:
    """What in `new` would break a consumer written against `old`, one `path: problem` per entry.

    Reported: a property removed, a property newly required, a type changed, a constraint narrowed
    (a smaller maximum or length, a larger minimum, a new or changed pattern or format), an enum
    value removed and `additionalProperties` tightened. `$ref`s are resolved within their own document, and the
    branches of `anyOf`/`oneOf` are compared as the set of shapes a value may take.
    """
    comparison = _SchemaComparison(old, new)
    comparison.compare(old, new, "$")
    return comparison.problems


_OPENNESS = {"closed": 0, "constrained": 1, "open": 2}


class _SchemaComparison:
    def __init__(self, old_document: JsonSchema, new_document: JsonSchema) -> None:
        self.old_document = old_document
        self.new_document = new_document
        self.problems: list[str] = []
        # Pairs of object schemas already compared; stops the walk through recursive models.
        self._compared_objects: set[tuple[int, int]] = set()

    def compare(self, old: JsonSchema, new: JsonSchema, path: str) -> None:
        old_shapes = _shapes(old, self.old_document)
        new_shapes = _shapes(new, self.new_document)
        old_types, new_types = _types(old_shapes), _types(new_shapes)
        if old_types != new_types:
            self.problems.append(
                f"{path}: type changed from {_describe(old_types)} to {_describe(new_types)}"
            )
        removed_values = [
            value for value in _enum_values(old_shapes) if value not in _enum_values(new_shapes)
        ]
        if removed_values and _enum_values(new_shapes):
            self.problems.append(f"{path}: enum values removed: {removed_values}")
        if len(old_shapes) == 1 and len(new_shapes) == 1:
            self.problems.extend(
                f"{path}: narrowed: {narrowing}"
                for narrowing in _narrowings(old_shapes[0], new_shapes[0])
            )
        self._compare_objects(old_shapes, new_shapes, path)
        old_arrays = [shape for shape in old_shapes if "items" in shape]
        new_arrays = [shape for shape in new_shapes if "items" in shape]
        if len(old_arrays) == 1 and len(new_arrays) == 1:
            self.compare(old_arrays[0]["items"], new_arrays[0]["items"], f"{path}[]")

    def _compare_objects(
        self, old_shapes: list[JsonSchema], new_shapes: list[JsonSchema], path: str
    ) -> None:
        old_objects = [shape for shape in old_shapes if shape.get("type") == "object"]
        new_objects = [shape for shape in new_shapes if shape.get("type") == "object"]
        if len(old_objects) == 1 and len(new_objects) == 1:
            self._compare_object(old_objects[0], new_objects[0], path)
            return
        new_by_title = {shape.get("title"): shape for shape in new_objects}
        for old_object in old_objects:
            title = old_object.get("title")
            if title in new_by_title:
                self._compare_object(old_object, new_by_title[title], path)
            else:
                self.problems.append(f"{path}: object variant {title!r} removed")

    def _compare_object(self, old: JsonSchema, new: JsonSchema, path: str) -> None:
        if (id(old), id(new)) in self._compared_objects:
            return
        self._compared_objects.add((id(old), id(new)))
        old_properties: JsonSchema = old.get("properties", {})
        new_properties: JsonSchema = new.get("properties", {})
        for name, old_property in old_properties.items():
            if name not in new_properties:
                self.problems.append(f"{path}.{name}: property removed")
            else:
                self.compare(old_property, new_properties[name], f"{path}.{name}")
        for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
            self.problems.append(f"{path}.{name}: property newly required")
        old_extra, new_extra = old.get("additionalProperties"), new.get("additionalProperties")
        if _OPENNESS[_openness(new_extra)] < _OPENNESS[_openness(old_extra)]:
            self.problems.append(
                f"{path}: additionalProperties tightened from {_openness(old_extra)} "
                f"to {_openness(new_extra)}"
            )
        elif isinstance(old_extra, dict) and isinstance(new_extra, dict):
            self.compare(old_extra, new_extra, f"{path}.*")


_UPPER_BOUNDS = ("maxLength", "maxItems", "maximum", "exclusiveMaximum", "maxProperties")
_LOWER_BOUNDS = ("minLength", "minItems", "minimum", "exclusiveMinimum", "minProperties")
_RULES = ("pattern", "format", "multipleOf")


def _narrowings(old: JsonSchema, new: JsonSchema) -> list[str]:
    """Values `old` allowed that `new` refuses, as far as the constraint keywords tell."""
    found: list[str] = []
    for bound in _UPPER_BOUNDS:
        if bound in new and (bound not in old or new[bound] < old[bound]):
            found.append(f"{bound} {old.get(bound, 'none')} -> {new[bound]}")
    for bound in _LOWER_BOUNDS:
        if bound in new and (bound not in old or new[bound] > old[bound]):
            found.append(f"{bound} {old.get(bound, 'none')} -> {new[bound]}")
    for rule in _RULES:
        if rule in new and new[rule] != old.get(rule):
            found.append(f"{rule} {old.get(rule, 'none')!r} -> {new[rule]!r}")
    return found


def _shapes(schema: JsonSchema, document: JsonSchema) -> list[JsonSchema]:
    """The alternatives a value may take, with `$ref`s resolved and unions flattened."""
    if "$ref" in schema:
        return _shapes(_resolve(schema["$ref"], document), document)
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        return [shape for branch in branches for shape in _shapes(branch, document)]
    return [schema]


def _resolve(reference: str, document: JsonSchema) -> JsonSchema:
    target: Any = document
    for part in reference.removeprefix("#/").split("/"):
        target = target[part.replace("~1", "/").replace("~0", "~")]
    if not isinstance(target, dict):
        raise ValueError(f"reference {reference} does not point to a schema")
    return target


def _types(shapes: list[JsonSchema]) -> set[str]:
    types: set[str] = set()
    for shape in shapes:
        declared = shape.get("type", "any")
        types.update([declared] if isinstance(declared, str) else declared)
    return types


def _enum_values(shapes: list[JsonSchema]) -> list[Any]:
    values: list[Any] = []
    for shape in shapes:
        values.extend(shape.get("enum", []))
        if "const" in shape:
            values.append(shape["const"])
    return values


def _openness(additional_properties: Any) -> str:
    if additional_properties is False:
        return "closed"
    if isinstance(additional_properties, dict):
        return "constrained"
    return "open"


def _describe(types: set[str]) -> str:
    return " | ".join(sorted(types))
