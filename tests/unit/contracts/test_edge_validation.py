"""Text no downstream store can hold is refused at the edge: in partners' messages and in HTTP
commands, with the rule published in the JSON schemas."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import ValidationError

from contracts.base import LINE_PATTERN, TEXT_PATTERN, unstorable_character
from contracts.carrier import CarrierTrackingEvent
from contracts.channel import ChannelOrderMessage
from contracts.schemas import SCHEMA_DIR
from contracts.threepl import ThreePLReceipt
from services.inventory.main import build_app
from services.runtime.http_edge import LONGEST_TEXT, BoundedBodies, PrintableBodies
from tests.integration.harness import channel_order


def problems(error: ValidationError) -> dict[tuple[Any, ...], str]:
    return {tuple(issue["loc"]): issue["type"] for issue in error.errors()}


def test_a_nul_in_a_customer_name_is_refused_naming_the_field() -> None:
    message = channel_order("1") | {
        "customer": {"customer_id": "C-1", "name": "Ada\x00Lovelace", "email": "a@example.com"}
    }

    with pytest.raises(ValidationError) as refused:
        ChannelOrderMessage.model_validate(message)

    assert problems(refused.value) == {("customer", "name"): "unstorable_character"}
    assert "U+0000" in str(refused.value)


def test_a_lone_surrogate_in_an_address_is_refused() -> None:
    order = channel_order("1")
    message = order | {"shipping_address": order["shipping_address"] | {"line1": "Main \ud800"}}

    with pytest.raises(ValidationError) as refused:
        ChannelOrderMessage.model_validate(json.loads(json.dumps(message)))

    # pydantic itself refuses a string it cannot hold in Rust; the check here is the backstop.
    assert list(problems(refused.value)) == [("shipping_address", "line1")]


def test_a_serial_in_a_goods_receipt_must_be_printable() -> None:
    receipt = {
        "type": "goods_received",
        "receipt_id": "R-1",
        "purchase_order_id": "PO-1",
        "location": "WH-A",
        "at": "2026-01-01T00:00:00Z",
        "lines": [{"sku": "CAM-1", "quantity": 1, "serials": ["SN\x07"]}],
    }

    with pytest.raises(ValidationError) as refused:
        ThreePLReceipt.model_validate(receipt)

    assert ("goods_received", "lines", 0, "serials", 0) in problems(refused.value)


def test_free_text_may_break_lines_but_a_code_may_not() -> None:
    scan = {"carrier": "ups", "tracking_number": "1Z", "code": "D", "at": "2026-01-01T00:00:00Z"}

    assert CarrierTrackingEvent.model_validate(scan | {"description": "Left at\n the door"})
    with pytest.raises(ValidationError):
        CarrierTrackingEvent.model_validate(scan | {"code": "D\n"})


@pytest.mark.parametrize(("pattern", "multiline"), [(LINE_PATTERN, False), (TEXT_PATTERN, True)])
def test_the_published_pattern_is_the_rule_that_is_enforced(pattern: str, multiline: bool) -> None:
    published = re.compile(pattern)
    for code in [*range(0x00, 0xA1), 0xE9, 0x20AC, 0x1F600]:
        text = f"a{chr(code)}b"
        accepted = unstorable_character(text, multiline=multiline) is None
        assert accepted == bool(published.match(text)), f"U+{code:04X}"


def test_the_channel_schema_publishes_the_rule() -> None:
    schema = json.loads((SCHEMA_DIR / "ChannelOrderMessage.v1.json").read_text("utf-8"))

    assert schema["$defs"]["Customer"]["properties"]["name"]["pattern"] == LINE_PATTERN


async def answer(
    method: str, body: bytes, content_type: str = "application/json"
) -> httpx.Response:
    app = FastAPI()
    app.add_middleware(PrintableBodies)

    @app.api_route("/commands", methods=["GET", "POST"])
    async def command(request: Request) -> dict[str, Any]:
        return {"received": (await request.body()).decode()}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        return await client.request(
            method, "/commands", content=body, headers={"content-type": content_type}
        )


async def test_an_http_command_with_a_nul_is_refused_with_a_422_naming_the_field() -> None:
    body = json.dumps({"actor": "dock-3", "lines": [{"batch": "B\x00"}]}).encode()

    refused = await answer("POST", body)

    assert refused.status_code == 422
    (problem,) = refused.json()["error"]["details"]
    assert problem["loc"] == ["body", "lines", 0, "batch"]
    assert "U+0000" in problem["msg"]


async def test_a_field_name_and_a_text_body_are_checked_too() -> None:
    key = await answer("POST", json.dumps({"check\x00": True}).encode())
    csv = await answer("POST", b"sku,name\nCAM-1,Cam\x00era\n", "text/csv")

    assert key.json()["error"]["details"][0]["loc"] == ["body", "check\\x00"]
    assert csv.json()["error"]["details"][0]["loc"] == ["body", "line 2"]


async def test_printable_commands_and_queries_reach_the_route_unchanged() -> None:
    body = json.dumps({"note": "two\nlines, tab\there, ünïcödé 😀"}).encode()

    accepted = await answer("POST", body)
    query = await answer("GET", b"\x00")

    assert accepted.status_code == 200
    assert accepted.json()["received"] == body.decode()
    assert query.status_code == 200


def test_the_openapi_document_shows_the_key_the_answers_and_the_text_rule() -> None:
    document = build_app().openapi()

    receipt = document["paths"]["/stock/receipts"]["post"]
    assert "Idempotency-Key" in [parameter["name"] for parameter in receipt["parameters"]]
    assert {"409", "422", "503"} <= set(receipt["responses"])
    command = document["components"]["schemas"]["ReceiveStock"]["properties"]
    assert command["reason"]["pattern"] == TEXT_PATTERN
    assert command["sku"]["pattern"] != TEXT_PATTERN  # a stricter rule of its own stays
    query = document["paths"]["/stock/{sku}"]["get"]
    assert "Idempotency-Key" not in [parameter["name"] for parameter in query["parameters"]]


async def bounded_answer(body: bytes, *, declared: bool = True) -> httpx.Response:
    app = FastAPI()
    app.add_middleware(PrintableBodies)
    app.add_middleware(BoundedBodies, limit=1024)

    @app.post("/commands")
    async def command(request: Request) -> dict[str, Any]:
        return {"received": len(await request.body())}

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 100):
            yield body[start : start + 100]

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        return await client.post(
            "/commands",
            content=body if declared else chunks(),
            headers={"content-type": "application/json"},
        )


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_body_over_the_limit_is_a_413_whether_its_length_is_declared_or_not(
    declared: bool,
) -> None:
    fits = await bounded_answer(b'"' + b"a" * 1000 + b'"', declared=declared)
    too_large = await bounded_answer(b'"' + b"a" * 1100 + b'"', declared=declared)

    assert (fits.status_code, fits.json()) == (200, {"received": 1002})
    assert too_large.status_code == 413
    error = too_large.json()["error"]
    assert (error["type"], error["details"]) == ("body-too-large", {"limit_bytes": 1024})


async def test_json_nested_beyond_reading_or_an_endless_string_is_a_422_not_a_crash() -> None:
    deep = await answer("POST", b"[" * 100_000 + b"]" * 100_000)
    endless = await answer("POST", json.dumps({"note": "x" * (LONGEST_TEXT + 1)}).encode())

    assert deep.status_code == 422
    assert "too deeply" in deep.json()["error"]["message"] + str(deep.json()["error"]["details"])
    assert endless.status_code == 422
    (problem,) = endless.json()["error"]["details"]
    assert (problem["loc"], problem["msg"]) == (
        ["body", "note"],
        f"is longer than {LONGEST_TEXT} characters",
    )


SERVICES = ("pim", "inventory", "order", "returns", "shipping", "warehouse_adapter", "traceability")
PUBLISHED_SHAPES = {"RateTableDocument", "ServiceRate"}
"""Bodies that are a published contract's shape (a rate table, as shipping's rate-tables directory
also holds it): narrowing them is a breaking change of the contract, so their strings are bounded
by the edge alone (`LONGEST_TEXT`), like every other string, and the body by its size limit."""


def unbounded(node: Any, components: dict[str, Any], where: str, seen: frozenset[str]) -> list[str]:
    """Where a request body's schema lets a string, list or mapping grow without a limit."""
    if not isinstance(node, dict):
        return []
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in seen or name in PUBLISHED_SHAPES:
            return []
        return unbounded(components[name], components, f"{where}>{name}", seen | {name})
    branches = node.get("anyOf", []) + node.get("oneOf", []) + node.get("allOf", [])
    if any(branch.get("type") == "number" for branch in branches):
        return []  # a number that may travel as a string (Decimal): bounded by its digits
    found = [
        problem for branch in branches for problem in unbounded(branch, components, where, seen)
    ]
    kind = node.get("type")
    pattern = node.get("pattern", "*")
    if kind == "string" and not (
        "maxLength" in node
        or "enum" in node
        or "const" in node
        or node.get("format") in ("uuid", "date", "date-time")
        or not re.search(r"[*+]", pattern)
    ):
        found.append(f"{where}: a string without maxLength")
    if kind == "array":
        if "maxItems" not in node:
            found.append(f"{where}: a list without maxItems")
        found += unbounded(node.get("items"), components, f"{where}[]", seen)
    if kind == "object":
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            if "maxProperties" not in node:
                found.append(f"{where}: a mapping without maxProperties")
            found += unbounded(node.get("propertyNames"), components, f"{where} key", seen)
            found += unbounded(extra, components, f"{where}.*", seen)
        for name, child in node.get("properties", {}).items():
            found += unbounded(child, components, f"{where}.{name}", seen)
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_every_field_of_every_command_has_its_own_limit(service: str) -> None:
    app = importlib.import_module(f"services.{service}.main").build_app()
    document = app.openapi()
    components = document.get("components", {}).get("schemas", {})

    found = [
        problem
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for content in operation.get("requestBody", {}).get("content", {}).values()
        for problem in unbounded(
            content.get("schema", {}), components, f"{method.upper()} {path}", frozenset()
        )
    ]

    assert found == []
