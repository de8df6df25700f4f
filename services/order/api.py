"""HTTP queries on orders."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from contracts.channel import order_id_for
from services.order.application import OrderApplication
from services.order.domain import Order, ShipmentRequest
from services.runtime.auth import Caller, OnBehalfOf, Role, allow
from services.runtime.service import ServiceRuntime, runtime_of

router = APIRouter(prefix="/orders", tags=["orders"])

Runtime = Annotated[ServiceRuntime[OrderApplication], Depends(runtime_of)]
Reader = Annotated[Caller, allow(Role.CUSTOMER_SERVICE, Role.ANALYST, Role.CHANNEL)]
"""Reads an order: customer service, analysts, and a channel its own channel's orders."""
CustomerService = Annotated[Caller, allow(Role.CUSTOMER_SERVICE)]


def _view(order: Order) -> dict[str, Any]:
    return {
        "order_id": str(order.id),
        "version": order.version,
        "status": str(order.status),
        "on_hold": order.on_hold,
        "hold_reason": order.holding_reasons,
        "unknown_skus": list(order.unknown_skus),
        "cancellation_reason": order.cancellation_reason,
        "signature_required": order.signature_required,
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
        "shipments": [_shipment_view(order, shipment) for shipment in order.shipments],
        "delivery_exceptions": list(order.delivery_exceptions),
    }


def _shipment_view(order: Order, shipment: ShipmentRequest) -> dict[str, Any]:
    dispatch = next((d for d in order.dispatches if d.shipment_id == shipment.shipment_id), None)
    tracking = order.latest_tracking(shipment.shipment_id)
    released = order.released_at_of(shipment.shipment_id)
    waiting = order.waiting_at_warehouse(shipment.shipment_id, datetime.now(UTC))
    return {
        "shipment_id": str(shipment.shipment_id),
        "location": shipment.location,
        "released_at": None if released is None else released.isoformat(),
        "waiting_at_warehouse_seconds": None if waiting is None else int(waiting.total_seconds()),
        "lines": [asdict(line) for line in shipment.lines],
        "shipped": dispatch is not None,
        "delivered": shipment.shipment_id in order.delivered,
        "carrier": dispatch.carrier if dispatch else None,
        "service": dispatch.service if dispatch else None,
        "tracking_number": dispatch.tracking_number if dispatch else None,
        "serials": list(dispatch.serials) if dispatch else [],
        "tracking": None
        if tracking is None
        else {
            "status": tracking.status,
            "description": tracking.description,
            "at": tracking.at.isoformat(),
        },
    }


async def _get(
    runtime: ServiceRuntime[OrderApplication], order_id: uuid.UUID, caller: Caller
) -> dict[str, Any]:
    order = await runtime.run_command(runtime.application.get_order, order_id)
    caller.may_act_for_channel(order.channel)
    return _view(order)


@router.get(
    "/eligibility/{sku}",
    dependencies=[allow(Role.CHANNEL, Role.CUSTOMER_SERVICE, Role.INVENTORY, Role.ANALYST)],
)
async def get_market_eligibility(sku: str, runtime: Runtime) -> dict[str, Any]:
    """Where the order service, from the PIM's catalogue entries, lets a SKU ship: per market,
    null when listed, else why not. A SKU the PIM never registered is not checked."""
    knowledge = await runtime.run_command(runtime.application.catalogue_knowledge, [sku])
    markets = knowledge.listings.get(sku)
    return {"sku": sku, "checked": markets is not None, "markets": dict(markets or {})}


@router.get("/{order_id}")
async def get_order(order_id: uuid.UUID, runtime: Runtime, caller: Reader) -> dict[str, Any]:
    """An order: its state, lines and allocation."""
    return await _get(runtime, order_id, caller)


@router.get("/by-channel/{channel}/{channel_order_id}")
async def get_order_by_channel(
    channel: str, channel_order_id: str, runtime: Runtime, caller: Reader
) -> dict[str, Any]:
    """An order by the channel's own id."""
    caller.may_act_for_channel(channel)
    return await _get(runtime, order_id_for(channel, channel_order_id), caller)


class HoldOrder(BaseModel):
    """Put an order on hold."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="Why the order is held.")
    on_behalf_of: OnBehalfOf = None


class ReleaseHold(BaseModel):
    """Release an order from hold."""

    model_config = ConfigDict(extra="forbid")

    on_behalf_of: OnBehalfOf = None
    note: str = Field(default="", max_length=500, description="The reviewer's note.")


class CancelOrder(BaseModel):
    """Cancel an order that has not shipped."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="Why it is cancelled.")
    on_behalf_of: OnBehalfOf = None


async def _command(
    runtime: ServiceRuntime[OrderApplication], order_id: uuid.UUID, change: Any, caller: Caller
) -> dict[str, Any]:
    await runtime.run_command(change)
    return await _get(runtime, order_id, caller)


@router.post("/{order_id}/hold")
async def hold_order(
    order_id: uuid.UUID, command: HoldOrder, runtime: Runtime, caller: CustomerService
) -> dict[str, Any]:
    """Hold an order: it is not released to a warehouse and gets no label until released."""
    orders = runtime.application
    return await _command(
        runtime,
        order_id,
        lambda: orders.hold_order(
            order_id, reason=command.reason, actor=caller.actor(command.on_behalf_of)
        ),
        caller,
    )


@router.post("/{order_id}/release-hold")
async def release_hold(
    order_id: uuid.UUID, command: ReleaseHold, runtime: Runtime, caller: CustomerService
) -> dict[str, Any]:
    """Release a held order; allocated stock goes to the warehouse."""
    orders = runtime.application
    return await _command(
        runtime,
        order_id,
        lambda: orders.release_hold(
            order_id, actor=caller.actor(command.on_behalf_of), note=command.note
        ),
        caller,
    )


@router.post("/{order_id}/cancel")
async def cancel_order(
    order_id: uuid.UUID, command: CancelOrder, runtime: Runtime, caller: CustomerService
) -> dict[str, Any]:
    """Cancel an order before it ships; its reserved stock is released."""
    orders = runtime.application
    return await _command(
        runtime,
        order_id,
        lambda: orders.cancel_order(
            order_id, reason=command.reason, actor=caller.actor(command.on_behalf_of)
        ),
        caller,
    )
