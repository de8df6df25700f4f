"""Settings of the shipping service (`UNITRAIL_SHIPPING_*`, plus the shared ones)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.runtime.config import ServiceSettings
from services.shipping.domain import ShippingPolicy


class ShippingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="UNITRAIL_SHIPPING_", extra="ignore", frozen=True)
    service_name = "shipping"
    http_port: int = 8006
    origin_country: str = Field(default="US", description="Where the warehouses ship from.")
    location_origins: dict[str, str] = Field(
        default_factory=dict,
        description='Locations that ship from another country, e.g. {"WH-EU": "DE"} (JSON).',
    )
    delivery_promise_days: int = Field(default=5, ge=1, description="Promised days in transit.")
    insure_over: Decimal = Field(
        default=Decimal("200"), ge=0, description="Parcels worth more than this are insured."
    )
    volumetric_divisor: int = Field(
        default=5000,
        ge=0,
        description="Cubic centimetres per kilogram: a parcel is charged by its volume divided by "
        "this when that is more than its weight; 0 charges by weight alone.",
    )

    def policy(self) -> ShippingPolicy:
        return ShippingPolicy(
            origin_country=self.origin_country,
            location_origins=tuple(sorted(self.location_origins.items())),
            delivery_promise_days=self.delivery_promise_days,
            insure_over=self.insure_over,
            volumetric_divisor=self.volumetric_divisor,
        )
