"""Bundles (kits): sellable as many times as their scarcest component allows. Pure: no I/O.

A bundle has no stock of its own: the PIM defines it as components, each with a quantity, and a
channel may sell as many bundles as every component's new available-to-sell covers. Its
availability is published per channel, like a SKU's, whenever a component's changes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Self

from services.runtime.aggregate import Aggregate

BUNDLE_NAMESPACE = uuid.UUID("0d7c6b2e-4f1a-4e3b-9a58-6c2f1e8d7b45")


def bundle_availability_id_for(sku: str) -> uuid.UUID:
    return uuid.uuid5(BUNDLE_NAMESPACE, sku)


def bundles_sellable(components: Mapping[str, int], available: Mapping[str, int]) -> int:
    """How many bundles the components cover: the minimum over components of available ÷ quantity
    (none when the bundle has no components)."""
    if not components:
        return 0
    return min(max(0, available.get(sku, 0)) // quantity for sku, quantity in components.items())


class BundleAvailability(Aggregate):
    """What each channel may sell of one bundle, as last published."""

    class FirstPublished(Aggregate.Created):
        sku: str
        channel: str
        available: int

        def apply(self, bundle: BundleAvailability) -> None:
            bundle.sku = self.sku
            bundle.published = {self.channel: self.available}

    class Published(Aggregate.Event):
        sku: str
        channel: str
        available: int

        def apply(self, bundle: BundleAvailability) -> None:
            bundle.published[self.channel] = self.available

    if TYPE_CHECKING:
        sku: str
        published: dict[str, int]
        """Channel → bundles it was last told it may sell."""

    @classmethod
    def first(cls, sku: str, per_channel: Mapping[str, int]) -> Self:
        """The first publication of a bundle's availability, for every channel."""
        channels = sorted(per_channel)
        bundle = cls._create(
            cls.FirstPublished,
            id=bundle_availability_id_for(sku),
            sku=sku,
            channel=channels[0],
            available=per_channel[channels[0]],
        )
        bundle.publish(per_channel)
        return bundle

    def publish(self, per_channel: Mapping[str, int]) -> None:
        """Tell each channel how many bundles it may sell, when that differs from what it was told."""
        for channel, available in sorted(per_channel.items()):
            if self.published.get(channel) != available:
                self.trigger_event(
                    self.Published, sku=self.sku, channel=channel, available=available
                )
