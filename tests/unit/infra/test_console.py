"""The web console's own parts, without services: its token, the order search, and what it says
when a service does not answer (the pages with the real stack: tests/integration/test_console.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest

from infra.console import CONSOLE_ROLES, console_url
from infra.console.apis import Apis, ConsoleToken, roles_of
from infra.console.app import build_console
from infra.embedded import free_port
from infra.processes import ServiceProcess
from infra.stack import Stack
from infra.tokens import LocalIssuer
from services.runtime.auth import Role, TokenVerifier, VerifierSettings


@pytest.fixture
def issuer(tmp_path: Path) -> LocalIssuer:
    return LocalIssuer(tmp_path / "auth").ensure()


@pytest.fixture
def apis(issuer: LocalIssuer) -> Apis:
    """The services as the console calls them, all where nothing listens."""
    token_file = issuer.token_file("console", "unitrail-console", CONSOLE_ROLES)
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {"UNITRAIL_CONSOLE_TOKEN_FILE": str(token_file)} | {
        f"UNITRAIL_{service.upper()}_URL": nowhere
        for service in ("pim", "inventory", "order", "returns", "shipping", "traceability")
    }
    env["UNITRAIL_WAREHOUSE_ADAPTER_URL"] = nowhere
    return Apis(env)


@pytest.fixture
async def console(apis: Apis) -> AsyncIterator[httpx.AsyncClient]:
    app = build_console(apis)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://console"
        ) as client,
    ):
        yield client


def test_the_console_token_holds_its_roles_and_the_services_admit_it_in_each(
    issuer: LocalIssuer,
) -> None:
    token = ConsoleToken(
        {"UNITRAIL_CONSOLE_TOKEN_FILE": str(issuer.token_file("console", "c", CONSOLE_ROLES))}
    ).current()
    assert roles_of(token) == {"customer-service", "analyst", "operator"}
    verifier = TokenVerifier(VerifierSettings(public_key_file=issuer.public_key_file))
    claims = jwt.decode(token, options={"verify_signature": False})
    assert verifier.caller(claims, [Role.OPERATOR]).role is Role.OPERATOR
    assert verifier.caller(claims, [Role.CUSTOMER_SERVICE]).role is Role.CUSTOMER_SERVICE
    assert roles_of("not a token") == frozenset()


async def test_an_order_is_found_by_channel_and_id_in_either_spelling(
    console: httpx.AsyncClient,
) -> None:
    async def found(**query: str) -> str:
        answer = await console.get("/orders/find", params=query)
        assert answer.status_code == 303
        return answer.headers["location"]

    assert (
        await found(channel="webshop", channel_order_id="10/01")
        == "/orders/by-channel/webshop/10%2F01"
    )
    assert await found(channel_order_id="amazon-us:A-7") == "/orders/by-channel/amazon-us/A-7"
    order_id = "0142bafe-7b7f-4c1e-9a53-2f1d0c9e8a11"
    assert await found(channel_order_id=order_id) == f"/orders/id/{order_id}"
    assert (await found(channel_order_id="1001")).startswith("/orders?said=give+the+channel")


async def test_a_service_that_does_not_answer_is_named_on_the_page(
    console: httpx.AsyncClient,
) -> None:
    answer = await console.get("/orders")
    assert answer.status_code == 502
    assert "order: the order service does not answer" in answer.text
    system = await console.get("/system")
    assert system.status_code == 200, "the system page shows who is down"
    assert system.text.count("unreachable") == 7


async def test_an_action_the_callers_role_may_not_take_is_said_to_be_not_allowed(
    apis: Apis, console: httpx.AsyncClient
) -> None:
    refusal = {"error": {"message": "this needs one of the roles customer-service, admin"}}
    await apis.client.aclose()
    apis.client = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda request: httpx.Response(403, json=refusal))
    )
    answer = await console.post(f"/orders/id/{uuid.uuid4()}/release", content=b"note=x")
    assert answer.status_code == 403
    assert "Not allowed" in answer.text
    assert "order: this needs one of the roles customer-service, admin" in answer.text


async def test_an_action_posted_from_another_site_is_refused(console: httpx.AsyncClient) -> None:
    answer = await console.post(
        "/system/dead-letters/order/1/redrive", headers={"origin": "https://elsewhere.example"}
    )
    assert answer.status_code == 403


def test_the_console_listens_where_it_is_told() -> None:
    assert console_url({}) == "http://127.0.0.1:8000"
    assert console_url({"UNITRAIL_CONSOLE_HTTP_PORT": "9100"}) == "http://127.0.0.1:9100"


async def test_a_recall_that_cannot_match_anything_is_explained_before_asking(
    console: httpx.AsyncClient,
) -> None:
    backwards = await console.get("/recall", params={"serial_from": "SN-2", "serial_to": "SN-1"})
    assert "SN-2 comes after SN-1: nothing is in that range" in backwards.text
    half = await console.get("/recall", params={"serial_from": "SN-1"})
    assert "give a batch, or both ends of a serial range" in half.text
    assert "Find holders" in (await console.get("/recall")).text


def test_the_launcher_tells_the_console_where_each_service_answers(tmp_path: Path) -> None:
    stack = Stack(tmp_path, 9092)
    env = {"UNITRAIL_ORDER_HTTP_PORT": "9103", "UNITRAIL_PIM_URL": "http://pim.internal:80"}
    stack.services = [
        ServiceProcess(name, env, index) for name in ("pim", "order") for index in (0, 1)
    ]
    told = stack.console_env(env)
    assert told["UNITRAIL_ORDER_URL"] == "http://127.0.0.1:9103", "its first process"
    assert told["UNITRAIL_PIM_URL"] == "http://pim.internal:80", "an address set is kept"
