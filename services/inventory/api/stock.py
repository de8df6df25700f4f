"""HTTP commands and queries on a SKU's stock: receipts, adjustments, counts, condition changes,
reorder policies; levels, movements and returned units."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from contracts.base import LocationCode, Sku
from services.inventory.api.common import (
    IdempotencyKey,
    Planner,
    Runtime,
    SerialNumber,
    StockChanged,
    Warehouse,
)
from services.inventory.application import StockView
from services.inventory.domain import (
    REASON_CODES,
    ReasonCode,
    Receipt,
    ReorderPolicy,
)
from services.runtime.aggregate import NotFound
from services.runtime.auth import Caller, OnBehalfOf, Role, allow

router = APIRouter(prefix="/stock", tags=["stock"])


class ReceiveStock(BaseModel):
    """Units that arrived at a location, with why and who."""

    model_config = ConfigDict(extra="forbid")

    sku: Sku
    location: LocationCode
    quantity: int = Field(ge=1, le=1_000_000, description="Units received.")
    reason: str = Field(min_length=1, max_length=100, description="e.g. `purchase-receipt`.")
    on_behalf_of: OnBehalfOf = None
    reference: str | None = Field(default=None, max_length=100, description="PO, ASN or count.")
    serials: list[SerialNumber] = Field(
        default_factory=list,
        max_length=10_000,
        description="One serial number per unit, for serialized products.",
    )
    batch: str | None = Field(default=None, max_length=64, description="Production batch.")
    idempotency_key: IdempotencyKey = None


@router.post("/receipts", status_code=201)
async def receive_stock(command: ReceiveStock, runtime: Runtime, caller: Warehouse) -> StockChanged:
    """Record a receipt of units into sellable stock."""
    application = runtime.application
    receipt = Receipt(
        location=command.location,
        quantity=command.quantity,
        reason=command.reason,
        actor=caller.actor(command.on_behalf_of),
        reference=command.reference,
        serials=tuple(command.serials),
        batch=command.batch,
    )
    stock_id = await runtime.run_command(
        lambda: application.receive_stock(
            command.sku, receipt, idempotency_key=command.idempotency_key
        )
    )
    return StockChanged(stock_id=stock_id)


REASON_CODE_DESCRIPTION = "Why, one of: " + "; ".join(
    f"`{code}`: {meaning}" for code, meaning in REASON_CODES.items()
)


class AdjustStock(BaseModel):
    """Units on hand at a location changed outside receipts and shipments: why and who."""

    model_config = ConfigDict(extra="forbid")

    sku: Sku
    location: LocationCode
    quantity_delta: int = Field(
        ge=-1_000_000, le=1_000_000, description="Units added (positive) or removed (negative)."
    )
    reason_code: ReasonCode = Field(description=REASON_CODE_DESCRIPTION)
    on_behalf_of: OnBehalfOf = None
    note: str | None = Field(default=None, max_length=500, description="Free text.")
    serials: list[SerialNumber] = Field(
        default_factory=list,
        max_length=10_000,
        description="Serialized products: the units that leave (a decrease) or come in (found).",
    )
    idempotency_key: IdempotencyKey = None


class CountStock(BaseModel):
    """What was physically counted at a location."""

    model_config = ConfigDict(extra="forbid")

    sku: Sku
    location: LocationCode
    counted: int = Field(ge=0, le=1_000_000, description="New units counted.")
    on_behalf_of: OnBehalfOf = None
    serials_counted: list[SerialNumber] | None = Field(
        default=None,
        max_length=10_000,
        description="Serialized products: the serial of every unit counted.",
    )
    idempotency_key: IdempotencyKey = None


class Counted(BaseModel):
    stock_id: uuid.UUID
    count_id: uuid.UUID
    variance: int = Field(description="Counted less expected; booked as `cycle-count`.")


class SetReorderPolicy(BaseModel):
    """When to reorder the SKU at a location, how much, and the supplier's lead time."""

    model_config = ConfigDict(extra="forbid")

    location: LocationCode
    reorder_point: int = Field(ge=0, le=1_000_000, description="Alert at or below this.")
    reorder_quantity: int = Field(ge=1, le=1_000_000, description="Units to order.")
    lead_time_days: int = Field(ge=0, le=3650, description="Days until ordered units arrive.")
    on_behalf_of: OnBehalfOf = None


class ChangeCondition(BaseModel):
    """Move a returned unit to another held condition (sign-off to new comes from returns)."""

    model_config = ConfigDict(extra="forbid")

    sku: Sku
    rma_id: uuid.UUID = Field(description="The RMA the unit came back under.")
    to_condition: Literal["open-box", "refurbished", "quarantined", "damaged"]
    reason: str = Field(min_length=1, max_length=100, description="e.g. `refurbished`.")
    on_behalf_of: OnBehalfOf = None
    idempotency_key: IdempotencyKey = None


@router.post("/adjustments", status_code=201)
async def adjust_stock(command: AdjustStock, runtime: Runtime, caller: Planner) -> StockChanged:
    """Adjust the new units on hand at a location, with a reason code and an actor
    (`StockAdjusted`). Never below what is reserved there."""
    application = runtime.application
    stock_id = await runtime.run_command(
        lambda: application.adjust_stock(
            command.sku,
            location=command.location,
            quantity_delta=command.quantity_delta,
            reason_code=command.reason_code,
            actor=caller.actor(command.on_behalf_of),
            note=command.note,
            serials=command.serials,
            idempotency_key=command.idempotency_key,
        ),
    )
    return StockChanged(stock_id=stock_id)


@router.post("/counts", status_code=201)
async def count_stock(command: CountStock, runtime: Runtime, caller: Warehouse) -> Counted:
    """Record a count (`StockCounted`: expected, counted, variance); a variance is booked as
    `cycle-count` adjustments."""
    application = runtime.application
    recorded = await runtime.run_command(
        lambda: application.count_stock(
            command.sku,
            location=command.location,
            counted=command.counted,
            actor=caller.actor(command.on_behalf_of),
            serials_counted=command.serials_counted,
            idempotency_key=command.idempotency_key,
        ),
    )
    return Counted(
        stock_id=recorded.stock_id, count_id=recorded.count_id, variance=recorded.variance
    )


@router.post("/condition-changes", status_code=201)
async def change_condition(
    command: ChangeCondition, runtime: Runtime, caller: Warehouse
) -> StockChanged:
    """Move a returned unit to another held condition, e.g. `refurbished` (sold as refurbished,
    never as new)."""
    application = runtime.application
    stock_id = await runtime.run_command(
        lambda: application.change_condition(
            command.sku,
            rma_id=command.rma_id,
            to_condition=command.to_condition,
            reason=command.reason,
            actor=caller.actor(command.on_behalf_of),
            idempotency_key=command.idempotency_key,
        ),
    )
    return StockChanged(stock_id=stock_id)


@router.get(
    "",
    dependencies=[allow(Role.INVENTORY, Role.WAREHOUSE, Role.CUSTOMER_SERVICE, Role.ANALYST)],
)
async def get_skus(runtime: Runtime) -> dict[str, Any]:
    """The SKUs the PIM registered, as inventory heard: what `GET /stock/{sku}` may be asked."""
    return {"skus": await runtime.run_command(runtime.application.known_skus)}


@router.get(
    "/{sku}/returned-units",
    dependencies=[allow(Role.INVENTORY, Role.WAREHOUSE, Role.CUSTOMER_SERVICE, Role.ANALYST)],
)
async def get_returned_units(sku: Sku, runtime: Runtime) -> dict[str, Any]:
    """The units of a SKU that came back and were graded (`ReturnGraded`): serial, grade (A, B,
    C or scrap), the checks that failed and who inspected them."""
    units = await runtime.run_command(runtime.application.returned_unit_grades, sku)
    return {"sku": sku, "units": units}


@router.put("/{sku}/reorder-policy")
async def set_reorder_policy(
    sku: Sku, command: SetReorderPolicy, runtime: Runtime, caller: Planner
) -> Any:
    """Set a location's reorder point: when available there falls to or below it, a
    `LowStockDetected` suggests a purchase order, once per fall."""
    application = runtime.application
    policy = ReorderPolicy(
        reorder_point=command.reorder_point,
        reorder_quantity=command.reorder_quantity,
        lead_time_days=command.lead_time_days,
    )
    await runtime.run_command(
        lambda: application.set_reorder_policy(
            sku, location=command.location, policy=policy, actor=caller.actor(command.on_behalf_of)
        ),
    )
    view = await runtime.run_command(application.get_stock_view, sku)
    return _policies(view)[command.location]


@router.get("/{sku}/movements", dependencies=[allow(Role.INVENTORY, Role.WAREHOUSE, Role.ANALYST)])
async def get_movements(
    sku: str,
    runtime: Runtime,
    location: Annotated[str | None, Query(description="Only this location.")] = None,
) -> list[dict[str, Any]]:
    """Why a figure is what it is: every change of on hand or reserved, oldest first, with time,
    actor, reason, delta and running totals per location and condition."""
    found = await runtime.run_command(runtime.application.get_movements, sku, location)
    if found is None:
        raise NotFound(f"{sku} was never in stock")
    return [asdict(movement) | {"serials": list(movement.serials)} for movement in found]


StockReader = Annotated[
    Caller,
    allow(Role.INVENTORY, Role.WAREHOUSE, Role.CUSTOMER_SERVICE, Role.ANALYST, Role.CHANNEL),
]
"""Who reads a SKU's stock: a `channel` token (admitted last, so a token that also holds another
role reads as that one) sees only what its own channel may sell."""


@router.get("/{sku}")
async def get_stock(sku: str, runtime: Runtime, caller: StockReader) -> dict[str, Any]:
    """Units on hand, reserved and available per location, and units owed to backorders.

    `locations` is the summary of new units (and `held` the conditions a return enters stock
    in) as it always was; `stock` has every location in every condition with on hand, reserved,
    available, inbound and in transit; `in_transit` the open transfers; `reorder_policies` each
    location's policy and its open low-stock alert; `available_to_sell` what each channel was
    last told it may sell, per condition; `inbound_purchase_orders` the units still due on each
    confirmed purchase order.

    A `channel` token gets its own channel's `available_to_sell` only: not the locations, the
    backorders (other channels' orders), purchase orders or other channels' figures.
    """
    view: StockView | None = await runtime.run_command(runtime.application.get_stock_view, sku)
    if caller.role is Role.CHANNEL:
        published = [] if view is None else view.available_to_sell
        own = [asdict(a) for a in published if a.channel == caller.channel]
        return {"sku": sku, "available_to_sell": own}
    levels = await runtime.run_command(runtime.application.get_stock_levels, sku)
    backorders = await runtime.run_command(runtime.application.get_backorders, sku)
    return {
        "sku": sku,
        "locations": [asdict(level) for level in levels],
        "backordered": sum(owed.quantity for owed in backorders),
        "backorders": [asdict(owed) for owed in backorders],
        "stock": [] if view is None else [asdict(row) for row in view.positions],
        "in_transit": [] if view is None else [_in_transit(moving) for moving in view.in_transit],
        "reorder_policies": _policies(view),
        "available_to_sell": [] if view is None else [asdict(a) for a in view.available_to_sell],
        "inbound_purchase_orders": [] if view is None else [asdict(line) for line in view.inbound],
    }


def _in_transit(moving: Any) -> dict[str, Any]:
    return asdict(moving) | {"serials": list(moving.serials)}


def _policies(view: StockView | None) -> dict[str, Any]:
    if view is None:
        return {}
    return {
        location: asdict(policy)
        | {
            "low_stock": None
            if location not in view.low_stock
            else asdict(view.low_stock[location])
        }
        for location, policy in view.policies.items()
    }
