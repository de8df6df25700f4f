"""The pim service process: `python -m services.pim.main`."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from services.pim import api, translators
from services.pim.application import PimApplication
from services.pim.config import PimSettings
from services.runtime.service import Recurring, ServiceDefinition, build_http_app, serve


def build_app(settings: PimSettings | None = None) -> FastAPI:
    settings = settings or PimSettings()
    rules = settings.market_rules()
    return build_http_app(
        ServiceDefinition(
            settings=settings,
            application=lambda location: PimApplication(location, rules),
            translate=translators.to_contract,
            routers=api.routers,
            description=PimApplication.__doc__ or "",
            # Certificates start and expire with the calendar: catch up on what changed meanwhile,
            # then follow the calendar.
            on_start=PimApplication.refresh_catalogue,
            recurring=[
                Recurring(
                    timedelta(seconds=settings.catalogue_refresh_seconds),
                    PimApplication.refresh_catalogue,
                )
            ],
        )
    )


if __name__ == "__main__":
    serve(build_app())
