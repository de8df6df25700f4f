"""Create the topics of the registry (names, partitions) on the broker, if missing."""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from contracts.topics import Topic, all_topics


async def ensure_topics(bootstrap_servers: str, topics: list[Topic] | None = None) -> list[str]:
    """Create every missing topic; return the names created."""
    wanted = topics if topics is not None else all_topics()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="unitrail-setup")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [topic for topic in wanted if topic.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # created meanwhile by another
                await admin.create_topics(
                    [NewTopic(topic.name, topic.partitions, 1) for topic in missing]
                )
        return [topic.name for topic in missing]
    finally:
        await admin.close()
