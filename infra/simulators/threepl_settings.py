"""How the simulated 3PL behaves (`UNITRAIL_SIMULATED_3PL_*`): its delays, its mistakes, where it
operates."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SimulatedThreePLSettings(BaseSettings):
    """`UNITRAIL_SIMULATED_3PL_*`: how the simulated warehouse behaves. Delays are in seconds."""

    model_config = SettingsConfigDict(
        env_prefix="UNITRAIL_SIMULATED_3PL_", extra="ignore", frozen=True
    )

    enabled: bool = Field(default=True, description="Run the simulated 3PL.")
    locations: str = Field(
        default="",
        description="Comma-separated locations it operates; empty: every location. Leave the "
        "others to real 3PL integrations.",
    )
    pick_delay: float = Field(default=2.0, ge=0, description="Request → picked.")
    pack_delay: float = Field(default=2.0, ge=0, description="Picked → packed, and each rescan.")
    ship_delay: float = Field(default=1.5, ge=0, description="Label received → shipped.")
    jitter: float = Field(
        default=0.5, ge=0, le=1, description="Each delay varies by up to this fraction of itself."
    )
    mis_scan_rate: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Share of shipments whose first pack scan has a wrong serial (a neighbouring "
        "unit, or a misread); rescanned right after the rejection.",
    )
    duplicate_rate: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="Share of confirmations sent twice, as at-least-once integrations do.",
    )
    receive_delay: float = Field(
        default=3.0,
        ge=0,
        description="Goods expected (a confirmed purchase order, or an ASN) → received at the "
        "dock. A purchase order with an ASN by then is received by its ASNs.",
    )
    max_scans: int = Field(
        default=5, ge=1, description="Pack scans of one shipment before a person must look."
    )
    serial_wait: float = Field(
        default=30.0,
        ge=0,
        description="How long a packer waits for units the shelves do not show yet before "
        "scanning what there is.",
    )
    transfer_delay: float = Field(
        default=5.0,
        ge=0,
        description="A transfer requested → its units received at the destination.",
    )
    cycle_count_interval: float = Field(
        default=0.0,
        ge=0,
        description="Every this many seconds, count the serialized units at each location it "
        "operates and report `cycle_counted` per SKU; 0: never.",
    )
    damage_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="In a cycle count, the share of units on the shelf found damaged, reported "
        "as `damage_found` (and not counted).",
    )
    seed: str = Field(
        default="unitrail",
        description="Randomness is drawn per shipment from this seed and its id: reproducible.",
    )

    @property
    def served_locations(self) -> frozenset[str] | None:
        """The locations it operates, or None for all."""
        names = frozenset(name.strip() for name in self.locations.split(",") if name.strip())
        return names or None
