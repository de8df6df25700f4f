"""The warehouse_adapter service process: `python -m services.warehouse_adapter.main`."""

from __future__ import annotations

import functools

from fastapi import FastAPI

from contracts.topics import THREEPL_FULFILMENT_REQUESTS
from services.runtime.relay import Feed
from services.runtime.service import ServiceDefinition, build_http_app, serve
from services.warehouse_adapter import api, handlers, translators
from services.warehouse_adapter.application import WarehouseAdapterApplication
from services.warehouse_adapter.config import WarehouseAdapterSettings


def build_app(settings: WarehouseAdapterSettings | None = None) -> FastAPI:
    settings = settings or WarehouseAdapterSettings()
    partner_feed = translators.PartnerFeed(settings.customer_keys())
    return build_http_app(
        ServiceDefinition(
            settings=settings,
            application=WarehouseAdapterApplication,
            translate=translators.to_contract,
            feeds=[
                Feed(THREEPL_FULFILMENT_REQUESTS, partner_feed),
            ],
            register_handlers=functools.partial(
                handlers.register_handlers, forget_customer=partner_feed.forget
            ),
            routers=[api.router],
            description=WarehouseAdapterApplication.__doc__ or "",
        )
    )


if __name__ == "__main__":
    serve(build_app())
