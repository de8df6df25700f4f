"""HTTP for transfers between locations: dispatched, received, looked up."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from contracts.base import LocationCode, Sku
from services.inventory.api.common import (
    IdempotencyKey,
    Planner,
    Runtime,
    SerialNumber,
    Warehouse,
)
from services.runtime.auth import OnBehalfOf, Role, allow

router = APIRouter(prefix="/stock", tags=["stock"])


class TransferStock(BaseModel):
    """Units to send from one location to another."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    sku: Sku
    from_location: LocationCode = Field(alias="from")
    to_location: LocationCode = Field(alias="to")
    quantity: int = Field(ge=1, le=1_000_000, description="Units to send.")
    serials: list[SerialNumber] = Field(
        default_factory=list, max_length=10_000, description="Serialized products: which units."
    )
    on_behalf_of: OnBehalfOf = None
    reason: str | None = Field(default=None, max_length=100, description="e.g. `rebalance`.")
    idempotency_key: IdempotencyKey = None


class ReceiveTransfer(BaseModel):
    """What arrived of a transfer at its destination; everything, unless told otherwise."""

    model_config = ConfigDict(extra="forbid")

    on_behalf_of: OnBehalfOf = None
    quantity_received: int | None = Field(
        default=None, ge=0, description="Units that arrived, when fewer than dispatched."
    )
    serials_received: list[SerialNumber] | None = Field(
        default=None, max_length=10_000, description="Serialized products: the units that arrived."
    )


@router.post("/transfers", status_code=201)
async def dispatch_transfer(
    command: TransferStock, runtime: Runtime, caller: Planner
) -> dict[str, Any]:
    """Send available units to another location; in transit until received there."""
    application = runtime.application
    transfer_id = await runtime.run_command(
        lambda: application.dispatch_transfer(
            command.sku,
            from_location=command.from_location,
            to_location=command.to_location,
            quantity=command.quantity,
            actor=caller.actor(command.on_behalf_of),
            serials=command.serials,
            reason=command.reason,
            idempotency_key=command.idempotency_key,
        ),
    )
    return await get_transfer(transfer_id, runtime)


@router.post("/transfers/{transfer_id}/receipt")
async def receive_transfer(
    transfer_id: uuid.UUID, command: ReceiveTransfer, runtime: Runtime, caller: Warehouse
) -> dict[str, Any]:
    """Receive a transfer at its destination; a shortfall is written off as `loss`. A repeated
    receipt changes nothing."""
    application = runtime.application
    await runtime.run_command(
        lambda: application.receive_transfer(
            transfer_id,
            actor=caller.actor(command.on_behalf_of),
            quantity_received=command.quantity_received,
            serials_received=command.serials_received,
        ),
    )
    return await get_transfer(transfer_id, runtime)


@router.get(
    "/transfers/{transfer_id}", dependencies=[allow(Role.WAREHOUSE, Role.INVENTORY, Role.ANALYST)]
)
async def get_transfer(transfer_id: uuid.UUID, runtime: Runtime) -> dict[str, Any]:
    """A transfer: where from and to, what, and whether (and what of it) arrived."""
    transfer = await runtime.run_command(lambda: runtime.application.get_transfer(transfer_id))
    moving = transfer.moving
    return {
        "transfer_id": transfer.id,
        "sku": transfer.sku,
        "from": moving.from_location,
        "to": moving.to_location,
        "quantity": moving.quantity,
        "serials": list(moving.serials),
        "status": transfer.status,
        "dispatched_by": transfer.dispatched_by,
        "reason": transfer.reason,
        "received_by": transfer.received_by,
        "arrival": None if transfer.arrival is None else asdict(transfer.arrival),
    }
