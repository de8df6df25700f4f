"""How the console reaches the services: their HTTP APIs, with a bearer token, over one pooled
async client; nothing else (no database, no topics)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import jwt

from contracts.topics import SERVICES
from infra.cli.calls import error_message, service_url
from infra.console import CONSOLE_ROLES
from infra.tokens import DEFAULT_TTL_SECONDS, TOKEN_VARIABLE, LocalIssuer, data_dir

HEALTH_TIMEOUT_SECONDS = 5.0
CALL_TIMEOUT_SECONDS = 10.0
REDRIVE_TIMEOUT_SECONDS = 120.0


class ServiceAnswer(Exception):
    """A service refused a call (its status and message), or did not answer (status 503)."""

    def __init__(self, service: str, status: int, message: str) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service
        self.status = status
        self.message = message


class ConsoleToken:
    """The console's own bearer token: the file `scripts/run` writes (read again at every call,
    so whoever renews it need not restart the console), else `$UNITRAIL_TOKEN`, else one signed
    with the local key, renewed before it expires."""

    def __init__(self, env: Mapping[str, str]) -> None:
        file = env.get("UNITRAIL_CONSOLE_TOKEN_FILE")
        self._file = Path(file) if file else None
        self._given = env.get(TOKEN_VARIABLE)
        self._signed: tuple[str, float] | None = None

    def current(self) -> str:
        if self._file is not None:
            return self._file.read_text(encoding="utf-8").strip()
        if self._given:
            return self._given
        if self._signed is None or time.monotonic() > self._signed[1]:
            issuer = LocalIssuer.of_data_dir(data_dir())
            if not issuer.exists:
                raise ServiceAnswer(
                    "console",
                    503,
                    "no token: set UNITRAIL_CONSOLE_TOKEN_FILE or UNITRAIL_TOKEN, or run the "
                    "console where `scripts/run` keeps its local key",
                )
            first, *more = CONSOLE_ROLES
            token = issuer.issue(first, "unitrail-console", more_roles=more)
            self._signed = (token, time.monotonic() + DEFAULT_TTL_SECONDS / 2)
        return self._signed[0]


def roles_of(token: str) -> frozenset[str]:
    """The roles a token claims, to show only the buttons it may use (the services verify it;
    this reads it unverified, for the page alone)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return frozenset()
    roles = claims.get("roles")
    names = roles.split() if isinstance(roles, str) else roles if isinstance(roles, list) else []
    return frozenset(str(name) for name in names)


class Apis:
    """Every service's HTTP API, as the console calls it."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        order = env.get("UNITRAIL_ORDER_URL", "http://127.0.0.1:8003")
        traceability = env.get("UNITRAIL_TRACEABILITY_URL", "http://127.0.0.1:8007")
        self.urls = {service: service_url(service, order, traceability) for service in SERVICES}
        self.token = ConsoleToken(env)
        self.client = httpx.AsyncClient(timeout=CALL_TIMEOUT_SECONDS)

    async def close(self) -> None:
        await self.client.aclose()

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        token: str,
        params: Mapping[str, str] | None = None,
        body: dict[str, Any] | None = None,
        wait_seconds: float = CALL_TIMEOUT_SECONDS,
    ) -> Any:
        """The JSON answer of a call, or `ServiceAnswer` with the service's own message."""
        try:
            reply = await self.client.request(
                method,
                f"{self.urls[service]}{path}",
                params=params,
                json=body,
                headers={"authorization": f"Bearer {token}"},
                timeout=wait_seconds,
            )
        except httpx.HTTPError as error:
            raise ServiceAnswer(
                service, 503, f"the {service} service does not answer ({error!r})"
            ) from None
        if reply.status_code >= 400:
            message = error_message(reply.content, reply.reason_phrase)
            raise ServiceAnswer(service, reply.status_code, message)
        return reply.json()

    async def health(self, service: str) -> tuple[str, dict[str, Any]]:
        """A service's open `/health`: healthy, unhealthy (with what each part says) or
        unreachable (with why), as `unitrail status` reads it."""
        try:
            reply = await self.client.get(
                f"{self.urls[service]}/health", timeout=HEALTH_TIMEOUT_SECONDS
            )
        except httpx.HTTPError as error:
            return "unreachable", {"error": repr(error)}
        try:
            answer = reply.json()
        except ValueError:
            answer = {}
        answer = answer if isinstance(answer, dict) else {}
        return ("healthy" if reply.status_code == 200 else "unhealthy"), answer

    async def every_health(self) -> dict[str, tuple[str, dict[str, Any]]]:
        answers = await asyncio.gather(*(self.health(service) for service in SERVICES))
        return dict(zip(SERVICES, answers, strict=True))
