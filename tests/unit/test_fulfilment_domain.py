"""Fulfilment requests to 3PL warehouses, without any infrastructure."""

from __future__ import annotations

import uuid

import pytest

from services.runtime.aggregate import DomainError
from services.warehouse_adapter.domain import (
    Destination,
    Fulfilment,
    FulfilmentLine,
    FulfilmentStatus,
)

SHIP_TO = Destination("Ada", "1 Way", None, "London", None, "N1", "GB")


def request(*lines: FulfilmentLine) -> Fulfilment:
    return Fulfilment.request(
        shipment_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        location="WH-A",
        lines=lines,
        ship_to=SHIP_TO,
        signature_required=True,
    )


def test_a_fulfilment_is_requested_for_a_shipment_and_can_be_cancelled_once() -> None:
    fulfilment = request(FulfilmentLine(1, "LAPTOP-14", 2))
    fulfilment.cancel("order cancelled")
    fulfilment.cancel("order cancelled")
    assert fulfilment.status is FulfilmentStatus.CANCELLED
    assert [type(e).__name__ for e in fulfilment.collect_events()] == ["Requested", "Cancelled"]


def test_a_fulfilment_needs_units() -> None:
    with pytest.raises(DomainError, match="at least one unit"):
        request()
    with pytest.raises(DomainError, match="at least one unit"):
        request(FulfilmentLine(1, "LAPTOP-14", 0))
