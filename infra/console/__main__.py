"""`python -m infra.console`: the web console on its port until SIGINT or SIGTERM."""

from __future__ import annotations

import os

import uvicorn

from infra.console import console_address
from infra.console.app import build_console
from services.runtime.logging import configure_logging

if __name__ == "__main__":
    configure_logging("console")
    host, port = console_address(os.environ)
    uvicorn.run(build_console(), host=host, port=port, log_config=None)
