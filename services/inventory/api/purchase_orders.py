"""HTTP for purchase orders: raised, confirmed, ASNs, goods received, cancelled, looked up."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from contracts.base import LocationCode, Sku
from contracts.channel import CurrencyCode
from contracts.inventory import PurchaseOrderId
from services.inventory.api.common import (
    Planner,
    Runtime,
    SerialNumber,
    Warehouse,
)
from services.inventory.domain import (
    AdvanceShippingNotice,
    DeliveredLine,
    GoodsReceipt,
    OrderedLine,
    PurchaseOrder,
)
from services.runtime.auth import OnBehalfOf, Role, allow

router = APIRouter(prefix="/purchase-orders", tags=["purchase orders"])


DocumentNumber = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"),
]


class PurchaseOrderLineRequest(BaseModel):
    """What to order of one SKU, and what one unit costs."""

    model_config = ConfigDict(extra="forbid")

    sku: Sku
    quantity: int = Field(ge=1, le=1_000_000, description="Units ordered.")
    unit_cost: Decimal = Field(
        ge=0, max_digits=18, decimal_places=4, description="What one unit costs."
    )
    currency: CurrencyCode


class RaisePurchaseOrder(BaseModel):
    """A purchase order to a supplier: where the goods go, when, and what."""

    model_config = ConfigDict(extra="forbid")

    purchase_order_id: PurchaseOrderId | None = Field(
        default=None, description="The order's number; one is given when left out."
    )
    supplier: str = Field(min_length=1, max_length=200, description="Who the goods come from.")
    location: LocationCode = Field(description="Where the goods are to be delivered.")
    expected_on: date = Field(description="When they are expected.")
    lines: list[PurchaseOrderLineRequest] = Field(
        min_length=1, max_length=1_000, description="One line per SKU."
    )
    on_behalf_of: OnBehalfOf = None


class ConfirmPurchaseOrder(BaseModel):
    """The supplier confirmed the order."""

    model_config = ConfigDict(extra="forbid")

    on_behalf_of: OnBehalfOf = None


class CancelPurchaseOrder(BaseModel):
    """Cancel what has not arrived."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=200, description="Why.")
    on_behalf_of: OnBehalfOf = None


class DeliveredUnitsRequest(BaseModel):
    """Units of one SKU shipped (on an ASN) or received, with serials and batch if known."""

    model_config = ConfigDict(extra="forbid")

    sku: Sku
    quantity: int = Field(ge=1, le=1_000_000, description="Units.")
    serials: list[SerialNumber] = Field(
        default_factory=list,
        max_length=10_000,
        description="One serial number per unit, for serialized products.",
    )
    batch: str | None = Field(default=None, max_length=64, description="Production batch.")

    def line(self) -> DeliveredLine:
        return DeliveredLine(self.sku, self.quantity, tuple(self.serials), self.batch)


class RecordAsn(BaseModel):
    """The supplier's advance shipping notice: what it shipped and when it should arrive."""

    model_config = ConfigDict(extra="forbid")

    asn_id: DocumentNumber = Field(description="The supplier's ASN number.")
    expected_on: date = Field(description="When the shipment is expected.")
    lines: list[DeliveredUnitsRequest] = Field(min_length=1, max_length=1_000)
    on_behalf_of: OnBehalfOf = None


class ReceiveGoods(BaseModel):
    """Goods counted in at a dock (one without a 3PL integration) under the order."""

    model_config = ConfigDict(extra="forbid")

    receipt_id: DocumentNumber | None = Field(
        default=None,
        description="The dock's receipt number; a repeat of an accepted one changes nothing. "
        "One is given when left out.",
    )
    location: LocationCode | None = Field(
        default=None, description="Where they arrived; the order's destination when left out."
    )
    asn_id: DocumentNumber | None = Field(default=None, description="The ASN they came under.")
    received_at: datetime | None = Field(default=None, description="When; now when left out.")
    lines: list[DeliveredUnitsRequest] = Field(min_length=1, max_length=1_000)
    on_behalf_of: OnBehalfOf = None


@router.post("", status_code=201)
async def raise_purchase_order(
    command: RaisePurchaseOrder, runtime: Runtime, caller: Planner
) -> dict[str, Any]:
    """Raise a purchase order (`PurchaseOrderRaised`); nothing is inbound until it is confirmed."""
    application = runtime.application
    number = command.purchase_order_id or f"PO-{uuid.uuid4().hex[:10].upper()}"
    await runtime.run_command(
        lambda: application.raise_purchase_order(
            purchase_order_id=number,
            supplier=command.supplier,
            location=command.location,
            expected_on=command.expected_on,
            lines=[
                OrderedLine(line.sku, line.quantity, line.unit_cost, line.currency)
                for line in command.lines
            ],
            actor=caller.actor(command.on_behalf_of),
        ),
    )
    return await get_purchase_order(number, runtime)


@router.post("/{purchase_order_id}/confirmation")
async def confirm_purchase_order(
    purchase_order_id: str, command: ConfirmPurchaseOrder, runtime: Runtime, caller: Planner
) -> dict[str, Any]:
    """The supplier confirmed the order (`PurchaseOrderConfirmed`): its units are inbound at its
    destination, and the warehouse is told to expect them."""
    application = runtime.application
    await runtime.run_command(
        lambda: application.confirm_purchase_order(
            purchase_order_id, actor=caller.actor(command.on_behalf_of)
        ),
    )
    return await get_purchase_order(purchase_order_id, runtime)


@router.post("/{purchase_order_id}/asns", status_code=201)
async def record_asn(
    purchase_order_id: str, command: RecordAsn, runtime: Runtime, caller: Planner
) -> dict[str, Any]:
    """Record the supplier's advance shipping notice (`AdvanceShippingNoticeRecorded`) against a
    confirmed order; the warehouse is told what the shipment carries."""
    application = runtime.application
    asn = AdvanceShippingNotice(
        command.asn_id, command.expected_on, tuple(line.line() for line in command.lines)
    )
    await runtime.run_command(
        lambda: application.record_asn(
            purchase_order_id, asn, actor=caller.actor(command.on_behalf_of)
        )
    )
    return await get_purchase_order(purchase_order_id, runtime)


@router.post("/{purchase_order_id}/receipts", status_code=201)
async def receive_goods(
    purchase_order_id: str, command: ReceiveGoods, runtime: Runtime, caller: Warehouse
) -> dict[str, Any]:
    """Receive goods against the order, whole or not at all (`PurchaseOrderReceived`, and
    `StockReceived` per line with the unit cost). A 422 names every problem: not confirmed or
    cancelled, another location, a SKU not on the order, more than outstanding, serials not one
    per unit or received before."""
    application = runtime.application

    def receive() -> uuid.UUID:
        order = application.get_purchase_order(purchase_order_id)
        receipt = GoodsReceipt(
            receipt_id=command.receipt_id or f"R-{uuid.uuid4().hex[:10].upper()}",
            location=command.location or order.location,
            received_at=command.received_at or datetime.now(UTC),
            actor=caller.actor(command.on_behalf_of),
            lines=tuple(line.line() for line in command.lines),
            asn_id=command.asn_id,
        )
        return application.receive_goods(purchase_order_id, receipt)

    await runtime.run_command(receive)
    return await get_purchase_order(purchase_order_id, runtime)


@router.post("/{purchase_order_id}/cancellation")
async def cancel_purchase_order(
    purchase_order_id: str, command: CancelPurchaseOrder, runtime: Runtime, caller: Planner
) -> dict[str, Any]:
    """Cancel what has not arrived (`PurchaseOrderCancelled`); it is no longer inbound. A repeat
    changes nothing."""
    application = runtime.application
    await runtime.run_command(
        lambda: application.cancel_purchase_order(
            purchase_order_id, reason=command.reason, actor=caller.actor(command.on_behalf_of)
        ),
    )
    return await get_purchase_order(purchase_order_id, runtime)


@router.get(
    "/{purchase_order_id}", dependencies=[allow(Role.INVENTORY, Role.WAREHOUSE, Role.ANALYST)]
)
async def get_purchase_order(purchase_order_id: str, runtime: Runtime) -> dict[str, Any]:
    """A purchase order: status, and per line ordered, received, outstanding and cancelled; its
    ASNs, the receipts accepted and the receipts rejected with why."""
    order: PurchaseOrder = await runtime.run_command(
        lambda: runtime.application.get_purchase_order(purchase_order_id)
    )
    return _purchase_order(order)


def _purchase_order(order: PurchaseOrder) -> dict[str, Any]:
    def delivered(lines: tuple[DeliveredLine, ...]) -> list[dict[str, Any]]:
        return [asdict(line) | {"serials": list(line.serials)} for line in lines]

    return {
        "purchase_order_id": order.purchase_order_id,
        "supplier": order.supplier,
        "location": order.location,
        "expected_on": order.expected_on.isoformat(),
        "status": order.status,
        "raised_by": order.raised_by,
        "confirmed_by": order.confirmed_by,
        "cancelled": None
        if order.cancelled is None
        else {"reason": order.cancelled[0], "actor": order.cancelled[1]},
        "lines": [
            {
                "sku": line.sku,
                "ordered": line.quantity,
                "received": order.received.get(line.sku, 0),
                "outstanding": order.outstanding(line.sku),
                "cancelled": order.cancelled_units.get(line.sku, 0),
                "unit_cost": format(line.unit_cost, "f"),
                "currency": line.currency,
            }
            for line in order.lines
        ],
        "asns": [
            {
                "asn_id": asn.asn_id,
                "expected_on": asn.expected_on.isoformat(),
                "lines": delivered(asn.lines),
            }
            for asn in order.asns.values()
        ],
        "receipts": [
            {
                "receipt_id": receipt.receipt_id,
                "asn_id": receipt.asn_id,
                "location": receipt.location,
                "received_at": receipt.received_at.isoformat(),
                "actor": receipt.actor,
                "lines": delivered(receipt.lines),
            }
            for receipt in order.receipts.values()
        ],
        "rejected_receipts": [
            {"receipt_id": receipt_id, "problems": list(problems)}
            for receipt_id, problems in order.rejections.items()
        ],
    }
