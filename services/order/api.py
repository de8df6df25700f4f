"""HTTP queries on orders."""

from __future__ import annotations

import functools
import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from contracts.channel import order_id_for
from services.order.application import OrderApplication
from services.order.config import OrderSettings
from services.order.domain import Order, OrderStatus, ShipmentRequest
from services.runtime.aggregate import NotFound
from services.runtime.auth import Caller, OnBehalfOf, Role, allow
from services.runtime.privacy import (
    MAX_KEYS_ASKED,
    KeyLookup,
    encoded_key,
    reveal,
    reveal_optional,
)
from services.runtime.service import ServiceRuntime, runtime_of

router = APIRouter(prefix="/orders", tags=["orders"])

Runtime = Annotated[ServiceRuntime[OrderApplication], Depends(runtime_of)]
Reader = Annotated[Caller, allow(Role.CUSTOMER_SERVICE, Role.ANALYST, Role.CHANNEL)]
"""Reads an order: customer service, analysts, and a channel its own channel's orders."""
CustomerService = Annotated[Caller, allow(Role.CUSTOMER_SERVICE)]
Overseer = [allow(Role.CUSTOMER_SERVICE, Role.ANALYST, Role.OPERATOR)]
"""Sees every channel's orders at once: customer service, analysts and operators (not a
channel)."""


def _view(order: Order, keys: KeyLookup) -> dict[str, Any]:
    customer, address = order.customer, order.shipping_address
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
        "customer": asdict(customer)
        | {"name": reveal(customer.name, keys), "email": reveal(customer.email, keys)},
        "shipping_address": {
            field: reveal_optional(value, keys) if field != "country" else value
            for field, value in asdict(address).items()
        },
        "currency": order.currency,
        "order_total": format(order.total, "f"),
        "fraud_score": order.fraud_score,
        "service_level": order.service_level,
        "deliver_by": None if order.deliver_by is None else order.deliver_by.isoformat(),
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
    # The order service keeps the keys: its readers see the customer in clear, or "erased".
    view: dict[str, Any] = await runtime.run_command(
        _view, order, runtime.application.customer_keys
    )
    return view


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


def _stuck_after(runtime: ServiceRuntime[OrderApplication], seconds: float | None) -> timedelta:
    settings = runtime.settings
    assert isinstance(settings, OrderSettings)
    return timedelta(seconds=seconds or settings.stuck_after_seconds)


def _listed(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "order_id": str(row["order_id"]),
        "channel": row["channel"],
        "channel_order_id": row["channel_order_id"],
        "state": row["state"],
        "state_since": row["state_since"].isoformat(),
        "seconds_in_state": int((now - row["state_since"]).total_seconds()),
        "held_because": row["held_because"],
        "placed_at": row["placed_at"].isoformat(),
    }


StuckAfter = Annotated[
    float | None,
    Query(
        gt=0,
        description="Seconds in one status that make an order stuck (default: the "
        "service's `UNITRAIL_ORDER_STUCK_AFTER_SECONDS`).",
    ),
]
Limit = Annotated[int, Query(ge=1, le=1000, description="At most this many orders.")]


@router.get("/states", dependencies=Overseer)
async def get_order_states(
    runtime: Runtime, stuck_after_seconds: StuckAfter = None
) -> dict[str, Any]:
    """How many orders are in each status, how many of them are held, and how many have been in
    it longer than the stuck threshold (never those delivered or cancelled)."""
    now, stuck_after = datetime.now(UTC), _stuck_after(runtime, stuck_after_seconds)
    rows = await runtime.run_command(runtime.application.state_counts, stuck_after, now)
    return {
        "stuck_after_seconds": stuck_after.total_seconds(),
        "states": {
            row["state"]: {
                "orders": row["orders"],
                "held": row["held"],
                "stuck": row["stuck"],
                "oldest_since": row["oldest_since"].isoformat(),
            }
            for row in rows
        },
        "orders": sum(row["orders"] for row in rows),
        "held": sum(row["held"] for row in rows),
        "stuck": sum(row["stuck"] for row in rows),
    }


@router.get("/stuck", dependencies=Overseer)
async def get_stuck_orders(
    runtime: Runtime,
    stuck_after_seconds: StuckAfter = None,
    state: Annotated[str | None, Query(max_length=40, description="Only this status.")] = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    """Orders in one status (not delivered or cancelled) longer than the threshold, longest
    first."""
    now, stuck_after = datetime.now(UTC), _stuck_after(runtime, stuck_after_seconds)
    rows = await runtime.run_command(
        functools.partial(runtime.application.stuck_orders, state=state, limit=limit),
        stuck_after,
        now,
    )
    return {
        "stuck_after_seconds": stuck_after.total_seconds(),
        "orders": [_listed(row, now) for row in rows],
    }


@router.get("/in-state/{state}", dependencies=Overseer)
async def get_orders_in_state(
    state: OrderStatus, runtime: Runtime, limit: Limit = 100
) -> dict[str, Any]:
    """The orders in one status, latest to enter it first."""
    now = datetime.now(UTC)
    rows = await runtime.run_command(runtime.application.orders_in_state, str(state), limit)
    return {"state": str(state), "orders": [_listed(row, now) for row in rows]}


@router.get("/held", dependencies=Overseer)
async def get_held_orders(runtime: Runtime, limit: Limit = 100) -> dict[str, Any]:
    """Orders something holds (a person's hold, a fraud check, SKUs the PIM has not registered),
    longest first, with what holds each."""
    now = datetime.now(UTC)
    rows = await runtime.run_command(runtime.application.held_orders, limit)
    return {"orders": [_listed(row, now) for row in rows]}


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


customers = APIRouter(tags=["customers"])


@customers.get("/customer-keys/{customer_id}", dependencies=[allow(Role.PERSONAL_DATA)])
async def get_customer_key(customer_id: str, runtime: Runtime) -> dict[str, str]:
    """A customer's key, for a service that shows or hands on their personal data in clear
    (`services.runtime.privacy`); 404 once the customer is forgotten."""
    key = await runtime.run_command(runtime.application.customer_keys.key, customer_id)
    if key is None:
        raise NotFound(f"no key for customer {customer_id}: forgotten, or no order yet")
    return {"customer_id": customer_id, "key": encoded_key(key)}


class CustomerKeysQuery(BaseModel):
    """Customers whose keys are wanted, at most `MAX_KEYS_ASKED` at once."""

    model_config = ConfigDict(extra="forbid")

    customer_ids: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        min_length=1,
        max_length=MAX_KEYS_ASKED,
        description="Customer ids, as the channels give them.",
    )


@customers.post("/customer-keys/lookup", dependencies=[allow(Role.PERSONAL_DATA)])
async def look_up_customer_keys(
    query: CustomerKeysQuery, runtime: Runtime
) -> dict[str, dict[str, str | None]]:
    """Many customers' keys in one request (a recall's customers, a relay batch's): `keys` maps
    each customer id asked for to its key, or to null once the customer is forgotten (or has
    no order yet), as `GET /customer-keys/{customer_id}` answers 404."""
    found = await runtime.run_command(runtime.application.customer_keys.keys, query.customer_ids)
    return {
        "keys": {
            customer_id: encoded_key(found[customer_id]) if customer_id in found else None
            for customer_id in query.customer_ids
        }
    }


@customers.post("/customers/{customer_id}/forget")
async def forget_customer(
    customer_id: str, runtime: Runtime, caller: Annotated[Caller, allow()]
) -> dict[str, str]:
    """Forget a customer (GDPR Art. 17; `admin` only): their key is deleted, so every sealed value
    of theirs reads as "erased" wherever a copy went, and `CustomerForgotten` tells every service
    holding their data to drop it. Order ids and everything else stay."""
    erasure_id = await runtime.run_command(
        functools.partial(runtime.application.forget_customer, actor=caller.actor()), customer_id
    )
    return {"customer_id": customer_id, "erasure_id": str(erasure_id)}
