"""The order service process: `python -m services.order.main`."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from contracts.topics import CHANNEL_FEEDBACK
from services.order import api, handlers, translators
from services.order.application import OrderApplication
from services.order.config import OrderSettings
from services.order.metrics import order_figures
from services.runtime.relay import Feed
from services.runtime.service import Recurring, ServiceDefinition, build_http_app, serve


def build_app(settings: OrderSettings | None = None) -> FastAPI:
    settings = settings or OrderSettings()
    policy, markets = settings.policy(), settings.markets()
    return build_http_app(
        ServiceDefinition(
            settings=settings,
            application=lambda location: OrderApplication(location, policy, markets),
            description=OrderApplication.__doc__ or "",
            translate=translators.to_contract,
            feeds=[Feed(CHANNEL_FEEDBACK, translators.to_feedback, translators.feedback_key)],
            register_handlers=handlers.register_handlers,
            routers=[api.router, api.customers],
            figures=lambda orders: order_figures(
                orders, timedelta(seconds=settings.stuck_after_seconds)
            ),
            recurring=[
                Recurring(
                    timedelta(minutes=1),
                    OrderApplication.release_orders_awaiting_registered_skus,
                )
            ],
        )
    )


if __name__ == "__main__":
    serve(build_app())
