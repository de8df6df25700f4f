"""Base classes shared by every contract model."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, TypeVar, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
)
from pydantic._internal._validators import max_length_validator, min_length_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import (
    CoreSchema,
    PydanticCustomError,
    SchemaValidator,
    ValidationError,
    core_schema,
)

LINE_PATTERN = r"^[^\u0000-\u001F\u007F-\u009F]*$"
"""Published rule of a single line of text: no control character (C0, DEL or C1)."""
TEXT_PATTERN = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
"""Published rule of free text: no control character other than tab, line feed and carriage
return."""

_NOT_IN_A_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NOT_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def unstorable_character(value: str, *, multiline: bool = True) -> str | None:
    """What in `value` is refused at the edge, or None when it is fine.

    A NUL is refused because no downstream store can hold it (Postgres text and jsonb cannot),
    a lone surrogate because it is no character at all (it cannot be encoded as UTF-8), and the
    other control characters because they are never part of a name, an address or an id and
    break whatever displays or prints them. Free text (`multiline`) may hold tabs and line breaks.
    """
    found = (_NOT_IN_TEXT if multiline else _NOT_IN_A_LINE).search(value)
    if found is None:
        return None
    code = ord(found.group())
    kind = "a lone surrogate" if 0xD800 <= code <= 0xDFFF else "a control character"
    position = found.start()
    return f"contains {kind} (U+{code:04X}) at position {position}; only printable text is accepted"


@dataclass(frozen=True)
class _PrintableText:
    multiline: bool

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = TEXT_PATTERN if self.multiline else LINE_PATTERN
        return json_schema

    def _check(self, value: str) -> str:
        problem = unstorable_character(value, multiline=self.multiline)
        if problem is not None:
            raise PydanticCustomError("unstorable_character", problem)
        return value


LINE_RULE = _PrintableText(multiline=False)
"""The rule of `Line` as metadata, for after constraints: `Annotated[str, Field(...), LINE_RULE]`
(constraints given after the rule would be checked as a sequence's length)."""

Line = Annotated[str, LINE_RULE]
"""A single line of printable text: a name, an address line, an id, a code."""

Text = Annotated[str, _PrintableText(multiline=True)]
"""Printable free text: may hold tabs and line breaks, no other control character."""

Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=14, decimal_places=2),
    PlainSerializer(lambda value: format(value, "f"), return_type=str, when_used="json"),
]
"""A non-negative amount with at most two decimals; travels as a JSON string to keep it exact."""

Sku = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
        description="Stock keeping unit, unique per sellable variant.",
    ),
]

LocationCode = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Code of a stock location (a warehouse or a marketplace fulfilment centre).",
    ),
]


ServiceLevel = Literal["standard", "express", "next-day"]
"""How fast a customer asked for an order delivered; shipping's settings say the days in transit of
each, and it buys the cheapest service that arrives within them."""

PartnerModel = TypeVar("PartnerModel", bound=BaseModel)


class ContractModel(BaseModel):
    """A frozen contract model that reads tolerantly: fields it does not know are ignored.

    A published event may gain optional fields within its schema version (see
    contracts/CHANGELOG.md), so a consumer written against an older release must not refuse them;
    the published schemas leave `additionalProperties` open for the same reason. What partners
    send us is held to its schema exactly instead: see `validate_partner_message`. Our own code
    cannot pass an unknown field to a constructor: the type check refuses it.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", use_attribute_docstrings=True)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.__pydantic_complete__ and (validator := _RustFirst.of(cls)) is not None:
            cls.__pydantic_validator__ = cast(SchemaValidator, validator)


# -- the text rules checked in pydantic-core first ----------------------------------------------


def _in_rust(check: CoreSchema) -> CoreSchema | None:
    """A check that runs a Python function after a `str` schema, as that schema's own constraint
    (checked in pydantic-core), when it is one accepting exactly the same strings; else None.

    `_PrintableText` becomes its published pattern: a Python string that pydantic-core cannot read
    as UTF-8 (a lone surrogate) fails before any pattern, and every other character is refused by
    the pattern exactly when `unstorable_character` refuses it. pydantic's own length checks after
    a rule (`Annotated[Line, Field(max_length=...)]`) become the `str` schema's lengths: both count
    code points. Anything else (or a function pydantic may rename) is left as it is."""
    if check["type"] != "function-after" or check["function"]["type"] != "no-info":
        return None
    text = check["schema"]
    if text["type"] != "str":
        return None
    function = check["function"]["function"]
    rule = getattr(function, "__self__", None)
    if isinstance(rule, _PrintableText) and getattr(function, "__func__", None) is (
        _PrintableText._check
    ):
        if "pattern" in text:
            return None
        pattern = TEXT_PATTERN if rule.multiline else LINE_PATTERN
        return {**text, "pattern": pattern, "regex_engine": "rust-regex"}
    if not isinstance(function, functools.partial) or function.args:
        return None
    if function.func is min_length_validator and function.keywords.keys() == {"min_length"}:
        shortest: int = function.keywords["min_length"]
        return {**text, "min_length": max(shortest, text.get("min_length", 0))}
    if function.func is max_length_validator and function.keywords.keys() == {"max_length"}:
        longest: int = function.keywords["max_length"]
        return {**text, "max_length": min(longest, text.get("max_length", longest))}
    return None


_NOT_SCHEMAS = frozenset({"default", "metadata", "serialization", "expected"})
"""Keys of a core schema whose values are not schemas (defaults and literals are kept as they are,
not copied)."""


def _checked_in_rust(schema: Any) -> Any:
    """A copy of a core schema with every text check `_in_rust` can move moved (inner ones first,
    so that a chain of them folds into one `str` schema)."""
    if isinstance(schema, list):
        return [_checked_in_rust(part) for part in schema]
    if not isinstance(schema, dict):
        return schema
    copied = {
        key: value if key in _NOT_SCHEMAS else _checked_in_rust(value)
        for key, value in schema.items()
    }
    if copied.get("type") == "function-after":
        return _in_rust(cast(CoreSchema, copied)) or copied
    return copied


class _RustFirst:
    """A contract model's validator: the model's own, with its text checks done in pydantic-core
    first (`_checked_in_rust`), and its exact validator whenever that refuses the input.

    Both accept exactly the same input and give the same model; only how a string is checked
    differs. Valid input (nearly all) is checked without a Python call per string field, and
    invalid input is checked again by the exact validator, so every error (its type, message,
    place and order) is the one the model's own rules give. Nested models are checked the same way:
    the copy is built without pydantic-core's reuse of their validators, while any other schema
    that nests the model (a FastAPI body, a `TypeAdapter`) reuses the exact one, as before."""

    __slots__ = ("_exact", "_fast")

    def __init__(self, fast: SchemaValidator, exact: SchemaValidator) -> None:
        self._fast = fast
        self._exact = exact

    @classmethod
    def of(cls, model: type[BaseModel]) -> _RustFirst | None:
        """The validator of `model`; None when it has no text check to move (the exact one is
        then all there is)."""
        exact = model.__pydantic_validator__
        assert isinstance(exact, SchemaValidator), f"{model.__name__}: {type(exact)}"
        schema = model.__pydantic_core_schema__
        checked = _checked_in_rust(schema)
        if checked == schema:
            return None
        config = schema.get("config") if schema["type"] == "model" else None
        return cls(SchemaValidator(checked, config, _use_prebuilt=False), exact)

    @property
    def __pydantic_schema_validator__(self) -> SchemaValidator:
        """What pydantic-core reuses where another schema nests the model: the exact one."""
        return self._exact

    def validate_python(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._fast.validate_python(*args, **kwargs)
        except ValidationError:
            return self._exact.validate_python(*args, **kwargs)

    def validate_json(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._fast.validate_json(*args, **kwargs)
        except ValidationError:
            return self._exact.validate_json(*args, **kwargs)

    def validate_strings(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._fast.validate_strings(*args, **kwargs)
        except ValidationError:
            return self._exact.validate_strings(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._exact, name)


def validate_partner_message(model: type[PartnerModel], data: Any) -> PartnerModel:
    """Read a message a partner sent us (a channel order, a 3PL confirmation, a carrier scan).

    Held to its schema exactly, nested parts included: a field the schema does not name is
    refused, so that a misspelt field becomes a dead letter with its reason rather than a value
    silently dropped. Their published schemas say so (`additionalProperties: false`).
    """
    return model.model_validate(data, extra="forbid")


class IntegrationEvent(ContractModel):
    """The payload of an event published by one of our services.

    Subclasses name their type and schema version; together they select the model a consumer uses to
    read the payload of an envelope.
    """

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    aggregate_type: ClassVar[str]
    """The kind of aggregate that records the event; consumers follow aggregates of a kind."""
    replaced_by: ClassVar[str | None] = None
    """A deprecated event: the event type to read instead. It is still published, until the next
    major version of the contracts (`contracts/CHANGELOG.md` says so); its schema says
    `deprecated: true`."""
    key_description: ClassVar[str | None] = None
    """What the event's Kafka key is when it is not the aggregate id (`message_key`)."""

    @classmethod
    def schema_key(cls) -> tuple[str, int]:
        return cls.event_type, cls.schema_version

    def message_key(self) -> str | None:
        """The event's Kafka key when it must keep its order with events of other aggregates
        (one key: one partition, in the order the store recorded them); None for its aggregate
        id, which keeps an aggregate's own events in order."""
        return None

    def upcast(self) -> IntegrationEvent:
        """This event as the next schema version of its type reads it.

        The latest version returns itself. A version kept only so that messages published before a
        breaking change can still be read overrides this, returning the next version; consumers
        read every message as the latest version (`contracts.registry.read_event`).
        """
        return self
