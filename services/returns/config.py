"""Settings of the returns service (`UNITRAIL_RETURNS_*`, plus the shared ones)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.runtime.config import ServiceSettings


class ReturnsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="UNITRAIL_RETURNS_", extra="ignore", frozen=True)
    service_name = "returns"
    http_port: int = 8004
