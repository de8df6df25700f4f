"""How the commands call the services' HTTP APIs: where each service is, a call with a token
of the role it needs, and a refusal's message."""

from __future__ import annotations

import json
import os
import urllib.parse
from typing import Any

import httpx

from infra.ports import DEFAULT_PORTS
from infra.tokens import client_token, user
from services.runtime.auth import Role


def error_message(body: bytes, fallback: str) -> str:
    """The message of a service's error answer (`{"error": {"message": ...}}`)."""
    try:
        answer = json.loads(body or b"{}")
    except ValueError:
        return fallback
    error = answer.get("error") if isinstance(answer, dict) else None
    return str(error.get("message", fallback)) if isinstance(error, dict) else fallback


def fetch(
    base_url: str,
    path: str,
    *,
    service: str = "order",
    body: dict[str, Any] | None = None,
    timeout: float = 10,
    role: Role = Role.ANALYST,
) -> dict[str, Any]:
    """GET `path` of a service's HTTP API (POST `body` when given) with a token of `role`; the
    JSON answer."""
    try:
        reply = httpx.request(
            "GET" if body is None else "POST",
            f"{base_url.rstrip('/')}{path}",
            json=body,
            headers={"authorization": f"Bearer {client_token(role, user())}"},
            timeout=timeout,
        )
    except httpx.RequestError as error:
        raise SystemExit(
            f"the {service} service at {base_url} does not answer: {error or type(error).__name__}"
        ) from None
    if reply.is_error:
        raise SystemExit(
            f"{reply.status_code}: {error_message(reply.content, reply.reason_phrase)}"
        )
    answer: dict[str, Any] = reply.json()
    return answer


def query_string(**parameters: str | None) -> str:
    chosen = {name: value for name, value in parameters.items() if value is not None}
    return f"?{urllib.parse.urlencode(chosen)}" if chosen else ""


def service_url(service: str, order_url: str, traceability_url: str) -> str:
    """Where a service's HTTP API is: `$UNITRAIL_<SERVICE>_URL`, or its port on this machine."""
    known = {"order": order_url, "traceability": traceability_url}
    default = f"http://127.0.0.1:{DEFAULT_PORTS[service]}"
    return known.get(service) or os.environ.get(f"UNITRAIL_{service.upper()}_URL", default)
