"""Settings of the returns service (`UNITRAIL_RETURNS_*`, plus the shared ones)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.returns.domain import (
    DEFAULT_CATEGORY,
    DEFAULT_CHECKS,
    DEFAULT_RETURN_WINDOW_DAYS,
    InspectionPolicy,
    ReturnPolicy,
)
from services.runtime.config import ServiceSettings


class ReturnsSettings(ServiceSettings):
    """The return windows and inspection checklists, plus the shared settings."""

    model_config = SettingsConfigDict(env_prefix="UNITRAIL_RETURNS_", extra="ignore", frozen=True)
    service_name = "returns"
    http_port: int = 8004
    return_window_days: int = Field(
        default=DEFAULT_RETURN_WINDOW_DAYS,
        ge=0,
        description="Days after delivery within which any unit may be returned.",
    )
    channel_return_window_days: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict,
        description='Channels with a window of their own, e.g. {"marketplace": 14} (JSON).',
    )
    inspection_checklists: dict[str, list[str]] = Field(
        default_factory=lambda: {DEFAULT_CATEGORY: list(DEFAULT_CHECKS)},
        description="The checks an inspector answers, per product category (JSON, category → "
        'checks); "default" serves every category without its own.',
    )

    def return_policy(self) -> ReturnPolicy:
        return ReturnPolicy(
            return_window_days=self.return_window_days,
            channel_return_window_days=tuple(sorted(self.channel_return_window_days.items())),
        )

    def inspection_policy(self) -> InspectionPolicy:
        checklists = {DEFAULT_CATEGORY: list(DEFAULT_CHECKS)} | self.inspection_checklists
        return InspectionPolicy(
            checklists=tuple(
                (category, tuple(checks)) for category, checks in sorted(checklists.items())
            )
        )
