"""Settings of the pim service (`UNITRAIL_PIM_*`, plus the shared ones)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.runtime.config import ServiceSettings


class PimSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="UNITRAIL_PIM_", extra="ignore", frozen=True)
    service_name = "pim"
    http_port: int = 8001
