"""Settings of the warehouse_adapter service (`UNITRAIL_WAREHOUSE_ADAPTER_*`, plus the shared ones)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.runtime.config import ServiceSettings


class WarehouseAdapterSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="UNITRAIL_WAREHOUSE_ADAPTER_", extra="ignore", frozen=True
    )
    service_name = "warehouse_adapter"
    http_port: int = 8005
