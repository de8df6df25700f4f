"""Contract models check their text rules (`Line`, `Text`, and lengths given after them) in
pydantic-core first, and fall back to their exact validator for anything refused: they must accept
exactly what the exact validator accepts, give the same model, and refuse with its errors."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_core import SchemaValidator

import contracts.base
from contracts.base import ContractModel, _RustFirst
from contracts.schemas import load_example, published_models

# Characters on both sides of every boundary of the rules, and a few ordinary ones.
CHARACTERS = [
    *"\x00\x01\x08\t\n\x0b\x0c\r\x0e\x1f\x7f\x80\x85\x9f\ud7ff\ue000\uffff",
    *" ~\xa0é\u2028\u2029\ufeff\U0001f600\U0010ffff\ud800\udbff\udc00\udfff",
    *"aZ09-._/",
]
HOSTILE = [
    "",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\x85",
    "tab\there",
    "two\nlines",
    "\x7f",
    "a" * 2001,
]


def _examples() -> list[Any]:
    """Every recorded example of a published model with a text rule: the model and the data it
    reads."""
    examples: list[Any] = []
    for stem, model in published_models():
        example = load_example(stem)
        if example is None or not isinstance(model.__pydantic_validator__, _RustFirst):
            continue
        data = example["payload"]
        if "payload" in data and "event_type" in data:  # an event: the payload of its envelope
            data = data["payload"]
        examples.append(pytest.param(model, data, id=stem))
    return examples


EXAMPLES = _examples()


def _text_places(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Where `data` holds a string, or nothing (an optional string may be there)."""
    if data is None or isinstance(data, str):
        yield path
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _text_places(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _text_places(value, (*path, index))


def _with(data: Any, path: tuple[Any, ...], text: str) -> Any:
    if not path:
        return text
    copied = dict(data) if isinstance(data, dict) else list(data)
    copied[path[0]] = _with(data[path[0]], path[1:], text)
    return copied


def _outcome(validate: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A model with the fields it was given, or every error as the dead letters say it."""
    try:
        valid = validate(*args, **kwargs)
    except ValidationError as error:
        return ("invalid", [(e["type"], e["loc"], e["msg"], e["input"]) for e in error.errors()])
    return ("valid", valid, valid.model_fields_set)


def _every_model() -> Iterator[type[ContractModel]]:
    pending = list(ContractModel.__subclasses__())
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        yield model


def _has_text_rule(schema: Any) -> bool:
    if isinstance(schema, dict):
        function = schema.get("function")
        if isinstance(function, dict) and getattr(function["function"], "__func__", None) is (
            contracts.base._PrintableText._check
        ):
            return True
        return any(map(_has_text_rule, schema.values()))
    return isinstance(schema, list) and any(map(_has_text_rule, schema))


def test_every_contract_model_with_a_text_rule_checks_it_in_rust_first() -> None:
    models = list(_every_model())
    with_rules = [model for model in models if _has_text_rule(model.__pydantic_core_schema__)]
    assert {"OrderPlaced", "FulfilmentRequested", "AddressOnRecord", "PackConfirmation"} <= {
        model.__name__ for model in with_rules
    }
    assert [
        model.__name__
        for model in with_rules
        if not isinstance(model.__pydantic_validator__, _RustFirst)
    ] == []
    # A model without one keeps its exact validator: nothing to gain, a call less.
    assert all(
        isinstance(model.__pydantic_validator__, SchemaValidator)
        for model in models
        if model not in with_rules
    )


@pytest.fixture
def python_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The strings the text rules' Python check is called with."""
    calls: list[str] = []
    checked = contracts.base.unstorable_character

    def counted(value: str, *, multiline: bool = True) -> str | None:
        calls.append(value)
        return checked(value, multiline=multiline)

    monkeypatch.setattr(contracts.base, "unstorable_character", counted)
    return calls


def test_the_exact_validator_checks_text_in_python(python_checks: list[str]) -> None:
    model, data = next(example.values for example in EXAMPLES if example.id == "OrderPlaced.v1")
    validator = model.__pydantic_validator__
    assert isinstance(validator, _RustFirst)
    validator._exact.validate_python(data)
    assert data["customer"]["name"] in python_checks


@pytest.mark.parametrize(("model", "data"), EXAMPLES)
def test_valid_text_is_checked_without_a_python_call(
    model: type[ContractModel], data: dict[str, Any], python_checks: list[str]
) -> None:
    validator = model.__pydantic_validator__
    assert isinstance(validator, _RustFirst)
    exact = _outcome(validator._exact.validate_python, data)
    assert exact[0] == "valid"
    python_checks.clear()
    assert _outcome(model.model_validate, data) == exact
    assert _outcome(model.model_validate_json, json.dumps(data)) == exact
    assert _outcome(model, **data) == exact
    assert python_checks == []


@pytest.mark.parametrize(("model", "data"), EXAMPLES)
def test_text_is_accepted_and_refused_exactly_as_the_model_s_own_rules_say(
    model: type[ContractModel], data: dict[str, Any]
) -> None:
    validator = model.__pydantic_validator__
    assert isinstance(validator, _RustFirst)
    chance = random.Random(model.__name__)
    for place in _text_places(data):
        texts = [*HOSTILE]
        texts += ["".join(chance.choices(CHARACTERS, k=chance.randint(1, 6))) for _ in range(12)]
        for text in texts:
            _check_exactly(model, validator, _with(data, place, text))


def _check_exactly(model: type[ContractModel], validator: _RustFirst, data: Any) -> None:
    exact = _outcome(validator._exact.validate_python, data)
    assert _outcome(validator._fast.validate_python, data)[0] == exact[0]
    assert _outcome(model.model_validate, data) == exact
    assert _outcome(model.model_validate, data, extra="forbid") == _outcome(
        validator._exact.validate_python, data, extra="forbid"
    )
    as_json = json.dumps(data)  # a lone surrogate as an escape: invalid JSON
    assert _outcome(model.model_validate_json, as_json) == _outcome(
        validator._exact.validate_json, as_json
    )
