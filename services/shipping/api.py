"""HTTP queries on consignments, and the carriers' rate tables: listed, and uploaded."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from contracts.shipping import RateTableDocument
from services.runtime.aggregate import NotFound
from services.runtime.auth import Caller, Role, allow
from services.runtime.service import ServiceRuntime, runtime_of
from services.shipping import translators
from services.shipping.application import ShippingApplication
from services.shipping.domain import RateTable

router = APIRouter(prefix="/consignments", tags=["consignments"])

Runtime = Annotated[ServiceRuntime[ShippingApplication], Depends(runtime_of)]

Planner = Annotated[Caller, allow(Role.INVENTORY)]


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
        "service_level": consignment.service_level,
        "deliver_by": None
        if consignment.deliver_by is None
        else consignment.deliver_by.isoformat(),
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


rate_tables = APIRouter(prefix="/rate-tables", tags=["rate tables"])


def _table_view(
    in_force_from: date, table: RateTable, today: date, current: bool
) -> dict[str, Any]:
    return {
        "version": table.version,
        "effective_from": table.effective_from.isoformat(),
        "in_force_from": in_force_from.isoformat(),
        "state": "in force" if current else ("scheduled" if in_force_from > today else "replaced"),
        "services": [
            {
                key: format(value, "f") if isinstance(value, Decimal) else value
                for key, value in asdict(service).items()
            }
            for service in table.services
        ],
    }


@rate_tables.get("", dependencies=[allow(Role.INVENTORY, Role.WAREHOUSE, Role.ANALYST)])
async def list_rate_tables(runtime: Runtime) -> dict[str, Any]:
    """Every version of the carriers' rates recorded, oldest first: in force, scheduled or
    replaced, with the day each is in force from."""
    card = await runtime.run_command(runtime.application.rate_card)
    today = runtime.application.today()
    current = card.table_at(today)
    return {
        "today": today.isoformat(),
        "in_force": None if current is None else current.version,
        "tables": [
            _table_view(since, table, today, table is current) for since, table in card.tables
        ],
    }


@rate_tables.post("", status_code=201)
async def add_rate_table(
    document: RateTableDocument, runtime: Runtime, caller: Planner, response: Response
) -> dict[str, Any]:
    """Record a version of the carriers' rates, in force from its effective date (or from today,
    when that has passed): labels are bought at it from then on. Sending the same version again
    changes nothing (200); the same version with other rates is refused (409): a changed table
    needs a new version."""
    in_force_from = await runtime.run_command(
        runtime.application.add_rate_table,
        translators.rate_table(document),
        caller.actor(),
    )
    if in_force_from is None:
        response.status_code = 200
    tables = await list_rate_tables(runtime)
    recorded: dict[str, Any] = next(
        table for table in tables["tables"] if table["version"] == document.version
    )
    return recorded
