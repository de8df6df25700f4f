"""The web console: server-rendered pages over the services' HTTP APIs, for operators and
customer service (`python -m infra.console`, started by `scripts/run` on port 8000).

It owns no data and no events: every page is read from the services' public HTTP APIs with a
token (the console's own, or the one a signed-in person's proxy forwards), so it is an operator's
tool beside the CLI, not a service (docs/architecture.md, "The web console").

Settings (environment): `UNITRAIL_CONSOLE_HTTP_HOST` / `UNITRAIL_CONSOLE_HTTP_PORT` (127.0.0.1 /
8000); `UNITRAIL_<SERVICE>_URL` for where each service answers (its port on 127.0.0.1 by
default); `UNITRAIL_CONSOLE_TOKEN_FILE`, a file with the console's bearer token (written by
`scripts/run`; read again at every request, so an identity provider's agent may refresh it), else
`$UNITRAIL_TOKEN`, else a token signed with the local key; `UNITRAIL_CONSOLE_STUCK_AFTER_SECONDS`
for the orders page's stuck threshold (the order service's own setting by default).
"""

from __future__ import annotations

from collections.abc import Mapping

from infra.ports import CONSOLE_PORT
from services.runtime.auth import Role

CONSOLE_ROLES = (Role.CUSTOMER_SERVICE, Role.ANALYST, Role.OPERATOR)
"""What the console's own token may do: read orders and release holds, read stock, recalls and
returns, see and redrive dead letters. Not `admin`, not `personal-data` beyond what the order
service shows its readers."""


def console_address(env: Mapping[str, str]) -> tuple[str, int]:
    """The host and port the console listens on."""
    host = env.get("UNITRAIL_CONSOLE_HTTP_HOST", "127.0.0.1")
    return host, int(env.get("UNITRAIL_CONSOLE_HTTP_PORT", CONSOLE_PORT))


def console_url(env: Mapping[str, str]) -> str:
    host, port = console_address(env)
    return f"http://{host}:{port}"
