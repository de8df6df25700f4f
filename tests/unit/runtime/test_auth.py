"""Bearer tokens at the edge of every service: who is let in, as whom, and what the OpenAPI
document says of it. Real keys and real signatures; a real JWKS endpoint on loopback."""

from __future__ import annotations

import importlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, FastAPI

from infra import cli
from infra.tokens import LocalIssuer
from services.runtime.auth import (
    Caller,
    Role,
    TokenVerifier,
    VerifierSettings,
    allow,
    unguarded_routes,
)
from services.runtime.http_errors import install_error_handlers

SERVICES = ("pim", "inventory", "order", "returns", "shipping", "warehouse_adapter", "traceability")


@pytest.fixture
def issuer(tmp_path: Path) -> LocalIssuer:
    return LocalIssuer(tmp_path / "auth").ensure()


def guarded_app(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI()
    app.state.verifier = verifier
    install_error_handlers(app)

    @app.post("/holds")
    async def hold(caller: Annotated[Caller, allow(Role.CUSTOMER_SERVICE)]) -> dict[str, str]:
        return {"actor": caller.actor("Ms Customer")}

    @app.get("/orders/by-channel/{channel}")
    async def orders(
        channel: str, caller: Annotated[Caller, allow(Role.CHANNEL, Role.ANALYST)]
    ) -> dict[str, str]:
        caller.may_act_for_channel(channel)
        return {"actor": caller.actor()}

    return app


async def call(app: FastAPI, method: str, path: str, token: str | None) -> httpx.Response:
    headers = {} if token is None else {"authorization": f"Bearer {token}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        return await client.request(method, path, headers=headers)


def local_verifier(issuer: LocalIssuer) -> TokenVerifier:
    return TokenVerifier(VerifierSettings(public_key_file=issuer.public_key_file))


async def test_the_actor_is_the_token_s_subject_in_the_role_it_acts_in(issuer: LocalIssuer) -> None:
    app = guarded_app(local_verifier(issuer))

    answer = await call(app, "POST", "/holds", issuer.issue(Role.CUSTOMER_SERVICE, "ana"))

    assert answer.status_code == 200
    assert answer.json() == {"actor": "ana (customer-service) on behalf of Ms Customer"}
    admin = await call(app, "POST", "/holds", issuer.issue(Role.ADMIN, "root"))
    assert admin.json() == {"actor": "root (admin) on behalf of Ms Customer"}


@pytest.mark.parametrize(
    ("token_of", "why"),
    [
        (lambda issuer: None, "this needs a bearer token"),
        (lambda issuer: "not-a-jwt", "the token is not valid"),
        (
            lambda issuer: issuer.issue(Role.ADMIN, "late", ttl_seconds=-120),
            "the token has expired",
        ),
        (
            lambda issuer: (
                LocalIssuer(issuer.directory.parent / "other").ensure().issue(Role.ADMIN, "forger")
            ),
            "Signature verification failed",
        ),
    ],
    ids=["no-token", "garbage", "expired", "another-key"],
)
async def test_no_token_or_a_bad_one_is_a_401_with_a_challenge(
    issuer: LocalIssuer, token_of: Any, why: str
) -> None:
    app = guarded_app(local_verifier(issuer))

    answer = await call(app, "POST", "/holds", token_of(issuer))

    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    error = answer.json()["error"]
    assert error["type"] == "unauthenticated"
    assert why in error["message"]


async def test_a_token_of_another_issuer_or_audience_is_a_401(issuer: LocalIssuer) -> None:
    key = issuer.private_key_file.read_bytes()
    now = int(time.time())
    claims = {"sub": "x", "roles": ["admin"], "iat": now, "exp": now + 60}
    wrong_issuer = jwt.encode(claims | {"iss": "elsewhere", "aud": "unitrail"}, key, "ES256")
    wrong_audience = jwt.encode(claims | {"iss": "unitrail-local", "aud": "other"}, key, "ES256")
    unsigned = jwt.encode(claims | {"iss": "unitrail-local", "aud": "unitrail"}, "", "none")
    app = guarded_app(local_verifier(issuer))

    for token in (wrong_issuer, wrong_audience, unsigned):
        answer = await call(app, "POST", "/holds", token)
        assert answer.status_code == 401, token
        assert 'error="invalid_token"' in answer.headers["www-authenticate"]


async def test_a_valid_token_without_an_admitted_role_is_a_403_naming_them(
    issuer: LocalIssuer,
) -> None:
    app = guarded_app(local_verifier(issuer))

    answer = await call(app, "POST", "/holds", issuer.issue(Role.ANALYST, "ana"))

    assert answer.status_code == 403
    error = answer.json()["error"]
    assert error["type"] == "forbidden"
    assert error["message"] == (
        "this needs one of the roles customer-service, admin; the token has analyst"
    )


async def test_a_channel_token_acts_only_for_its_own_channel(issuer: LocalIssuer) -> None:
    app = guarded_app(local_verifier(issuer))
    webshop = issuer.issue(Role.CHANNEL, "webshop-connector", channel="webshop")

    own = await call(app, "GET", "/orders/by-channel/webshop", webshop)
    other = await call(app, "GET", "/orders/by-channel/amazon-us", webshop)
    analyst = await call(app, "GET", "/orders/by-channel/amazon-us", issuer.issue("analyst", "a"))

    assert own.json() == {"actor": "webshop-connector (channel)"}
    assert other.status_code == 403
    assert other.json()["error"]["message"] == (
        "a channel token for webshop cannot act on amazon-us orders"
    )
    assert analyst.status_code == 200


class Jwks(BaseHTTPRequestHandler):
    document: bytes = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(self.document)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def identity_provider() -> Iterator[tuple[str, Any]]:
    """An RS256 key published as a JWKS on loopback, as an identity provider does."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    Jwks.document = json.dumps({"keys": [public | {"kid": "idp-1", "use": "sig"}]}).encode()
    server = HTTPServer(("127.0.0.1", 0), Jwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/certs", key
    server.shutdown()
    thread.join()


async def test_an_identity_provider_s_tokens_verify_by_its_jwks_and_its_roles_claim(
    identity_provider: tuple[str, Any],
) -> None:
    url, key = identity_provider
    issuer = "https://login.example.com/realms/shop"
    verifier = TokenVerifier(
        VerifierSettings(
            issuer=issuer, audience="unitrail", jwks_url=url, roles_claim="realm_access.roles"
        )
    )
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": "unitrail",
        "sub": "carla@example.com",
        "exp": now + 60,
        "realm_access": {"roles": ["offline_access", "customer-service"]},
    }
    token = jwt.encode(claims, key, "RS256", headers={"kid": "idp-1"})
    app = guarded_app(verifier)

    answer = await call(app, "POST", "/holds", token)

    assert answer.status_code == 200, answer.text
    assert answer.json()["actor"].startswith("carla@example.com (customer-service)")
    unknown_key = jwt.encode(claims, key, "RS256", headers={"kid": "rotated-away"})
    assert (await call(app, "POST", "/holds", unknown_key)).status_code == 401


def test_a_service_without_a_way_to_verify_tokens_does_not_start() -> None:
    with pytest.raises(RuntimeError, match="UNITRAIL_AUTH_JWKS_URL"):
        TokenVerifier(VerifierSettings())


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_but_health_declares_the_bearer_scheme_and_its_roles(service: str) -> None:
    app = importlib.import_module(f"services.{service}.main").build_app()
    document = app.openapi()

    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert unguarded_routes(app) == []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path == "/health":
                assert "security" not in operation
                continue
            ((scheme, roles),) = operation["security"][0].items()
            assert scheme == "bearer", (path, method)
            assert roles[-1] == "admin"
            assert set(roles) <= {str(role) for role in Role}
            assert {"401", "403"} <= set(operation["responses"]), (path, method)


CHANNEL_READS = {
    ("get", "/products/{sku}"),
    ("get", "/products/{sku}/compatible"),
    ("get", "/products/{sku}/documents"),
    ("get", "/products/{sku}/documents/{kind}"),
    ("get", "/parents/{code}"),
    ("get", "/catalogue/{market}"),
    ("get", "/stock/{sku}"),
    ("get", "/stock/bundles/{sku}"),
    ("get", "/orders/eligibility/{sku}"),
    ("get", "/orders/{order_id}"),
    ("get", "/orders/by-channel/{channel}/{channel_order_id}"),
}
"""What a sales channel's token may read (README, "Roles"): the catalogue, what it may sell, its
orders (each route checks the order is its channel's); and it hands over its orders (intake)."""


@pytest.mark.parametrize("service", SERVICES)
def test_an_analyst_only_reads_and_a_channel_reaches_only_its_share(service: str) -> None:
    document = importlib.import_module(f"services.{service}.main").build_app().openapi()

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path == "/health":
                continue
            ((_, roles),) = operation["security"][0].items()
            if method != "get":
                assert "analyst" not in roles, (method, path)
            if "channel" in roles:
                assert (method, path) in CHANNEL_READS | {("post", "/intake/{topic}")}, (
                    method,
                    path,
                )


def test_a_route_that_declares_no_roles_is_found_on_the_app_or_an_included_router() -> None:
    app = FastAPI()
    router = APIRouter(prefix="/stock")

    @app.get("/open-by-mistake")
    async def leak() -> None:
        return None

    @router.get("/{sku}/also-open", dependencies=[])
    async def another_leak(sku: str) -> None:
        return None

    @router.post("/{sku}/hidden", include_in_schema=False)
    async def hidden_leak(sku: str) -> None:
        return None

    @router.get("/{sku}", dependencies=[allow(Role.ANALYST)])
    async def guarded(sku: str) -> None:
        return None

    @app.get("/metrics", include_in_schema=False)
    async def open_on_purpose() -> None:
        return None

    guarded_by_inclusion = APIRouter(prefix="/replays")

    @guarded_by_inclusion.post("")
    async def replay() -> None:
        return None

    app.include_router(router)
    app.include_router(guarded_by_inclusion, dependencies=[allow(Role.OPERATOR)])

    assert unguarded_routes(app) == [
        "GET /open-by-mistake",
        "GET /stock/{sku}/also-open",
        "POST /stock/{sku}/hidden",
    ]


def test_unitrail_token_issues_what_the_services_accept_and_refuses_a_channel_token_without_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UNITRAIL_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("UNITRAIL_TOKEN", raising=False)
    with pytest.raises(SystemExit, match="no local key"):
        cli.main(["token", "--role", "analyst", "--subject", "ana"])
    issuer = LocalIssuer.of_data_dir(tmp_path).ensure()

    cli.main(["token", "--role", "channel", "--subject", "shop", "--channel", "webshop"])
    token = capsys.readouterr().out.strip()
    with pytest.raises(SystemExit, match="needs --channel"):
        cli.main(["token", "--role", "channel", "--subject", "shop"])

    claims = jwt.decode(
        token, issuer.public_key_file.read_bytes(), algorithms=["ES256"], audience="unitrail"
    )
    assert (claims["sub"], claims["roles"], claims["channel"]) == ("shop", ["channel"], "webshop")
    assert 3590 <= claims["exp"] - claims["iat"] <= 3600
    caller = local_verifier(issuer).caller(claims, [Role.CHANNEL])
    assert caller.actor() == "shop (channel)"


async def test_an_identity_provider_that_does_not_answer_is_a_503_not_the_caller_s_fault(
    issuer: LocalIssuer,
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    verifier = TokenVerifier(VerifierSettings(jwks_url=f"http://127.0.0.1:{port}/certs"))
    token = issuer.issue(Role.CUSTOMER_SERVICE, "ana")

    answer = await call(guarded_app(verifier), "POST", "/holds", token)

    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert answer.json()["error"]["type"] == "unavailable"
