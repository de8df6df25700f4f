"""Settings of the inventory service (`UNITRAIL_INVENTORY_*`, plus the shared ones)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.runtime.config import ServiceSettings


class InventorySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="UNITRAIL_INVENTORY_", extra="ignore", frozen=True)
    service_name = "inventory"
    http_port: int = 8002
