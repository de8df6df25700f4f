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
from typing import Protocol

import structlog
import uvloop
from aiokafka.errors import KafkaError

from infra.simulators.carriers import SimulatedCarriers, SimulatedCarriersSettings
from infra.simulators.kafka import GroupPart, KafkaSettings, TopicFollower, run_in_group
from infra.simulators.returns import SimulatedReturns, SimulatedReturnsSettings
from infra.simulators.shelf_feed import ShelfFeed
from infra.simulators.shelves import Shelves
from infra.simulators.threepl import SimulatedThreePL
from infra.simulators.threepl_bridge import ThreePLBridge
from infra.simulators.threepl_settings import SimulatedThreePLSettings
from services.runtime.logging import configure_logging
from services.runtime.priority import be_nicer
from services.runtime.topics import BrokerIncarnation

log = structlog.get_logger("infra.simulators")

GROUP_ID = "unitrail-simulators"
"""The consumer group of the simulators run together (each part alone has a group of its own),
one per life of the broker (`group_of`)."""

BROKER_CHECK_SECONDS = 5.0
EXIT_BROKER_REPLACED = 75
"""The exit status when the broker was replaced (`EX_TEMPFAIL`): the launcher starts the
simulators again, and they read the refilled topics from the start."""


def group_of(incarnation: str) -> str:
    """The simulators' group on this life of the broker. A broker that came back empty knows no
    group; what an old member still commits there (its offsets in the old log) would make a new
    member skip what the relays published again: on a group of its own, nothing was committed."""
    return f"{GROUP_ID}.{incarnation}"


class Lives(Protocol):
    async def marked(self) -> str | None: ...


async def marked_now(incarnation: Lives) -> str | None:
    """The broker's incarnation, or None while it has none or cannot be asked."""
    try:
        return await incarnation.marked()
    except KafkaError as error:
        log.info("broker incarnation unknown for now", error=repr(error))
        return None


async def first_life(incarnation: Lives) -> str:
    """The broker's incarnation once it has one (a broker being started may not yet)."""
    while True:
        if (marked := await marked_now(incarnation)) is not None:
            return marked
        await asyncio.sleep(1.0)  # the first service to start marks it


async def until_replaced(
    incarnation: Lives, first: str, every: float = BROKER_CHECK_SECONDS
) -> str:
    """Return the broker's new incarnation once it differs from `first`. The simulators act on
    what they read and remember it; on a broker that came back empty (the embedded one keeps
    nothing) the relays publish the stores again from the first offset, and a process that goes
    on from where it was reads past what it had not yet seen. Started again, it reads the
    refilled topics whole, as after any restart."""
    while True:
        await asyncio.sleep(every)
        marked = await marked_now(incarnation)
        if marked is not None and marked != first:
            return marked


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
    incarnation = BrokerIncarnation(
        kafka.kafka_bootstrap_servers, client_id=f"{GROUP_ID}-incarnation"
    )
    first = await first_life(incarnation)
    replaced = asyncio.create_task(until_replaced(incarnation, first))
    replaced.add_done_callback(lambda _: stop.set())
    try:
        if parts:
            # One consumer group and one follower for all: every consumer polls the broker.
            await run_in_group(
                kafka, group_of(first), parts, stop, followers=followers, broker_life=first
            )
        else:
            await stop.wait()
    finally:
        if not replaced.done():
            replaced.cancel()
    if replaced.done() and not replaced.cancelled():
        log.warning(
            "the broker is a new one: starting again from its refilled topics",
            incarnation=replaced.result(),
            previous=first,
        )
        raise SystemExit(EXIT_BROKER_REPLACED)
    log.info("simulators stopped")


def main() -> None:
    """Read the settings, configure logging, run."""
    kafka = KafkaSettings()
    configure_logging("simulators", level=kafka.log_level, fmt=kafka.log_format)
    be_nicer(kafka.off_path_niceness)
    uvloop.run(
        run(
            kafka,
            SimulatedThreePLSettings(),
            SimulatedCarriersSettings(),
            SimulatedReturnsSettings(),
        )
    )


if __name__ == "__main__":
    main()
