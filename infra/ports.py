"""The HTTP port of each service when none is set (`UNITRAIL_<SERVICE>_HTTP_PORT`): the launcher
starts them there and the CLI looks for them there."""

from __future__ import annotations

DEFAULT_PORTS = {
    "pim": 8001,
    "inventory": 8002,
    "order": 8003,
    "returns": 8004,
    "warehouse_adapter": 8005,
    "shipping": 8006,
    "traceability": 8007,
}

CONSOLE_PORT = 8000
"""The web console's HTTP port when none is set (`UNITRAIL_CONSOLE_HTTP_PORT`)."""
