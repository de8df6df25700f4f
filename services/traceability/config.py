"""Settings of the traceability service (`UNITRAIL_TRACEABILITY_*`, plus the shared ones)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.runtime.config import ServiceSettings


class TraceabilitySettings(ServiceSettings):
    """The shared settings and port 8007 (a replay's transaction size is the shared
    `replay_batch_size`: `UNITRAIL_TRACEABILITY_REPLAY_BATCH_SIZE`)."""

    model_config = SettingsConfigDict(
        env_prefix="UNITRAIL_TRACEABILITY_", extra="ignore", frozen=True
    )
    service_name = "traceability"
    http_port: int = 8007
