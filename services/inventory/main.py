"""The inventory service process: `python -m services.inventory.main`."""

from __future__ import annotations

from fastapi import FastAPI

from contracts.topics import INVENTORY_MOVEMENTS
from services.inventory import api, handlers, translators
from services.inventory.application import InventoryApplication
from services.inventory.config import InventorySettings
from services.runtime.relay import Feed
from services.runtime.service import ServiceDefinition, build_http_app, serve


def build_app(settings: InventorySettings | None = None) -> FastAPI:
    settings = settings or InventorySettings()
    channels = settings.channels()
    return build_http_app(
        ServiceDefinition(
            settings=settings,
            application=lambda location: InventoryApplication(location, channels),
            description=InventoryApplication.__doc__ or "",
            translate=translators.to_contract,
            feeds=[Feed(INVENTORY_MOVEMENTS, translators.to_movement)],
            register_handlers=handlers.register_handlers,
            routers=api.routers,
        )
    )


if __name__ == "__main__":
    serve(build_app())
