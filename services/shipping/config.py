"""Settings of the shipping service (`UNITRAIL_SHIPPING_*`, plus the shared ones)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.runtime.config import ServiceSettings


class ShippingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="UNITRAIL_SHIPPING_", extra="ignore", frozen=True)
    service_name = "shipping"
    http_port: int = 8006
