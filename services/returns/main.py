"""The returns service process: `python -m services.returns.main`."""

from __future__ import annotations

from fastapi import FastAPI

from services.returns import api, handlers, translators
from services.returns.application import ReturnsApplication
from services.returns.config import ReturnsSettings
from services.runtime.service import ServiceDefinition, build_http_app, serve


def build_app(settings: ReturnsSettings | None = None) -> FastAPI:
    settings = settings or ReturnsSettings()
    policy, inspection = settings.return_policy(), settings.inspection_policy()
    return build_http_app(
        ServiceDefinition(
            settings=settings,
            application=lambda location: ReturnsApplication(location, policy, inspection),
            translate=translators.to_contract,
            register_handlers=handlers.register_handlers,
            routers=[api.router],
            description=ReturnsApplication.__doc__ or "",
        )
    )


if __name__ == "__main__":
    serve(build_app())
