"""HTTP queries on consignments."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from services.runtime.aggregate import NotFound
from services.runtime.auth import Role, allow
from services.runtime.service import ServiceRuntime, runtime_of
from services.shipping.application import ShippingApplication

router = APIRouter(prefix="/consignments", tags=["consignments"])

Runtime = Annotated[ServiceRuntime[ShippingApplication], Depends(runtime_of)]


@router.get(
    "/{shipment_id}", dependencies=[allow(Role.WAREHOUSE, Role.CUSTOMER_SERVICE, Role.ANALYST)]
)
async def get_consignment(shipment_id: uuid.UUID, runtime: Runtime) -> dict[str, Any]:
    """A parcel's consignment: weight, constraints, hold, and its label once bought."""
    consignment = await runtime.run_command(runtime.application.get_consignment, shipment_id)
    label = consignment.label
    return {
        "shipment_id": str(consignment.id),
        "order_id": str(consignment.order_id),
        "status": str(consignment.status),
        "weight_grams": consignment.weight_grams,
        "ground_only": consignment.ground_only,
        "hold_reason": consignment.hold_reason,
        "label": None
        if label is None
        else asdict(label.request)
        | {"tracking_number": label.tracking_number}
        | {
            key: format(value, "f")
            for key, value in asdict(label.request).items()
            if key in ("cost", "insured_value", "insurance_cost")
        },
    }


@router.get(
    "/product-facts/{sku}",
    tags=["products"],
    dependencies=[allow(Role.WAREHOUSE, Role.INVENTORY, Role.ANALYST)],
)
async def get_product_facts(sku: str, runtime: Runtime) -> dict[str, Any]:
    """What shipping knows of a product from the PIM: weight, whether it may fly, and its outer
    dimensions (mm) and volume (cm³) when the PIM gave them."""
    rows = await runtime.run_command(
        runtime.application.read,
        "SELECT f.sku, f.weight_grams, f.lithium_ion, d.length_mm, d.width_mm, d.height_mm,"
        " d.volume_cm3 FROM product_facts f LEFT JOIN product_dimensions d USING (sku)"
        " WHERE f.sku = %s",
        sku,
    )
    if not rows:
        raise NotFound(f"no product facts for {sku} yet")
    return dict(rows[0])
