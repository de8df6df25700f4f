"""HTTP queries on fulfilments."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from services.runtime.auth import Role, allow
from services.runtime.service import ServiceRuntime, runtime_of
from services.warehouse_adapter.application import WarehouseAdapterApplication

router = APIRouter(prefix="/fulfilments", tags=["fulfilments"])

Runtime = Annotated[ServiceRuntime[WarehouseAdapterApplication], Depends(runtime_of)]


@router.get(
    "/{shipment_id}", dependencies=[allow(Role.WAREHOUSE, Role.CUSTOMER_SERVICE, Role.ANALYST)]
)
async def get_fulfilment(shipment_id: uuid.UUID, runtime: Runtime) -> dict[str, Any]:
    """A shipment's fulfilment: where, what, and its state at the warehouse."""
    fulfilment = await runtime.run_command(runtime.application.get_fulfilment, shipment_id)
    return {
        "shipment_id": str(fulfilment.id),
        "order_id": str(fulfilment.order_id),
        "location": fulfilment.location,
        "status": str(fulfilment.status),
        "lines": [asdict(line) for line in fulfilment.lines],
        "ship_to": asdict(fulfilment.ship_to),
        "signature_required": fulfilment.signature_required,
    }
