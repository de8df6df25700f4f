"""How far a service's consumer got on each partition, in each broker life, kept in the service's
own database: the broker's committed offsets say how far, but not in which life.

A broker that came back empty (the embedded one keeps everything in memory) can be handed an
offset of its last life: a member the new broker forgot sends, or retries, a commit before it
joins again, and a group that is empty at that moment takes it. Past the new log's end the inbox
sees it for what it is (`inbox.py`); within the new log it is a position like any other, and a
member that starts there later passes over everything below it that no member of this life
applied. The broker keeps no word of the life a commit was made in (the embedded one keeps no
commit metadata), so the inbox keeps it here: before each commit it records the offsets under
the life it consumed them in, and a member given a partition starts no further on than what this
life recorded, from the beginning when it recorded nothing. A commit made in another life was
recorded under that life, where no member of this one looks; starting lower than the group's
commit costs a redelivery, which the consumer recognises as such.

One row per (broker life, partition): a handful per life, and lives end only when a broker
restarts empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import asyncpg
from aiokafka import TopicPartition

CONSUMED_POSITIONS_TABLE = """
CREATE TABLE IF NOT EXISTS consumed_positions (
    broker_life text NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    next_offset bigint NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (broker_life, topic, partition)
)
"""

_KEEP = """
INSERT INTO consumed_positions (broker_life, topic, partition, next_offset)
SELECT $1, * FROM unnest($2::text[], $3::integer[], $4::bigint[])
ON CONFLICT (broker_life, topic, partition) DO UPDATE
SET next_offset = greatest(consumed_positions.next_offset, excluded.next_offset),
    recorded_at = now()
"""


class ConsumedPositions:
    """The consumed positions of one service's consumer group, in its own database."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_table(self) -> None:
        await self._pool.execute(CONSUMED_POSITIONS_TABLE)

    async def keep(self, life: str, offsets: Mapping[TopicPartition, int]) -> None:
        """Record the next offset to read on each partition, applied in broker life `life`.

        A position only moves forward: a member that commits late (its partitions moved on to
        another member meanwhile) does not take back what the other recorded. Rows are written
        in one order, so members of several processes never wait on each other in a circle."""
        if not offsets:
            return
        partitions = sorted(offsets)
        await self._pool.execute(
            _KEEP,
            life,
            [partition.topic for partition in partitions],
            [partition.partition for partition in partitions],
            [offsets[partition] for partition in partitions],
        )

    async def kept(
        self, life: str, partitions: Iterable[TopicPartition]
    ) -> dict[TopicPartition, int]:
        """The next offset recorded in `life` for each of `partitions` that has one."""
        wanted = set(partitions)
        rows = await self._pool.fetch(
            "SELECT topic, partition, next_offset FROM consumed_positions WHERE broker_life = $1",
            life,
        )
        found = {
            TopicPartition(row["topic"], row["partition"]): int(row["next_offset"]) for row in rows
        }
        return {partition: offset for partition, offset in found.items() if partition in wanted}
