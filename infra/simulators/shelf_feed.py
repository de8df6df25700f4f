"""A 3PL's shelves kept up to date from inventory's public events (`learn`, `ShelfFeed`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from pydantic import ValidationError

from contracts.envelope import Envelope
from contracts.inventory import (
    StockAdjusted,
    StockReceived,
    StockSerialPacked,
    StockShipped,
    StockTransferredIn,
    StockTransferredOut,
)
from contracts.topics import events_topic
from infra.simulators.kafka import Record, TopicFollower, read_envelope
from infra.simulators.shelves import Shelves

log = structlog.get_logger(__name__)

INVENTORY_EVENTS = events_topic("inventory").name


SHELF_EVENTS = frozenset(
    model.event_type
    for model in (
        StockReceived,
        StockSerialPacked,
        StockShipped,
        StockTransferredIn,
        StockTransferredOut,
        StockAdjusted,
    )
)
"""The inventory events `learn` reads."""


def learn(shelves: Shelves, envelope: Envelope) -> bool:
    """Apply one of inventory's events to the shelves; False when it says nothing about them."""
    if envelope.producer != "inventory":
        return False
    try:
        if envelope.event_type == StockReceived.event_type:
            received = StockReceived.model_validate(envelope.payload)
            shelves.received(received.sku, received.location, received.serials)
        elif envelope.event_type == StockSerialPacked.event_type:
            packed = StockSerialPacked.model_validate(envelope.payload)
            shelves.packed(packed.serial, packed.sku, packed.location, packed.shipment_id)
        elif envelope.event_type == StockShipped.event_type:
            shipped = StockShipped.model_validate(envelope.payload)
            shelves.shipped(shipped.sku, shipped.serials)
        elif envelope.event_type == StockTransferredIn.event_type:
            arrived = StockTransferredIn.model_validate(envelope.payload)
            shelves.received(arrived.sku, arrived.to_location, arrived.serials)
        elif envelope.event_type == StockTransferredOut.event_type:
            shelves.left(StockTransferredOut.model_validate(envelope.payload).serials)
        elif envelope.event_type == StockAdjusted.event_type:
            adjusted = StockAdjusted.model_validate(envelope.payload)
            if adjusted.quantity_delta < 0:
                shelves.left(adjusted.serials)
            else:
                shelves.received(adjusted.sku, adjusted.location, adjusted.serials)
        else:
            return False
    except ValidationError as error:
        log.warning("inventory event does not fit its contract", error=str(error.errors()[:1]))
        return False
    return True


class ShelfFeed:
    """Keeps a 3PL's shelves up to date from `inventory.events.v1`, read from its beginning at
    every start (the shelves are rebuilt, never stored)."""

    def __init__(self, shelves: Shelves, on_change: Callable[[], None]) -> None:
        self.shelves = shelves
        self._on_change = on_change
        self.follower = TopicFollower(INVENTORY_EVENTS, self._handle)
        """Run by `follow_topics`, with the other topics a process follows."""

    @property
    def caught_up(self) -> asyncio.Event:
        """Set once the shelves reflect every inventory event that existed at start."""
        return self.follower.caught_up

    def _handle(self, record: Record) -> None:
        envelope = read_envelope(record, wanted=SHELF_EVENTS)
        if envelope is not None and learn(self.shelves, envelope):
            self._on_change()
