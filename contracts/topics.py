"""The topic registry: every topic Unitrail reads or writes, what travels on it, and its key.

Names are stable; a breaking change to what a topic carries means a new `.vN` topic.
"""

from __future__ import annotations

from dataclasses import dataclass

SERVICES: tuple[str, ...] = (
    "pim",
    "inventory",
    "order",
    "returns",
    "warehouse_adapter",
    "shipping",
    "traceability",
)
"""Every service of the system, each the owner of its domain and of its events topic.

`traceability` owns no domain: it projects the others' events into read models for analysts and
publishes nothing, but it has a topic pair like every service (its dead-letter topic is used)."""


KEYED_PARTITIONS = 2
"""Partitions of every keyed topic the services create, unless `UNITRAIL_KAFKA_PARTITIONS` sets
another count: as many processes of one service as there are partitions share its work. Each
partition costs every fetch of every consumer of the topic whether it holds news or not (on two
cores, 6 partitions instead of 2 cost about a fifth more CPU per order: docs/benchmarks.md), so
the default is what the launcher's `--processes 2` needs; a deployment that runs more processes
per service creates its topics with more."""


@dataclass(frozen=True)
class Topic:
    """A Kafka topic and its contract."""

    name: str
    partitions: int
    """The count the services create it with: `KEYED_PARTITIONS` for a keyed topic, 1 for one
    that must keep a single order (`UNITRAIL_KAFKA_PARTITIONS` changes only the keyed ones)."""
    key: str
    carries: str
    written_by: str
    read_by: tuple[str, ...] = ()
    """Partners that read it (the services' own reads are their consumers' subscriptions)."""
    personal_data: bool = False
    """Carries customers' personal data in clear for a partner who must read it (a channel's
    orders, a 3PL's fulfilment requests): created with a bounded retention
    (`UNITRAIL_PERSONAL_DATA_RETENTION_HOURS`), since forgetting a customer cannot reach into it.
    Every other topic is kept for ever and holds personal data only sealed."""


CHANNEL_ORDERS = Topic(
    name="channel.orders.v1",
    partitions=KEYED_PARTITIONS,
    key="`channel:channel_order_id`",
    carries="ChannelOrderMessage JSON (no envelope), from channel connectors",
    written_by="channel connectors",
    personal_data=True,
)


CHANNEL_FEEDBACK = Topic(
    name="channel.feedback.v1",
    partitions=KEYED_PARTITIONS,
    key="`channel:channel_order_id`, as on `channel.orders.v1`",
    carries="Envelope with a `ChannelOrderFeedback`: what became of each channel order message "
    "that changed something (accepted, amended, or a re-send rejected with the difference), for "
    "channel connectors; derived from the order store by a relay of its own (a feed)",
    written_by="order",
    read_by=("channel connectors",),
)


THREEPL_CONFIRMATIONS = Topic(
    name="threepl.confirmations.v1",
    partitions=KEYED_PARTITIONS,
    key="shipment id",
    carries="picked / packed (serials) / shipped JSON (no envelope), from 3PL adapters",
    written_by="3PL adapters",
)


THREEPL_RECEIPTS = Topic(
    name="threepl.receipts.v1",
    partitions=KEYED_PARTITIONS,
    key="RMA id (return_received), purchase order id (goods_received) or transfer id "
    "(transfer_received)",
    carries="return_received / goods_received / transfer_received JSON (no envelope): what "
    "arrived at a 3PL's dock, from 3PL adapters",
    written_by="3PL adapters",
)


THREEPL_STOCK = Topic(
    name="threepl.stock.v1",
    partitions=KEYED_PARTITIONS,
    key="`location:sku`",
    carries="cycle_counted / damage_found JSON (no envelope): what a 3PL found on its shelves "
    "(its own counts, units found damaged), from 3PL adapters",
    written_by="3PL adapters",
)


CARRIER_TRACKING = Topic(
    name="carrier.tracking.v1",
    partitions=KEYED_PARTITIONS,
    key="tracking number",
    carries="CarrierTrackingEvent JSON (no envelope), from carrier integrations",
    written_by="carrier integrations",
)


INVENTORY_MOVEMENTS = Topic(
    name="inventory.movements.v1",
    partitions=KEYED_PARTITIONS,
    key="aggregate id: the SKU's stock (one SKU's movements stay in order on one partition)",
    carries="Envelope with a `StockMovement`: receipts, shipments, transfers, adjustments, "
    "write-offs, returns and condition changes, with quantity and unit cost, for an ERP to book; "
    "the same stored events as `inventory.events.v1`, translated by a second relay (a feed)",
    written_by="inventory",
    read_by=("ERP connectors",),
)


THREEPL_FULFILMENT_REQUESTS = Topic(
    name="threepl.fulfilment-requests.v1",
    partitions=KEYED_PARTITIONS,
    key="shipment id",
    carries="Envelope with a `FulfilmentRequested` whose `ship_to` is in clear, or a "
    "`FulfilmentCancelled`: what a 3PL must ship, and where, for 3PL adapters; the warehouse "
    "adapter's requests of `warehouse_adapter.events.v1` (where the address is sealed) opened with "
    "the customer's key by a relay of its own (a feed). Its retention is bounded: it holds "
    "customers' addresses in clear",
    written_by="warehouse_adapter",
    read_by=("3PL adapters",),
    personal_data=True,
)


BROKER_INCARNATION = Topic(
    name="unitrail.incarnation.v1",
    partitions=1,
    key="none",
    carries="at offset 0, the broker's incarnation id (a uuid, UTF-8): written once by the first "
    "service to find the topic missing or empty, after it created every topic of the registry. A "
    "relay that recorded its position under another id re-publishes its store from the start: "
    "the broker lost what it had (the embedded one keeps everything in memory)",
    written_by="any service (the first to find it missing)",
)


def events_topic(service: str) -> Topic:
    """The topic on which a service publishes its integration events, in envelopes."""
    return Topic(
        name=f"{service}.events.v1",
        partitions=KEYED_PARTITIONS,
        key="aggregate id",
        carries=f"Envelope with the integration events of `{service}`",
        written_by=service,
        # 3PLs take inbound and transfer notices from it, carriers the handovers.
        read_by=("3PL adapters", "carrier integrations") if service == "warehouse_adapter" else (),
    )


def dead_letter_topic(service: str) -> Topic:
    """Where a service parks the messages it could not process, with the reason in headers."""
    return Topic(
        name=f"{service}.deadletter.v1",
        partitions=1,
        key="the original message key",
        carries="the original bytes; headers `error`, `error-type`, `source-topic`, "
        "`source-partition`, `source-offset`, `consumer` (the service that gave up on it)",
        written_by=service,
    )


def all_topics() -> list[Topic]:
    """Every topic, for creating them and for documentation."""
    topics = [
        CHANNEL_ORDERS,
        CHANNEL_FEEDBACK,
        THREEPL_CONFIRMATIONS,
        THREEPL_RECEIPTS,
        THREEPL_STOCK,
        CARRIER_TRACKING,
        INVENTORY_MOVEMENTS,
        THREEPL_FULFILMENT_REQUESTS,
        BROKER_INCARNATION,
    ]
    for service in SERVICES:
        topics.append(events_topic(service))
        topics.append(dead_letter_topic(service))
    return topics
