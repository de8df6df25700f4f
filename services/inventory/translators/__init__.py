"""Inventory domain ↔ public contracts: what it reads (`inbound`), what it publishes on its events
topic (`events`, with `purchasing`'s events registered on the same `to_contract`) and on the
finance feed (`movements`). Pure functions."""

# Imported for its effect: it registers purchase orders' events on `to_contract`.
from services.inventory.translators import purchasing  # noqa: F401
from services.inventory.translators.events import to_contract
from services.inventory.translators.inbound import (
    bundle_components,
    goods_receipt,
    requested_lines,
    scanned_units,
    shipping_cost,
)
from services.inventory.translators.movements import to_movement

__all__ = [
    "bundle_components",
    "goods_receipt",
    "requested_lines",
    "scanned_units",
    "shipping_cost",
    "to_contract",
    "to_movement",
]
