"""Settings of the pim service (`UNITRAIL_PIM_*`, plus the shared ones)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.pim.domain import DEFAULT_MARKET_CERTIFICATIONS, MarketRules
from services.runtime.config import ServiceSettings


class PimSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="UNITRAIL_PIM_", extra="ignore", frozen=True)
    service_name = "pim"
    http_port: int = 8001
    market_certifications: dict[str, list[str]] = Field(
        default_factory=lambda: {m: list(s) for m, s in DEFAULT_MARKET_CERTIFICATIONS.items()},
        description="The markets served and the certification schemes each requires, e.g. "
        '{"US": ["FCC"], "EU": ["CE"], "UK": ["UKCA"], "CA": ["ISED"]} (JSON).',
    )

    catalogue_refresh_seconds: int = Field(
        default=86_400,
        ge=1,
        description="Re-decide every catalogue entry at each multiple of this period since the "
        "epoch (the default: just after midnight UTC), as certificates start and expire.",
    )

    def market_rules(self) -> MarketRules:
        return MarketRules.of(self.market_certifications)
