"""The simulated partners follow the broker's lives: on a broker that came back empty they start
again (the launcher restarts them) and read its refilled topics whole, in a group of that life."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from aiokafka.errors import KafkaConnectionError

from infra.simulators.__main__ import first_life, group_of, until_replaced


class Marks:
    """A broker whose incarnation marker reads as the given values in turn (an error raises)."""

    def __init__(self, *values: str | Exception | None) -> None:
        self._values: Iterator[str | Exception | None] = iter(values)
        self.reads = 0

    async def marked(self) -> str | None:
        self.reads += 1
        value = next(self._values)
        if isinstance(value, Exception):
            raise value
        return value


async def test_a_new_broker_life_is_noticed_through_outages_and_unmarked_moments() -> None:
    marks = Marks("life-1", KafkaConnectionError(), None, "life-1", "life-2")
    assert await asyncio.wait_for(until_replaced(marks, "life-1", every=0), 5) == "life-2"
    assert marks.reads == 5


async def test_the_first_life_is_the_first_marker_read() -> None:
    marks = Marks(KafkaConnectionError(), "life-1")
    assert await asyncio.wait_for(first_life(marks), 5) == "life-1"


def test_each_life_of_the_broker_has_its_own_group() -> None:
    assert group_of("life-1") != group_of("life-2")
    assert group_of("life-1").startswith("unitrail-simulators")
