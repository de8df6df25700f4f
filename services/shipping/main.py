"""The shipping service process: `python -m services.shipping.main`.

It owns its database and event store and serves its health check; its domain arrives with the
issues that build it, and until then it consumes nothing and publishes nothing.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.runtime.eventstore import ServiceApplication
from services.runtime.service import ServiceDefinition, build_http_app, serve
from services.shipping.config import ShippingSettings


def build_app(settings: ShippingSettings | None = None) -> FastAPI:
    return build_http_app(
        ServiceDefinition(settings=settings or ShippingSettings(), application=ServiceApplication)
    )


if __name__ == "__main__":
    serve(build_app())
