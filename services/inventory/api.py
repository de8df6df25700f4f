"""HTTP commands and queries on stock."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from contracts.base import LocationCode, Sku
from services.inventory.application import InventoryApplication
from services.inventory.domain import Receipt
from services.runtime.aggregate import DomainError
from services.runtime.service import ServiceRuntime, runtime_of

router = APIRouter(prefix="/stock", tags=["stock"])

Runtime = Annotated[ServiceRuntime[InventoryApplication], Depends(runtime_of)]


SerialNumber = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$")]


class ReceiveStock(BaseModel):
    """Units that arrived at a location, with why and who."""

    model_config = ConfigDict(extra="forbid")

    sku: Sku
    location: LocationCode
    quantity: int = Field(ge=1, le=1_000_000, description="Units received.")
    reason: str = Field(min_length=1, max_length=100, description="e.g. `purchase-receipt`.")
    actor: str = Field(min_length=1, max_length=100, description="Who records the receipt.")
    reference: str | None = Field(default=None, max_length=100, description="PO, ASN or count.")
    serials: list[SerialNumber] = Field(
        default_factory=list,
        max_length=10_000,
        description="One serial number per unit, for serialized products.",
    )
    batch: str | None = Field(default=None, max_length=64, description="Production batch.")


class StockChanged(BaseModel):
    stock_id: uuid.UUID


@router.post("/receipts", status_code=201)
async def receive_stock(command: ReceiveStock, runtime: Runtime) -> StockChanged:
    """Record a receipt of units into sellable stock."""
    application = runtime.application
    try:
        receipt = Receipt(
            location=command.location,
            quantity=command.quantity,
            reason=command.reason,
            actor=command.actor,
            reference=command.reference,
            serials=tuple(command.serials),
            batch=command.batch,
        )
        stock_id = await runtime.run_command(application.receive_stock, command.sku, receipt)
    except DomainError as error:
        raise HTTPException(status_code=422, detail=str(error)) from None
    return StockChanged(stock_id=stock_id)


@router.get("/routing/rate-card")
async def get_rate_card(runtime: Runtime) -> Any:
    """Shipping's rate card that orders are routed with: the location that ships cheapest wins."""
    card = await runtime.run_command(runtime.application.get_rate_card)
    if card is None:
        raise HTTPException(status_code=404, detail="no rate card has been published yet")
    return json.loads(card)


@router.get("/{sku}")
async def get_stock(sku: str, runtime: Runtime) -> dict[str, Any]:
    """Units on hand, reserved and available per location, and units owed to backorders."""
    levels = await runtime.run_command(runtime.application.get_stock_levels, sku)
    backorders = await runtime.run_command(runtime.application.get_backorders, sku)
    return {
        "sku": sku,
        "locations": [asdict(level) for level in levels],
        "backordered": sum(owed.quantity for owed in backorders),
        "backorders": [asdict(owed) for owed in backorders],
    }
