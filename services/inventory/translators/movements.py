"""Inventory's recorded events → the finance movements of `inventory.movements.v1`. Pure
functions."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from contracts import inventory as contracts
from services.inventory.domain import SkuStock
from services.inventory.domain.counts import CYCLE_COUNT
from services.inventory.domain.purchasing import PURCHASE_RECEIPT

WRITTEN_OFF = frozenset({"damage", "write-off"})
"""Adjustment reason codes that write units off (the rest of the decreases are adjustments)."""


VALUELESS = "damaged"
"""The condition whose units have no value: entering it writes a unit off."""


@functools.singledispatch
def to_movement(event: object) -> contracts.StockMovement | None:
    """The finance movement a recorded inventory event makes, for `inventory.movements.v1`; None
    for an event that moves no units into or out of stock (reservations, counts, other aggregates).

    The costs are those the event recorded (`valuation.py`), so the feed needs no state.
    """
    return None


@to_movement.register
def _movement_of_sku_stock_received(
    event: SkuStock.FirstReceived | SkuStock.Received,
) -> contracts.StockMovement:
    receipt = event.receipt
    purchase = receipt.reason == PURCHASE_RECEIPT and receipt.reference is not None
    return _movement(
        event,
        "receipt",
        location=receipt.location,
        quantity=receipt.quantity,
        reason=receipt.reason,
        actor=receipt.actor,
        reference=("purchase-order" if purchase else None, receipt.reference),
        serials=receipt.serials,
        batch=receipt.batch,
    )


@to_movement.register
def _movement_of_sku_stock_shipped(event: SkuStock.Shipped) -> contracts.StockMovement:
    return _movement(
        event,
        "shipment",
        location=event.location,
        quantity=-event.quantity,
        reason="customer-order",
        reference=("shipment", str(event.shipment_id)),
        serials=event.serials,
        order_id=event.order_id,
    )


@to_movement.register
def _movement_of_sku_stock_adjusted(event: SkuStock.Adjusted) -> contracts.StockMovement:
    return _adjustment(event)


@to_movement.register
def _movement_of_sku_stock_transferred_out(
    event: SkuStock.TransferredOut,
) -> contracts.StockMovement:
    return _movement(
        event,
        "transfer-out",
        location=event.from_location,
        quantity=-event.quantity,
        reason=event.reason or "transfer",
        actor=event.actor,
        reference=("transfer", str(event.transfer_id)),
        serials=event.serials,
    )


@to_movement.register
def _movement_of_sku_stock_transferred_in(event: SkuStock.TransferredIn) -> contracts.StockMovement:
    return _movement(
        event,
        "transfer-in",
        location=event.to_location,
        quantity=event.quantity,
        reason="transfer",
        actor=event.actor,
        reference=("transfer", str(event.transfer_id)),
        serials=event.serials,
    )


@to_movement.register
def _movement_of_sku_stock_unit_returned(event: SkuStock.UnitReturned) -> contracts.StockMovement:
    return _movement(
        event,
        "return",
        location=event.location,
        quantity=1,
        condition=event.condition,
        reason="customer-return",
        reference=("rma", str(event.rma_id)),
        serials=() if event.serial is None else (event.serial,),
    )


@to_movement.register
def _movement_of_sku_stock_unit_condition_changed(
    event: SkuStock.UnitConditionChanged,
) -> contracts.StockMovement:
    return _condition_change(event)


def _adjustment(event: Any) -> contracts.StockMovement:
    if event.reason_code in WRITTEN_OFF:
        kind: contracts.MovementType = "write-off"
    else:
        kind = "adjustment-in" if event.quantity_delta > 0 else "adjustment-out"
    if event.reason_code == CYCLE_COUNT:
        reference_type: str | None = "count"
    else:
        # Besides a count's, only a short transfer receipt's loss names what it comes from.
        reference_type = "transfer" if event.reference is not None else None
    return _movement(
        event,
        kind,
        location=event.location,
        quantity=event.quantity_delta,
        reason=event.reason_code,
        actor=event.actor,
        reference=(reference_type, event.reference),
        serials=event.serials,
        note=event.note,
    )


def _condition_change(event: Any) -> contracts.StockMovement:
    """A returned unit's new condition: a write-off when it becomes damaged (it leaves valued
    stock), back into valued stock from damaged, otherwise a reclassification at the same value."""
    if event.to_condition == VALUELESS:
        kind: contracts.MovementType = "write-off"
        condition, quantity = event.from_condition, -1
    else:
        kind = "adjustment-in" if event.from_condition == VALUELESS else "condition-change"
        condition, quantity = event.to_condition, 1
    return _movement(
        event,
        kind,
        location=event.location,
        quantity=quantity,
        condition=condition,
        reason=event.reason,
        actor=event.actor,
        reference=("rma", str(event.rma_id)),
        serials=() if event.serial is None else (event.serial,),
        conditions=(event.from_condition, event.to_condition),
    )


def _movement(
    event: Any,
    kind: contracts.MovementType,
    *,
    location: str,
    quantity: int,
    reason: str,
    reference: tuple[str | None, str | None],
    condition: str = "new",
    actor: str | None = None,
    serials: Sequence[str] = (),
    order_id: uuid.UUID | None = None,
    batch: str | None = None,
    note: str | None = None,
    conditions: tuple[str, str] | None = None,
) -> contracts.StockMovement:
    # Events recorded before stock was valued have no cost: the class-level None.
    unit_cost: Decimal | None = event.unit_cost
    currency = event.currency if unit_cost is not None else None
    reference_type, reference_id = reference
    return contracts.StockMovement.model_validate(
        {
            "movement_type": kind,
            "sku": event.sku,
            "location": location,
            "condition": condition,
            "from_condition": conditions[0] if conditions else None,
            "to_condition": conditions[1] if conditions else None,
            "quantity": quantity,
            "unit_cost": unit_cost,
            "currency": currency,
            "extended_value": None if unit_cost is None else unit_cost * quantity,
            "reason": reason,
            "actor": actor,
            "reference_type": reference_type if reference_id is not None else None,
            "reference": reference_id,
            "order_id": order_id,
            "serials": list(serials),
            "batch": batch,
            "note": note,
        }
    )
