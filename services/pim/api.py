"""HTTP commands and queries on products."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from services.pim.application import PimApplication, UnknownProduct
from services.pim.domain import ProductFacts
from services.runtime.aggregate import DomainError
from services.runtime.service import ServiceRuntime, runtime_of

router = APIRouter(prefix="/products", tags=["products"])

Runtime = Annotated[ServiceRuntime[PimApplication], Depends(runtime_of)]


class PutProduct(BaseModel):
    """A product's facts, as they are now."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Product name.")
    weight_grams: int = Field(ge=1, le=1_000_000, description="Shipping weight of one unit.")
    lithium_ion: bool = Field(description="Contains a lithium-ion battery.")
    serialized: bool = Field(default=True, description="Each unit carries a serial number.")
    warranty_months: int = Field(default=24, ge=0, le=240, description="Warranty in months.")


async def _view(runtime: ServiceRuntime[PimApplication], sku: str) -> dict[str, Any]:
    try:
        product = await runtime.run_command(runtime.application.get_product, sku)
    except UnknownProduct:
        raise HTTPException(status_code=404, detail=f"no product {sku}") from None
    return {"product_id": str(product.id), "sku": product.sku, "version": product.version} | asdict(
        product.facts
    )


@router.put("/{sku}")
async def put_product(sku: str, command: PutProduct, runtime: Runtime) -> dict[str, Any]:
    """Register a product or update its facts; every service and channel learns of it."""
    facts = ProductFacts(**command.model_dump())
    try:
        await runtime.run_command(runtime.application.put_product, sku, facts)
    except DomainError as error:
        raise HTTPException(status_code=422, detail=str(error)) from None
    return await _view(runtime, sku)


@router.get("/{sku}")
async def get_product(sku: str, runtime: Runtime) -> dict[str, Any]:
    """A product and its facts."""
    return await _view(runtime, sku)
