"""The shipping service process: `python -m services.shipping.main`."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from services.runtime.service import Recurring, ServiceDefinition, build_http_app, serve
from services.shipping import api, handlers, translators
from services.shipping.application import ShippingApplication
from services.shipping.config import ShippingSettings


def build_app(settings: ShippingSettings | None = None) -> FastAPI:
    settings = settings or ShippingSettings()
    policy = settings.policy()
    rate_tables = [translators.rate_table(document) for document in settings.rate_table_documents()]
    return build_http_app(
        ServiceDefinition(
            settings=settings,
            application=lambda location: ShippingApplication(location, policy, None, rate_tables),
            translate=translators.to_contract,
            register_handlers=handlers.register_handlers,
            routers=[api.router, api.rate_tables],
            description=ShippingApplication.__doc__ or "",
            on_start=ShippingApplication.publish_rate_card,
            # Just after midnight UTC, a rate table whose effective date has come is published.
            recurring=[Recurring(timedelta(days=1), ShippingApplication.publish_rate_card)],
        )
    )


if __name__ == "__main__":
    serve(build_app())
