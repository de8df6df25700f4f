"""HTTP for what routing and bundles are decided with: bundles' availability, the rate card."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter

from services.inventory.api.common import Runtime
from services.runtime.aggregate import NotFound
from services.runtime.auth import Caller, Role, allow

router = APIRouter(prefix="/stock", tags=["stock"])


BundleReader = Annotated[Caller, allow(Role.INVENTORY, Role.WAREHOUSE, Role.ANALYST, Role.CHANNEL)]
"""A `channel` token (admitted last: a token with another role reads as that one) sees only what
its own channel may sell of the bundle."""


@router.get("/bundles/{sku}")
async def get_bundle(sku: str, runtime: Runtime, caller: BundleReader) -> dict[str, Any]:
    """A bundle's components, how many of it each channel may sell (its scarcest component), and
    the whole kits owed to order lines (`backorders`). A `channel` token gets the components and
    its own channel's figure, not the others' nor the backorders (other channels' orders)."""
    bundle: dict[str, Any] | None = await runtime.run_command(runtime.application.get_bundle, sku)
    if bundle is None:
        raise NotFound(f"{sku} is not a bundle the PIM defined")
    if caller.role is Role.CHANNEL:
        published = bundle["available_to_sell"]
        own = {c: n for c, n in published.items() if c == caller.channel}
        return {"sku": sku, "components": bundle["components"], "available_to_sell": own}
    return bundle


@router.get("/routing/rate-card", dependencies=[allow(Role.INVENTORY, Role.ANALYST)])
async def get_rate_card(runtime: Runtime) -> Any:
    """Shipping's rate card that orders are routed with: the location that ships cheapest wins."""
    card = await runtime.run_command(runtime.application.get_rate_card)
    if card is None:
        raise NotFound("no rate card has been published yet")
    return json.loads(card)
