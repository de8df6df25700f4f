"""HTTP queries on orders."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException

from contracts.channel import order_id_for
from services.order.application import OrderApplication, UnknownOrder
from services.order.domain import Order
from services.runtime.service import ServiceRuntime, runtime_of

router = APIRouter(prefix="/orders", tags=["orders"])

Runtime = Annotated[ServiceRuntime[OrderApplication], Depends(runtime_of)]


def _view(order: Order) -> dict[str, Any]:
    return {
        "order_id": str(order.id),
        "version": order.version,
        "status": str(order.status),
        "channel": order.channel,
        "channel_order_id": order.channel_order_id,
        "placed_at": order.placed_at.isoformat(),
        "customer": asdict(order.customer),
        "shipping_address": asdict(order.shipping_address),
        "currency": order.currency,
        "order_total": format(order.total, "f"),
        "fraud_score": order.fraud_score,
        "lines": [
            asdict(line) | {"unit_price": format(line.unit_price, "f")} for line in order.lines
        ],
        "allocation": [asdict(line) for line in order.allocation],
    }


async def _get(runtime: ServiceRuntime[OrderApplication], order_id: uuid.UUID) -> dict[str, Any]:
    try:
        order = await runtime.run_command(runtime.application.get_order, order_id)
    except UnknownOrder:
        raise HTTPException(status_code=404, detail=f"no order {order_id}") from None
    return _view(order)


@router.get("/{order_id}")
async def get_order(order_id: uuid.UUID, runtime: Runtime) -> dict[str, Any]:
    """An order: its state, lines and allocation."""
    return await _get(runtime, order_id)


@router.get("/by-channel/{channel}/{channel_order_id}")
async def get_order_by_channel(
    channel: str, channel_order_id: str, runtime: Runtime
) -> dict[str, Any]:
    """An order by the channel's own id."""
    return await _get(runtime, order_id_for(channel, channel_order_id))
