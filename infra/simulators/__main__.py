"""`python -m infra.simulators`: the simulated 3PL, carriers and returning customers, in one
process.

Settings come from the environment: `KAFKA_BOOTSTRAP_SERVERS` and the other shared Kafka and log
settings, `UNITRAIL_SIMULATED_3PL_*` (see `SimulatedThreePLSettings`) and
`UNITRAIL_SIMULATED_CARRIERS_*` (see `SimulatedCarriersSettings`) and
`UNITRAIL_SIMULATED_RETURNS_*` (see `SimulatedReturnsSettings`). SIGTERM or Ctrl-C stops it; what
was in progress is picked up again at the next start.
"""

from __future__ import annotations

import asyncio
import signal

import structlog

from infra.simulators.carriers import SimulatedCarriers, SimulatedCarriersSettings
from infra.simulators.kafka import GroupPart, KafkaSettings, TopicFollower, run_in_group
from infra.simulators.returns import SimulatedReturns, SimulatedReturnsSettings
from infra.simulators.shelf_feed import ShelfFeed
from infra.simulators.shelves import Shelves
from infra.simulators.threepl import SimulatedThreePL
from infra.simulators.threepl_bridge import ThreePLBridge
from infra.simulators.threepl_settings import SimulatedThreePLSettings
from services.runtime.logging import configure_logging

log = structlog.get_logger("infra.simulators")

GROUP_ID = "unitrail-simulators"
"""The consumer group of the simulators run together (each part alone has a group of its own)."""


async def run(
    kafka: KafkaSettings,
    threepl_settings: SimulatedThreePLSettings,
    carrier_settings: SimulatedCarriersSettings,
    returns_settings: SimulatedReturnsSettings,
) -> None:
    """Run what is enabled until SIGTERM or SIGINT; a failure of any part ends the process (the
    launcher starts it again)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info(
        "simulators starting",
        bootstrap=kafka.kafka_bootstrap_servers,
        threepl=threepl_settings.model_dump() if threepl_settings.enabled else "off",
        carriers=carrier_settings.model_dump() if carrier_settings.enabled else "off",
        returns=returns_settings.model_dump() if returns_settings.enabled else "off",
    )
    parts: list[GroupPart] = []
    followers: list[TopicFollower] = []
    if threepl_settings.enabled:
        shelves = Shelves()
        threepl = SimulatedThreePL(threepl_settings, shelves)
        feed = ShelfFeed(shelves, on_change=threepl.shelves_changed)
        threepl.ready = feed.caught_up
        followers.append(feed.follower)
        parts.append(ThreePLBridge(threepl, kafka))
    if carrier_settings.enabled:
        parts.append(SimulatedCarriers(carrier_settings, kafka))
    if returns_settings.enabled:
        parts.append(SimulatedReturns(returns_settings, kafka))
    if parts:
        # One consumer group and one follower for all: every consumer polls the broker.
        await run_in_group(kafka, GROUP_ID, parts, stop, followers=followers)
    else:
        await stop.wait()
    log.info("simulators stopped")


def main() -> None:
    """Read the settings, configure logging, run."""
    kafka = KafkaSettings()
    configure_logging("simulators", level=kafka.log_level, fmt=kafka.log_format)
    asyncio.run(
        run(
            kafka,
            SimulatedThreePLSettings(),
            SimulatedCarriersSettings(),
            SimulatedReturnsSettings(),
        )
    )


if __name__ == "__main__":
    main()
