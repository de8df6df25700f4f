"""The `Idempotency-Key` header, on any route: a repeat is answered from the record and changes
nothing, another request under the key is refused, the record goes with the request's changes."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from eventsourcing.persistence import OperationalError
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from infra.tokens import LocalIssuer
from services.inventory.application import InventoryApplication
from services.inventory.domain import Receipt, stock_id_for
from services.runtime.auth import Role, TokenVerifier, VerifierSettings
from services.runtime.http_edge import IdempotentRequests
from services.runtime.idempotency import (
    IdempotencyRecord,
    KeyedRequest,
    reset_keyed,
    running_keyed,
)


class Received(BaseModel):
    sku: str
    quantity: int


@dataclass
class Settings:
    service_name: str = "inventory"


class InlineRuntime:
    """What the middleware needs of a running service, on an in-memory store."""

    def __init__(self) -> None:
        self.settings = Settings()
        self.application = InventoryApplication(None)

    async def run_command(self, function: Callable[..., Any], *args: Any) -> Any:
        return function(*args)


KEYS = Path(tempfile.mkdtemp(prefix="unitrail-test-keys-"))
atexit.register(shutil.rmtree, KEYS, ignore_errors=True)
ISSUER = LocalIssuer(KEYS / "auth").ensure()
CALLER = "dock"


def service() -> tuple[FastAPI, InventoryApplication]:
    app = FastAPI()
    app.add_middleware(IdempotentRequests, retry_after=2)
    runtime = InlineRuntime()
    app.state.runtime = runtime
    app.state.verifier = TokenVerifier(VerifierSettings(public_key_file=ISSUER.public_key_file))
    inventory = runtime.application

    @app.post("/receipts", status_code=201)
    async def receive(command: Received) -> dict[str, Any]:
        if command.quantity > 100:
            raise HTTPException(status_code=422, detail="too many")
        receipt = Receipt("WH-A", command.quantity, "count", "dock")
        stock_id = await runtime.run_command(inventory.receive_stock, command.sku, receipt)
        return {"stock_id": str(stock_id), "on_hand": on_hand(inventory, command.sku)}

    @app.post("/echo")
    async def echo(command: Received) -> dict[str, Any]:
        return {"echo": command.quantity, "on_hand": on_hand(inventory, command.sku)}

    @app.post("/raced")
    async def raced(command: Received) -> dict[str, Any]:
        # Another request with the same key saves its record first, between the lookup and this
        # request's own save.
        token = running_keyed(None)
        inventory.save(KeyedRequest("inventory", "k-1", "another", caller=CALLER).new_record())
        reset_keyed(token)
        return await receive(command)

    return app, inventory


def on_hand(inventory: InventoryApplication, sku: str) -> int:
    return sum(level.on_hand for level in inventory.get_stock_levels(sku))


async def post(
    app: FastAPI, path: str, body: dict[str, Any], key: str | None = None, caller: str = CALLER
) -> httpx.Response:
    headers = {"authorization": f"Bearer {ISSUER.issue(Role.WAREHOUSE, caller)}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        return await client.post(path, json=body, headers=headers)


async def test_a_repeat_with_the_key_is_applied_once_and_answered_the_same() -> None:
    app, inventory = service()

    first = await post(app, "/receipts", {"sku": "CAM", "quantity": 3}, key="k-1")
    again = await post(app, "/receipts", {"quantity": 3, "sku": "CAM"}, key="k-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() == {"stock_id": str(stock_id_for("CAM")), "on_hand": 3}
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert on_hand(inventory, "CAM") == 3


async def test_the_record_is_saved_with_the_changes_and_holds_the_answer() -> None:
    app, inventory = service()

    await post(app, "/receipts", {"sku": "CAM", "quantity": 3}, key="k-1")

    record = inventory.get(
        KeyedRequest("inventory", "k-1", "", caller=CALLER).record_id, IdempotencyRecord
    )
    saved = [
        notification.topic.split(":")[-1].split(".")
        for notification in inventory.process_recorder.select_notifications(start=1, limit=10)
    ]
    assert [kind for kind, _ in saved] == ["SkuStock"] * 2 + ["IdempotencyRecord"] * 2
    assert [event for _, event in saved[2:]] == ["Recorded", "Answered"]
    assert record.stored_answer() is not None


async def test_a_key_is_the_caller_s_own_another_caller_never_gets_its_answer() -> None:
    app, inventory = service()
    assert on_hand(inventory, "CAM") == 0

    first = await post(app, "/receipts", {"sku": "CAM", "quantity": 3}, key="k-1")
    other = await post(app, "/receipts", {"sku": "CAM", "quantity": 3}, key="k-1", caller="eve")

    assert (first.status_code, other.status_code) == (201, 201)
    assert "idempotent-replayed" not in other.headers
    assert other.json()["on_hand"] == 6


async def test_the_key_with_another_body_or_path_is_refused() -> None:
    app, inventory = service()
    await post(app, "/receipts", {"sku": "CAM", "quantity": 3}, key="k-1")

    other_body = await post(app, "/receipts", {"sku": "CAM", "quantity": 4}, key="k-1")
    other_path = await post(app, "/echo", {"sku": "CAM", "quantity": 3}, key="k-1")

    assert (other_body.status_code, other_path.status_code) == (409, 409)
    assert "different request" in other_body.json()["error"]["message"]
    assert on_hand(inventory, "CAM") == 3


async def test_without_a_key_or_with_new_keys_every_request_applies() -> None:
    app, inventory = service()

    for key in (None, None, "k-1", "k-2"):
        await post(app, "/receipts", {"sku": "CAM", "quantity": 1}, key=key)

    assert on_hand(inventory, "CAM") == 4


async def test_a_request_that_changed_nothing_is_answered_the_same_from_its_record() -> None:
    app, _ = service()

    first = await post(app, "/echo", {"sku": "CAM", "quantity": 3}, key="k-1")
    await post(app, "/receipts", {"sku": "CAM", "quantity": 5})
    again = await post(app, "/echo", {"sku": "CAM", "quantity": 3}, key="k-1")

    assert again.json() == first.json() == {"echo": 3, "on_hand": 0}


async def test_a_refused_request_keeps_no_answer_and_can_be_sent_again() -> None:
    app, _ = service()

    refused = await post(app, "/receipts", {"sku": "CAM", "quantity": 101}, key="k-1")
    again = await post(app, "/receipts", {"sku": "CAM", "quantity": 101}, key="k-1")

    assert (refused.status_code, again.status_code) == (422, 422)
    assert "idempotent-replayed" not in again.headers


async def test_a_request_that_loses_the_race_for_its_key_saves_nothing_and_gets_a_409() -> None:
    app, inventory = service()

    raced = await post(app, "/raced", {"sku": "CAM", "quantity": 3}, key="k-1")

    assert raced.status_code == 409
    assert "is running" in raced.json()["error"]["message"]
    assert on_hand(inventory, "CAM") == 0


async def test_a_key_applied_without_a_kept_answer_gets_a_409_not_a_second_application() -> None:
    app, inventory = service()
    body = {"sku": "CAM", "quantity": 3}
    request = KeyedRequest.of(
        "inventory", "k-1", "POST", "/receipts", json.dumps(body).encode(), CALLER
    )
    inventory.save(request.new_record())

    repeated = await post(app, "/receipts", body, key="k-1")

    assert repeated.status_code == 409
    assert "no answer kept" in repeated.json()["error"]["message"]
    assert on_hand(inventory, "CAM") == 0


async def test_a_key_that_is_not_printable_or_too_long_is_refused() -> None:
    app, _ = service()

    for key in ("", "x" * 256, "a\tb"):
        refused = await post(app, "/receipts", {"sku": "CAM", "quantity": 1}, key=key)
        assert refused.status_code == 422, key
        assert refused.json()["error"]["details"][0]["loc"] == ["header", "Idempotency-Key"]


async def test_a_key_that_cannot_be_looked_up_while_the_database_is_down_gets_a_quick_503() -> None:
    app, _ = service()

    async def unreachable(function: Callable[..., Any], *args: Any) -> Any:
        raise OperationalError("couldn't get a connection after 1.50 sec")

    app.state.runtime.run_command = unreachable

    answer = await post(app, "/receipts", {"sku": "CAM", "quantity": 1}, key="k-1")

    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "2"
    assert "the database is unavailable" in answer.json()["error"]["message"]
