"""Settings of the shipping service (`UNITRAIL_SHIPPING_*`, plus the shared ones)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import SettingsConfigDict

from contracts.shipping import RateTableDocument
from services.runtime.config import ServiceSettings
from services.shipping.domain import ShippingPolicy

RATE_TABLES = Path(__file__).with_name("rate_tables")
"""The carriers' rates the service ships with: one JSON file per version."""


class ShippingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="UNITRAIL_SHIPPING_", extra="ignore", frozen=True)
    service_name = "shipping"
    http_port: int = 8006
    origin_country: str = Field(default="US", description="Where the warehouses ship from.")
    location_origins: dict[str, str] = Field(
        default_factory=dict,
        description='Locations that ship from another country, e.g. {"WH-EU": "DE"} (JSON).',
    )
    delivery_promise_days: int = Field(
        default=5, ge=1, description="Days in transit of the standard service level."
    )
    express_days: int = Field(default=2, ge=1, description="Days in transit of `express`.")
    next_day_days: int = Field(default=1, ge=1, description="Days in transit of `next-day`.")
    rate_tables: Path = Field(
        default=RATE_TABLES,
        description="A directory of the carriers' rate tables, one JSON file per version "
        "(`RateTableDocument`: version, effective_from, services); recorded at start. More "
        "versions can be uploaded with `POST /rate-tables`.",
    )
    insure_over: Decimal = Field(
        default=Decimal("200"), ge=0, description="Parcels worth more than this are insured."
    )
    volumetric_divisor: int = Field(
        default=5000,
        ge=0,
        description="Cubic centimetres per kilogram: a parcel is charged by its volume divided by "
        "this when that is more than its weight; 0 charges by weight alone.",
    )

    def policy(self) -> ShippingPolicy:
        return ShippingPolicy(
            origin_country=self.origin_country,
            location_origins=tuple(sorted(self.location_origins.items())),
            delivery_promise_days=self.delivery_promise_days,
            express_days=self.express_days,
            next_day_days=self.next_day_days,
            insure_over=self.insure_over,
            volumetric_divisor=self.volumetric_divisor,
        )

    def rate_table_documents(self) -> list[RateTableDocument]:
        """Every version in `rate_tables`, by file name; a directory without any, or a file that
        is not a rate table, stops the service with the file and what is wrong."""
        files = sorted(self.rate_tables.glob("*.json"))
        if not files:
            raise ValueError(f"no rate table (*.json) in {self.rate_tables}")
        documents = []
        for file in files:
            try:
                documents.append(RateTableDocument.model_validate_json(file.read_bytes()))
            except ValidationError as invalid:
                raise ValueError(f"{file} is not a rate table: {invalid}") from invalid
        return documents
