"""Where a partition ends, as a reader that must read a topic to its end needs it (the replay, the
simulated 3PL rebuilding its shelves): right even where the broker lists it short."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.runtime.kafka import partition_ends
from services.runtime.relay_messages import OutgoingMessage, PartitionBatches
from tests.integration.harness import Stack


async def test_the_end_of_a_partition_whose_last_record_batch_holds_many_records(
    stack: Stack,
) -> None:
    """A relay publishing a backlog ends a partition with a batch of hundreds of records; the
    embedded broker lists the end one past the first of them."""
    topic = f"ends-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for first in (0, 25):
            batches = PartitionBatches(producer, topic)
            for number in range(first, first + 25):
                batches.add(0, OutgoingMessage(b"key", str(number).encode(), []))
            for acknowledgement in await batches.flush():
                await acknowledgement
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(bootstrap_servers=stack.bootstrap_servers, group_id=None)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        ends = await partition_ends(consumer, {partition: 0})
        consumer.seek(partition, 0)
        read: list[bytes] = []
        while len(read) < ends[partition]:
            for records in (await consumer.getmany(partition, timeout_ms=1000)).values():
                read.extend(record.value or b"" for record in records)
    finally:
        await consumer.stop()

    assert ends == {partition: 50}
    assert read == [str(number).encode() for number in range(50)]
