"""The warehouse_adapter service process: `python -m services.warehouse_adapter.main`."""

from __future__ import annotations

from fastapi import FastAPI

from services.runtime.service import ServiceDefinition, build_http_app, serve
from services.warehouse_adapter import api, handlers, translators
from services.warehouse_adapter.application import WarehouseAdapterApplication
from services.warehouse_adapter.config import WarehouseAdapterSettings


def build_app(settings: WarehouseAdapterSettings | None = None) -> FastAPI:
    return build_http_app(
        ServiceDefinition(
            settings=settings or WarehouseAdapterSettings(),
            application=WarehouseAdapterApplication,
            translate=translators.to_contract,
            register_handlers=handlers.register_handlers,
            routers=[api.router],
            description=WarehouseAdapterApplication.__doc__ or "",
        )
    )


if __name__ == "__main__":
    serve(build_app())
