"""Settings of the traceability service (`UNITRAIL_TRACEABILITY_*`, plus the shared ones)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.runtime.config import ServiceSettings


class TraceabilitySettings(ServiceSettings):
    """The shared settings, port 8007, and how large a replay's transactions are."""

    model_config = SettingsConfigDict(
        env_prefix="UNITRAIL_TRACEABILITY_", extra="ignore", frozen=True
    )
    service_name = "traceability"
    http_port: int = 8007
    replay_batch_size: int = Field(
        default=500,
        ge=1,
        description="Events projected per transaction when the read models are rebuilt.",
    )
