"""Settings of the order service (`UNITRAIL_ORDER_*`, plus the shared ones)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from contracts.topics import CHANNEL_ORDERS, events_topic
from services.order.domain import DEFAULT_MARKET_COUNTRIES, FulfilmentPolicy, MarketMap
from services.runtime.config import (
    FETCH_WAIT_ON_THE_ORDER_PATH_MS,
    IDLE_FETCH_WAIT_ON_THE_ORDER_PATH_MS,
    ServiceSettings,
    busy_fetch_wait,
    idle_fetch_wait,
)


class OrderSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="UNITRAIL_ORDER_", extra="ignore", frozen=True)
    service_name = "order"
    http_port: int = 8003
    kafka_fetch_max_wait_ms: int = busy_fetch_wait(FETCH_WAIT_ON_THE_ORDER_PATH_MS)
    kafka_idle_fetch_max_wait_ms: int = idle_fetch_wait(IDLE_FETCH_WAIT_ON_THE_ORDER_PATH_MS)
    topics_on_the_order_path = (CHANNEL_ORDERS.name, events_topic("inventory").name)
    fraud_hold_score: float = Field(
        default=80.0,
        ge=0,
        le=100,
        description="A paid order with a channel fraud score at or above this is put on hold.",
    )
    signature_over: Decimal = Field(
        default=Decimal("500"),
        ge=0,
        description="Orders worth more than this, in their currency, need a signature.",
    )
    market_countries: dict[str, list[str]] = Field(
        default_factory=lambda: {m: list(c) for m, c in DEFAULT_MARKET_COUNTRIES.items()},
        description='The countries of each PIM market, e.g. `{"EU": ["DE", "FR"]}`: a '
        "paid line for a variant not listed in the destination's market is held.",
    )

    stuck_after_seconds: float = Field(
        default=3600,
        gt=0,
        description="An order in one status (not delivered or cancelled) longer than this is "
        "stuck: listed by `GET /orders/stuck` and counted by the `unitrail_orders_stuck` metric.",
    )

    def markets(self) -> MarketMap:
        return MarketMap.of(self.market_countries)

    def policy(self) -> FulfilmentPolicy:
        return FulfilmentPolicy(
            fraud_hold_score=self.fraud_hold_score, signature_over=self.signature_over
        )
