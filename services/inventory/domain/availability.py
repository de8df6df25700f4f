"""Available-to-sell per sales channel: computed only here, from stock, and published.

Pure: no I/O. New, open-box and refurbished units are sold as separate conditions and never mixed: a
channel sees how many it may sell of each, less its safety buffer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SELLABLE_CONDITIONS = ("new", "open-box", "refurbished")


@dataclass(frozen=True)
class ChannelAvailability:
    """What one channel may sell of a SKU, per condition."""

    channel: str
    new: int
    open_box: int
    refurbished: int = 0
    """Defaults to none: events recorded before refurbished units were sold have no figure."""


@dataclass(frozen=True)
class SalesChannels:
    """The channels stock is published to, each with its safety buffer (units held back so a
    channel that updates its listing late cannot oversell)."""

    buffers: tuple[tuple[str, int], ...] = (("webshop", 0),)

    @classmethod
    def of(cls, buffers: Mapping[str, int]) -> SalesChannels:
        if any(buffer < 0 for buffer in buffers.values()):
            raise ValueError("a safety buffer cannot be negative")
        return cls(tuple(sorted(buffers.items())))

    def availability(
        self, new: int, open_box: int, refurbished: int = 0
    ) -> tuple[ChannelAvailability, ...]:
        """Each channel's sellable units: what is available, less its buffer, never below zero."""
        return tuple(
            ChannelAvailability(
                channel,
                max(0, new - buffer),
                max(0, open_box - buffer),
                max(0, refurbished - buffer),
            )
            for channel, buffer in self.buffers
        )
