"""`docs/asyncapi.yaml` is a valid AsyncAPI 3.0 document of every topic, with recorded examples.

That the committed document is current is checked with the schemas
(`test_contract_evolution.py::test_the_unchanged_copy_passes_the_gate_so_the_committed_files_are_current` runs
`scripts/generate_schemas.py --check`).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts.asyncapi import ASYNCAPI_PATH, PARTNER_MESSAGES
from contracts.base import ContractModel, IntegrationEvent, validate_partner_message
from contracts.envelope import Envelope
from contracts.schemas import SCHEMA_DIR, load_example, published_models, schema_of
from contracts.topics import all_topics

PUBLISHED = published_models()


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ASYNCAPI_PATH.read_text(encoding="utf-8"))
    return loaded


def test_it_is_a_valid_asyncapi_3_document(document: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the parser warns about its own models at import
        from asyncapi3 import AsyncAPI3

        parsed = AsyncAPI3.model_validate(document)
    assert parsed.asyncapi == "3.0.0"


def test_it_describes_every_topic_of_the_registry(document: dict[str, Any]) -> None:
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {topic.name for topic in all_topics()}
    operated = {operation["channel"]["$ref"] for operation in document["operations"].values()}
    assert operated == {f"#/channels/{name}" for name in document["channels"]}


def test_every_published_model_is_a_message_of_a_topic(document: dict[str, Any]) -> None:
    titles = {message["title"] for message in document["components"]["messages"].values()}
    assert {stem for stem, _ in PUBLISHED} - {"Envelope.v1"} <= titles


def test_every_message_of_a_contract_is_summed_up_in_whole_sentences(
    document: dict[str, Any],
) -> None:
    cut_short = [
        name
        for name, message in document["components"]["messages"].items()
        if message["title"] in dict(PUBLISHED) and not message["summary"].endswith(".")
    ]
    assert cut_short == []


def test_a_deprecated_event_says_so_in_its_schema_and_in_the_changelog() -> None:
    deprecated = {
        model.event_type: model.replaced_by
        for _, model in PUBLISHED
        if issubclass(model, IntegrationEvent) and model.replaced_by is not None
    }
    assert deprecated == {"ReturnInspected": "ReturnGraded"}
    changelog = (SCHEMA_DIR.parent / "CHANGELOG.md").read_text(encoding="utf-8")
    published_types = {
        model.event_type for _, model in PUBLISHED if issubclass(model, IntegrationEvent)
    }
    for old, new in deprecated.items():
        schema = json.loads((SCHEMA_DIR / f"{old}.v1.json").read_text(encoding="utf-8"))
        assert (schema["deprecated"], schema["x-replaced-by"]) == (True, new)
        assert new in published_types
        assert f"**`{old}` is deprecated.**" in changelog
        assert f"Move to `{new}`" in changelog
        # The schema names the changelog section that deprecates it: "Unreleased" until the
        # release, then the release's version.
        section = changelog.split(f"**`{old}` is deprecated.**")[0].rsplit("\n## ", 1)[1]
        heading = section.splitlines()[0].split(" ")[0]
        assert heading in schema["description"], (heading, schema["description"])
    current = json.loads((SCHEMA_DIR / "ReturnGraded.v1.json").read_text(encoding="utf-8"))
    assert "deprecated" not in current


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    unresolved = [
        reference
        for reference in references(document)
        if not resolves(reference, document, ASYNCAPI_PATH.parent)
    ]
    assert unresolved == []


def test_every_message_of_a_contract_carries_a_recorded_example(document: dict[str, Any]) -> None:
    without = [
        name
        for name, message in document["components"]["messages"].items()
        if message["title"] in dict(PUBLISHED) and not message.get("examples")
    ]
    assert without == [], (
        "record them from real messages: `UNITRAIL_RECORD_EXAMPLES=1 scripts/test tests/integration`"
        " or `python scripts/capture_examples.py` against a running system"
    )


@pytest.mark.parametrize(("stem", "model"), PUBLISHED, ids=[stem for stem, _ in PUBLISHED])
def test_every_schema_carries_its_example_which_reads_as_its_model(
    stem: str, model: type[ContractModel]
) -> None:
    example = load_example(stem)
    assert example is not None, f"no recorded example of {stem}"
    assert schema_of(model).get("examples"), f"{SCHEMA_DIR / stem}.json has no example"
    payload = example["payload"]
    if issubclass(model, IntegrationEvent):
        envelope = Envelope.model_validate(payload, extra="forbid")
        assert (envelope.event_type, envelope.schema_version) == model.schema_key()
        model.model_validate(envelope.payload, extra="forbid")
    elif model is Envelope:
        Envelope.model_validate(payload, extra="forbid")
    else:
        assert example["topic"] in PARTNER_MESSAGES
        validate_partner_message(model, payload)


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in references(value)]
    return []


def resolves(reference: str, document: dict[str, Any], base: Path) -> bool:
    if not reference.startswith("#/"):
        return (base / reference).resolve().is_file()
    target: Any = document
    for part in reference.removeprefix("#/").split("/"):
        if not isinstance(target, dict) or part not in target:
            return False
        target = target[part]
    return True
