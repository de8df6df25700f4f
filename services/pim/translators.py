"""PIM domain ↔ public contracts. Pure functions."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from contracts import pim as contracts
from contracts.base import IntegrationEvent
from services.pim.domain import Product


def to_contract(event: Any) -> IntegrationEvent:
    """The public event for a recorded PIM event."""
    if isinstance(event, Product.Registered):
        return contracts.ProductRegistered(
            product_id=event.originator_id, sku=event.sku, **asdict(event.facts)
        )
    if isinstance(event, Product.Changed):
        return contracts.ProductChanged(
            product_id=event.originator_id, sku=event.sku, **asdict(event.facts)
        )
    raise TypeError(f"no contract for PIM event {type(event).__qualname__}")
