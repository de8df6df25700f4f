"""Settings of the inventory service (`UNITRAIL_INVENTORY_*`, plus the shared ones)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from contracts.topics import events_topic
from services.inventory.domain import SalesChannels
from services.runtime.config import (
    FETCH_WAIT_ON_THE_ORDER_PATH_MS,
    IDLE_FETCH_WAIT_ON_THE_ORDER_PATH_MS,
    ServiceSettings,
    busy_fetch_wait,
    idle_fetch_wait,
)


class InventorySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="UNITRAIL_INVENTORY_", extra="ignore", frozen=True)
    service_name = "inventory"
    http_port: int = 8002
    kafka_fetch_max_wait_ms: int = busy_fetch_wait(FETCH_WAIT_ON_THE_ORDER_PATH_MS)
    kafka_idle_fetch_max_wait_ms: int = idle_fetch_wait(IDLE_FETCH_WAIT_ON_THE_ORDER_PATH_MS)
    topics_on_the_order_path = (events_topic("order").name,)
    sales_channels: dict[str, int] = Field(
        default_factory=lambda: {"webshop": 0},
        description="Channels available-to-sell is published to, each with its safety buffer "
        'in units (JSON, e.g. {"webshop": 0, "amazon-us": 2}).',
    )

    def channels(self) -> SalesChannels:
        return SalesChannels.of(self.sales_channels)
