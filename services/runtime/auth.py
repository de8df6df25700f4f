"""Who is calling: OAuth2 bearer tokens (JWT) verified once for every service's HTTP API.

Every route declares the roles it admits with `allow(...)` (as a parameter when it needs the caller,
or in `dependencies=[...]` when not); `admin` is admitted everywhere. `/health` and the OpenAPI
documents are open; `build_http_app` refuses to start a service with a route that declares nothing.

- No token, or one that does not verify (signature, issuer, audience, expiry): 401 with
  `WWW-Authenticate: Bearer` (RFC 6750), in the one error shape of `http_errors`.
- A valid token without an admitted role: 403 naming the roles that are.
- The identity provider's keys cannot be fetched: 503 with `Retry-After`, not the caller's fault.
- A `channel` token carries its channel (claim `channel`): it acts only on that channel's orders.

Keys: a real deployment names its identity provider's issuer and JWKS URL
(`UNITRAIL_AUTH_ISSUER`, `UNITRAIL_AUTH_JWKS_URL`); the embedded system verifies with the public
half of the key `scripts/run` creates (`UNITRAIL_AUTH_PUBLIC_KEY_FILE`). RS256 and ES256 only.

The actor written into events is the caller (`Caller.actor`), never a field of the request body;
a request may add a free-text `on_behalf_of` where someone acts for another.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import jwt
import structlog
from fastapi import Depends, FastAPI, Request, Security
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from pydantic import Field
from starlette.exceptions import HTTPException

log = structlog.get_logger(__name__)

ALGORITHMS = ("RS256", "ES256")
LOCAL_ISSUER = "unitrail-local"
DEFAULT_AUDIENCE = "unitrail"
SCHEME_NAME = "bearer"
KEYS_RETRY_AFTER_SECONDS = 5
OPEN_PATHS = frozenset({"/health", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc"})


class Role(enum.StrEnum):
    """What a caller may do; each endpoint admits the least roles it needs (README: Roles)."""

    CHANNEL = "channel"
    """A sales channel's connector: its own channel's orders, its stock available to sell."""
    WAREHOUSE = "warehouse"
    """Warehouse and logistics partners: receipts, counts, dock, inspection, 3PL and carrier
    messages."""
    INVENTORY = "inventory"
    """Stock planning: adjustments, transfers, purchase orders, reorder policies, the catalogue."""
    CUSTOMER_SERVICE = "customer-service"
    """Holds, cancellations, RMAs, refund reviews."""
    ANALYST = "analyst"
    """Read only: trace, recall, audit, movements."""
    OPERATOR = "operator"
    """Replays and dead letters."""
    PERSONAL_DATA = "personal-data"
    """A service that shows or hands on customers' personal data in clear: customers' keys
    (`services.runtime.privacy`)."""
    ADMIN = "admin"
    """Everything."""


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of a request: the token's subject, the role it acts in (the
    first of the route's admitted roles it holds), and its channel for a channel token."""

    subject: str
    role: Role
    roles: frozenset[Role]
    channel: str | None = None

    def actor(self, on_behalf_of: str | None = None) -> str:
        """Who did it, as events record it: `subject (role)`, and for whom when given."""
        actor = f"{self.subject} ({self.role})"
        return f"{actor} on behalf of {on_behalf_of}" if on_behalf_of else actor

    def may_act_for_channel(self, channel: str) -> None:
        """403 unless the caller may act on `channel`'s orders: any role but `channel`, and a
        channel token for its own channel only."""
        if self.role is Role.CHANNEL and self.channel != channel:
            raise HTTPException(
                403,
                f"a channel token for {self.channel or 'no channel'} cannot act on "
                f"{channel} orders",
            )


OnBehalfOf = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=100,
        description="Who the caller acts for, as free text for the record (the actor itself "
        "is the token's subject and role).",
    ),
]


class Unauthenticated(HTTPException):
    """401: no token, or one that does not verify."""

    def __init__(self, message: str, *, invalid: bool) -> None:
        challenge = 'Bearer realm="unitrail"'
        if invalid:
            challenge += f', error="invalid_token", error_description="{_quoted(message)}"'
        super().__init__(401, message, headers={"WWW-Authenticate": challenge})


def _quoted(text: str) -> str:
    return text.replace("\\", "").replace('"', "'")


@dataclass(frozen=True)
class VerifierSettings:
    """Where the keys that sign tokens are, and what a token must say (from `ServiceSettings`)."""

    issuer: str = LOCAL_ISSUER
    audience: str = DEFAULT_AUDIENCE
    jwks_url: str | None = None
    public_key_file: Path | None = None
    roles_claim: str = "roles"
    channel_claim: str = "channel"
    leeway_seconds: float = 30


class TokenVerifier:
    """Verifies bearer tokens against the identity provider's keys (JWKS) or the local key."""

    def __init__(self, settings: VerifierSettings) -> None:
        self.settings = settings
        self._jwks = (
            jwt.PyJWKClient(settings.jwks_url, cache_keys=True, timeout=5)
            if settings.jwks_url
            else None
        )
        self._key: Any = None
        if self._jwks is None:
            if settings.public_key_file is None:
                raise RuntimeError(
                    "no key to verify tokens with: set UNITRAIL_AUTH_JWKS_URL (and "
                    "UNITRAIL_AUTH_ISSUER) for an identity provider, or "
                    "UNITRAIL_AUTH_PUBLIC_KEY_FILE for the local key `scripts/run` creates"
                )
            self._key = settings.public_key_file.read_bytes()

    async def claims(self, token: str) -> dict[str, Any]:
        """The token's claims once its signature, issuer, audience and expiry are verified;
        `Unauthenticated` otherwise."""
        try:
            key = self._key
            if self._jwks is not None:
                # Fetching the key set blocks on the network (cached for minutes): off the loop.
                signing = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
                key = signing.key
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway_seconds,
                options={"require": ["exp", "iss", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired", invalid=True) from None
        except jwt.PyJWKClientConnectionError as error:
            # Not the caller's fault: the same token verifies once the provider answers again.
            log.warning("identity provider keys unavailable", error=str(error))
            raise HTTPException(
                503,
                f"the identity provider's keys cannot be fetched now ({error}); retry in "
                f"{KEYS_RETRY_AFTER_SECONDS} s",
                headers={"Retry-After": str(KEYS_RETRY_AFTER_SECONDS)},
            ) from None
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as error:
            raise Unauthenticated(f"the token is not valid: {error}", invalid=True) from None
        return claims

    def caller(self, claims: dict[str, Any], admitted: Iterable[Role]) -> Caller:
        """The caller the claims describe, acting in the first admitted role it holds; 403 when
        it holds none."""
        held = frozenset(_roles(_claim(claims, self.settings.roles_claim)))
        admitted = [*admitted, Role.ADMIN]
        acting = next((role for role in admitted if role in held), None)
        if acting is None:
            needed = ", ".join(dict.fromkeys(admitted))
            has = ", ".join(sorted(held)) or "none"
            raise HTTPException(403, f"this needs one of the roles {needed}; the token has {has}")
        channel = claims.get(self.settings.channel_claim)
        if acting is Role.CHANNEL and not isinstance(channel, str):
            raise HTTPException(
                403,
                f"a channel token must name its channel (claim `{self.settings.channel_claim}`)",
            )
        return Caller(
            subject=str(claims["sub"]),
            role=acting,
            roles=held,
            channel=channel if isinstance(channel, str) else None,
        )


def _claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by dotted path: `roles`, or Keycloak's `realm_access.roles`."""
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _roles(value: Any) -> Iterable[Role]:
    names = value.split() if isinstance(value, str) else value if isinstance(value, list) else []
    for name in names:
        if name in Role._value2member_map_:
            yield Role(name)


bearer = HTTPBearer(
    auto_error=False,
    scheme_name=SCHEME_NAME,
    bearerFormat="JWT",
    description="An OAuth2 access token (JWT, RS256 or ES256) from the identity provider, or "
    "from `unitrail token --role ROLE --subject NAME` on the embedded system. The roles each "
    "operation admits are listed in its security requirement; `admin` is admitted everywhere.",
)


async def authenticated(
    scopes: SecurityScopes,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The caller of the request, admitted by the route's roles (its security scopes)."""
    if credentials is None:
        raise Unauthenticated(
            "this needs a bearer token (Authorization: Bearer ...)", invalid=False
        )
    verifier: TokenVerifier = request.app.state.verifier
    claims = await verifier.claims(credentials.credentials)
    caller = verifier.caller(claims, (Role(scope) for scope in scopes.scopes))
    structlog.contextvars.bind_contextvars(subject=caller.subject, role=str(caller.role))
    return caller


def allow(*roles: Role) -> Any:
    """The dependency that admits callers holding one of `roles` (or `admin`); its value is
    the `Caller`. Shown in the OpenAPI document as the operation's security requirement."""
    return Security(authenticated, scopes=[str(role) for role in (*roles, Role.ADMIN)])


def unguarded_routes(app: FastAPI) -> list[str]:
    """Operations of `app` that admit anyone although they are not meant to be open: every route
    (on the app or an included router, in the OpenAPI document or hidden from it) whose
    dependencies, its routers' included, never ask for `authenticated`. Included routers are
    resolved lazily, so the routes are read as FastAPI itself reads them for the document."""
    found = []
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        if dependant is None or route.path in OPEN_PATHS or _asks_who(dependant):
            continue  # not an API route (the documents), open on purpose, or guarded
        methods = sorted(set(route.methods or ()) - {"HEAD"})
        found += [f"{method} {route.path}" for method in methods]
    return found


def _asks_who(dependant: Dependant) -> bool:
    return any(sub.call is authenticated or _asks_who(sub) for sub in dependant.dependencies)
