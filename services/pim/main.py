"""The pim service process: `python -m services.pim.main`."""

from __future__ import annotations

from fastapi import FastAPI

from services.pim import api, translators
from services.pim.application import PimApplication
from services.pim.config import PimSettings
from services.runtime.service import ServiceDefinition, build_http_app, serve


def build_app(settings: PimSettings | None = None) -> FastAPI:
    return build_http_app(
        ServiceDefinition(
            settings=settings or PimSettings(),
            application=PimApplication,
            translate=translators.to_contract,
            routers=[api.router],
            description=PimApplication.__doc__ or "",
        )
    )


if __name__ == "__main__":
    serve(build_app())
