"""HTTP commands and queries on stock."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from contracts.base import LocationCode, Sku
from contracts.channel import CurrencyCode
from contracts.inventory import PurchaseOrderId
from services.inventory.application import (
    InventoryApplication,
    StockView,
)
from services.inventory.domain import (
    REASON_CODES,
    AdvanceShippingNotice,
    DeliveredLine,
    GoodsReceipt,
    OrderedLine,
    PurchaseOrder,
    ReasonCode,
    Receipt,
    ReorderPolicy,
)
from services.runtime.aggregate import NotFound
from services.runtime.auth import Caller, OnBehalfOf, Role, allow
from services.runtime.service import ServiceRuntime, runtime_of

router = APIRouter(prefix="/stock", tags=["stock"])

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


class ReceiveStock(BaseModel):
    """Units that arrived at a location, with why and who."""

    model_config = ConfigDict(extra="forbid")

    sku: Sku
    location: LocationCode
    quantity: int = Field(ge=1, le=1_000_000, description="Units received.")
    reason: str = Field(min_length=1, max_length=100, description="e.g. `purchase-receipt`.")
    on_behalf_of: OnBehalfOf = None
    reference: str | None = Field(default=None, max_length=100, description="PO, ASN or count.")
    serials: list[SerialNumber] = Field(
        default_factory=list,
        max_length=10_000,
        description="One serial number per unit, for serialized products.",
    )
    batch: str | None = Field(default=None, max_length=64, description="Production batch.")
    idempotency_key: IdempotencyKey = None


class StockChanged(BaseModel):
    stock_id: uuid.UUID


@router.post("/receipts", status_code=201)
async def receive_stock(command: ReceiveStock, runtime: Runtime, caller: Warehouse) -> StockChanged:
    """Record a receipt of units into sellable stock."""
    application = runtime.application
    receipt = Receipt(
        location=command.location,
        quantity=command.quantity,
        reason=command.reason,
        actor=caller.actor(command.on_behalf_of),
        reference=command.reference,
        serials=tuple(command.serials),
        batch=command.batch,
    )
    stock_id = await runtime.run_command(
        lambda: application.receive_stock(
            command.sku, receipt, idempotency_key=command.idempotency_key
        )
    )
    return StockChanged(stock_id=stock_id)


REASON_CODE_DESCRIPTION = "Why, one of: " + "; ".join(
    f"`{code}`: {meaning}" for code, meaning in REASON_CODES.items()
)


class AdjustStock(BaseModel):
    """Units on hand at a location changed outside receipts and shipments: why and who."""

    model_config = ConfigDict(extra="forbid")

    sku: Sku
    location: LocationCode
    quantity_delta: int = Field(
        ge=-1_000_000, le=1_000_000, description="Units added (positive) or removed (negative)."
    )
    reason_code: ReasonCode = Field(description=REASON_CODE_DESCRIPTION)
    on_behalf_of: OnBehalfOf = None
    note: str | None = Field(default=None, max_length=500, description="Free text.")
    serials: list[SerialNumber] = Field(
        default_factory=list,
        max_length=10_000,
        description="Serialized products: the units that leave (a decrease) or come in (found).",
    )
    idempotency_key: IdempotencyKey = None


class CountStock(BaseModel):
    """What was physically counted at a location."""

    model_config = ConfigDict(extra="forbid")

    sku: Sku
    location: LocationCode
    counted: int = Field(ge=0, le=1_000_000, description="New units counted.")
    on_behalf_of: OnBehalfOf = None
    serials_counted: list[SerialNumber] | None = Field(
        default=None,
        max_length=10_000,
        description="Serialized products: the serial of every unit counted.",
    )
    idempotency_key: IdempotencyKey = None


class Counted(BaseModel):
    stock_id: uuid.UUID
    count_id: uuid.UUID
    variance: int = Field(description="Counted less expected; booked as `cycle-count`.")


class TransferStock(BaseModel):
    """Units to send from one location to another."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    sku: Sku
    from_location: LocationCode = Field(alias="from")
    to_location: LocationCode = Field(alias="to")
    quantity: int = Field(ge=1, le=1_000_000, description="Units to send.")
    serials: list[SerialNumber] = Field(
        default_factory=list, max_length=10_000, description="Serialized products: which units."
    )
    on_behalf_of: OnBehalfOf = None
    reason: str | None = Field(default=None, max_length=100, description="e.g. `rebalance`.")
    idempotency_key: IdempotencyKey = None


class ReceiveTransfer(BaseModel):
    """What arrived of a transfer at its destination; everything, unless told otherwise."""

    model_config = ConfigDict(extra="forbid")

    on_behalf_of: OnBehalfOf = None
    quantity_received: int | None = Field(
        default=None, ge=0, description="Units that arrived, when fewer than dispatched."
    )
    serials_received: list[SerialNumber] | None = Field(
        default=None, max_length=10_000, description="Serialized products: the units that arrived."
    )


class SetReorderPolicy(BaseModel):
    """When to reorder the SKU at a location, how much, and the supplier's lead time."""

    model_config = ConfigDict(extra="forbid")

    location: LocationCode
    reorder_point: int = Field(ge=0, le=1_000_000, description="Alert at or below this.")
    reorder_quantity: int = Field(ge=1, le=1_000_000, description="Units to order.")
    lead_time_days: int = Field(ge=0, le=3650, description="Days until ordered units arrive.")
    on_behalf_of: OnBehalfOf = None


class ChangeCondition(BaseModel):
    """Move a returned unit to another held condition (sign-off to new comes from returns)."""

    model_config = ConfigDict(extra="forbid")

    sku: Sku
    rma_id: uuid.UUID = Field(description="The RMA the unit came back under.")
    to_condition: Literal["open-box", "refurbished", "quarantined", "damaged"]
    reason: str = Field(min_length=1, max_length=100, description="e.g. `refurbished`.")
    on_behalf_of: OnBehalfOf = None
    idempotency_key: IdempotencyKey = None


@router.post("/adjustments", status_code=201)
async def adjust_stock(command: AdjustStock, runtime: Runtime, caller: Planner) -> StockChanged:
    """Adjust the new units on hand at a location, with a reason code and an actor
    (`StockAdjusted`). Never below what is reserved there."""
    application = runtime.application
    stock_id = await runtime.run_command(
        lambda: application.adjust_stock(
            command.sku,
            location=command.location,
            quantity_delta=command.quantity_delta,
            reason_code=command.reason_code,
            actor=caller.actor(command.on_behalf_of),
            note=command.note,
            serials=command.serials,
            idempotency_key=command.idempotency_key,
        ),
    )
    return StockChanged(stock_id=stock_id)


@router.post("/counts", status_code=201)
async def count_stock(command: CountStock, runtime: Runtime, caller: Warehouse) -> Counted:
    """Record a count (`StockCounted`: expected, counted, variance); a variance is booked as
    `cycle-count` adjustments."""
    application = runtime.application
    recorded = await runtime.run_command(
        lambda: application.count_stock(
            command.sku,
            location=command.location,
            counted=command.counted,
            actor=caller.actor(command.on_behalf_of),
            serials_counted=command.serials_counted,
            idempotency_key=command.idempotency_key,
        ),
    )
    return Counted(
        stock_id=recorded.stock_id, count_id=recorded.count_id, variance=recorded.variance
    )


@router.post("/transfers", status_code=201)
async def dispatch_transfer(
    command: TransferStock, runtime: Runtime, caller: Planner
) -> dict[str, Any]:
    """Send available units to another location; in transit until received there."""
    application = runtime.application
    transfer_id = await runtime.run_command(
        lambda: application.dispatch_transfer(
            command.sku,
            from_location=command.from_location,
            to_location=command.to_location,
            quantity=command.quantity,
            actor=caller.actor(command.on_behalf_of),
            serials=command.serials,
            reason=command.reason,
            idempotency_key=command.idempotency_key,
        ),
    )
    return await get_transfer(transfer_id, runtime)


@router.post("/transfers/{transfer_id}/receipt")
async def receive_transfer(
    transfer_id: uuid.UUID, command: ReceiveTransfer, runtime: Runtime, caller: Warehouse
) -> dict[str, Any]:
    """Receive a transfer at its destination; a shortfall is written off as `loss`. A repeated
    receipt changes nothing."""
    application = runtime.application
    await runtime.run_command(
        lambda: application.receive_transfer(
            transfer_id,
            actor=caller.actor(command.on_behalf_of),
            quantity_received=command.quantity_received,
            serials_received=command.serials_received,
        ),
    )
    return await get_transfer(transfer_id, runtime)


@router.get(
    "/transfers/{transfer_id}", dependencies=[allow(Role.WAREHOUSE, Role.INVENTORY, Role.ANALYST)]
)
async def get_transfer(transfer_id: uuid.UUID, runtime: Runtime) -> dict[str, Any]:
    """A transfer: where from and to, what, and whether (and what of it) arrived."""
    transfer = await runtime.run_command(lambda: runtime.application.get_transfer(transfer_id))
    moving = transfer.moving
    return {
        "transfer_id": transfer.id,
        "sku": transfer.sku,
        "from": moving.from_location,
        "to": moving.to_location,
        "quantity": moving.quantity,
        "serials": list(moving.serials),
        "status": transfer.status,
        "dispatched_by": transfer.dispatched_by,
        "reason": transfer.reason,
        "received_by": transfer.received_by,
        "arrival": None if transfer.arrival is None else asdict(transfer.arrival),
    }


@router.post("/condition-changes", status_code=201)
async def change_condition(
    command: ChangeCondition, runtime: Runtime, caller: Warehouse
) -> StockChanged:
    """Move a returned unit to another held condition, e.g. `refurbished` (sold as refurbished,
    never as new)."""
    application = runtime.application
    stock_id = await runtime.run_command(
        lambda: application.change_condition(
            command.sku,
            rma_id=command.rma_id,
            to_condition=command.to_condition,
            reason=command.reason,
            actor=caller.actor(command.on_behalf_of),
            idempotency_key=command.idempotency_key,
        ),
    )
    return StockChanged(stock_id=stock_id)


@router.get(
    "/bundles/{sku}",
    dependencies=[allow(Role.CHANNEL, Role.INVENTORY, Role.WAREHOUSE, Role.ANALYST)],
)
async def get_bundle(sku: str, runtime: Runtime) -> dict[str, Any]:
    """A bundle's components and how many of it each channel may sell (its scarcest component)."""
    bundle: dict[str, Any] | None = await runtime.run_command(runtime.application.get_bundle, sku)
    if bundle is None:
        raise NotFound(f"{sku} is not a bundle the PIM defined")
    return bundle


@router.get("/routing/rate-card", dependencies=[allow(Role.INVENTORY, Role.ANALYST)])
async def get_rate_card(runtime: Runtime) -> Any:
    """Shipping's rate card that orders are routed with: the location that ships cheapest wins."""
    card = await runtime.run_command(runtime.application.get_rate_card)
    if card is None:
        raise NotFound("no rate card has been published yet")
    return json.loads(card)


@router.get(
    "/{sku}/returned-units",
    dependencies=[
        allow(Role.CHANNEL, Role.INVENTORY, Role.WAREHOUSE, Role.CUSTOMER_SERVICE, Role.ANALYST)
    ],
)
async def get_returned_units(sku: Sku, runtime: Runtime) -> dict[str, Any]:
    """The units of a SKU that came back and were graded (`ReturnGraded`): serial, grade (A, B,
    C or scrap), the checks that failed and who inspected them."""
    units = await runtime.run_command(runtime.application.returned_unit_grades, sku)
    return {"sku": sku, "units": units}


@router.put("/{sku}/reorder-policy")
async def set_reorder_policy(
    sku: Sku, command: SetReorderPolicy, runtime: Runtime, caller: Planner
) -> Any:
    """Set a location's reorder point: when available there falls to or below it, a
    `LowStockDetected` suggests a purchase order, once per fall."""
    application = runtime.application
    policy = ReorderPolicy(
        reorder_point=command.reorder_point,
        reorder_quantity=command.reorder_quantity,
        lead_time_days=command.lead_time_days,
    )
    await runtime.run_command(
        lambda: application.set_reorder_policy(
            sku, location=command.location, policy=policy, actor=caller.actor(command.on_behalf_of)
        ),
    )
    view = await runtime.run_command(application.get_stock_view, sku)
    return _policies(view)[command.location]


@router.get("/{sku}/movements", dependencies=[allow(Role.INVENTORY, Role.WAREHOUSE, Role.ANALYST)])
async def get_movements(
    sku: str,
    runtime: Runtime,
    location: Annotated[str | None, Query(description="Only this location.")] = None,
) -> list[dict[str, Any]]:
    """Why a figure is what it is: every change of on hand or reserved, oldest first, with time,
    actor, reason, delta and running totals per location and condition."""
    found = await runtime.run_command(runtime.application.get_movements, sku, location)
    if found is None:
        raise NotFound(f"{sku} was never in stock")
    return [asdict(movement) | {"serials": list(movement.serials)} for movement in found]


@router.get(
    "/{sku}",
    dependencies=[
        allow(Role.CHANNEL, Role.INVENTORY, Role.WAREHOUSE, Role.CUSTOMER_SERVICE, Role.ANALYST)
    ],
)
async def get_stock(sku: str, runtime: Runtime) -> dict[str, Any]:
    """Units on hand, reserved and available per location, and units owed to backorders.

    `locations` is the summary of new units (and `held` the conditions a return enters stock
    in) as it always was; `stock` has every location in every condition with on hand, reserved,
    available, inbound and in transit; `in_transit` the open transfers; `reorder_policies` each
    location's policy and its open low-stock alert.
    """
    levels = await runtime.run_command(runtime.application.get_stock_levels, sku)
    backorders = await runtime.run_command(runtime.application.get_backorders, sku)
    view: StockView | None = await runtime.run_command(runtime.application.get_stock_view, sku)
    return {
        "sku": sku,
        "locations": [asdict(level) for level in levels],
        "backordered": sum(owed.quantity for owed in backorders),
        "backorders": [asdict(owed) for owed in backorders],
        "stock": [] if view is None else [asdict(row) for row in view.positions],
        "in_transit": [] if view is None else [_in_transit(moving) for moving in view.in_transit],
        "reorder_policies": _policies(view),
    }


def _in_transit(moving: Any) -> dict[str, Any]:
    return asdict(moving) | {"serials": list(moving.serials)}


def _policies(view: StockView | None) -> dict[str, Any]:
    if view is None:
        return {}
    return {
        location: asdict(policy)
        | {
            "low_stock": None
            if location not in view.low_stock
            else asdict(view.low_stock[location])
        }
        for location, policy in view.policies.items()
    }


purchase_orders = APIRouter(prefix="/purchase-orders", tags=["purchase orders"])

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


@purchase_orders.post("", status_code=201)
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


@purchase_orders.post("/{purchase_order_id}/confirmation")
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


@purchase_orders.post("/{purchase_order_id}/asns", status_code=201)
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


@purchase_orders.post("/{purchase_order_id}/receipts", status_code=201)
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


@purchase_orders.post("/{purchase_order_id}/cancellation")
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


@purchase_orders.get(
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
