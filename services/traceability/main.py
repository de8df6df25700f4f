"""The traceability service process: `python -m services.traceability.main`."""

from __future__ import annotations

from fastapi import FastAPI

from services.runtime.service import ServiceDefinition, build_http_app, serve
from services.traceability import api, handlers
from services.traceability.application import TraceabilityApplication
from services.traceability.config import TraceabilitySettings
from services.traceability.replay import TraceabilityRebuild


def build_app(settings: TraceabilitySettings | None = None) -> FastAPI:
    settings = settings or TraceabilitySettings()
    return build_http_app(
        ServiceDefinition(
            settings=settings,
            application=lambda location: TraceabilityApplication(
                location, settings.customer_keys()
            ),
            translate=None,  # it publishes nothing: a read model, not a system of record
            register_handlers=handlers.register_handlers,
            routers=[api.router],
            description=TraceabilityApplication.__doc__ or "",
            rebuild=TraceabilityRebuild.of,
            on_start=TraceabilityApplication.drop_rebuild_leftovers,
        )
    )


if __name__ == "__main__":
    serve(build_app())
