"""Settings of the order service (`UNITRAIL_ORDER_*`, plus the shared ones)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.runtime.config import ServiceSettings


class OrderSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="UNITRAIL_ORDER_", extra="ignore", frozen=True)
    service_name = "order"
    http_port: int = 8003
