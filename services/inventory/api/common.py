"""What the inventory API's routers share: the runtime, the callers' roles, request fields."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends
from pydantic import BaseModel, Field

from services.inventory.application import InventoryApplication
from services.runtime.auth import Caller, Role, allow
from services.runtime.service import ServiceRuntime, runtime_of

Runtime = Annotated[ServiceRuntime[InventoryApplication], Depends(runtime_of)]


Warehouse = Annotated[Caller, allow(Role.WAREHOUSE)]


Planner = Annotated[Caller, allow(Role.INVENTORY)]


SerialNumber = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$")]


IdempotencyKey = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=128,
        description="The client's id of this request: sending it again with the same command "
        "answers with the same result and changes nothing; with a different command it is "
        "refused (409).",
    ),
]


class StockChanged(BaseModel):
    stock_id: uuid.UUID
