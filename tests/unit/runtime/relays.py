"""A relay with nothing behind it (no store, producer or broker), for tests of its own logic."""

from __future__ import annotations

from typing import Any, cast

from services.runtime.relay import Relay


def unconnected_relay(producer_name: str = "inventory", topic: str = "t") -> Relay:
    nothing = cast(Any, None)
    return Relay(
        producer_name=producer_name,
        application=nothing,
        translate=nothing,
        producer=nothing,
        pool=nothing,
        leadership=nothing,
        incarnation=nothing,
        topic=topic,
        batch_size=10,
    )
