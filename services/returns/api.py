"""HTTP commands and queries on RMAs."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from services.returns.application import (
    RequestedRma,
    ReturnsApplication,
)
from services.returns.domain import Grade, Rma
from services.runtime.auth import Caller, OnBehalfOf, Role, allow
from services.runtime.service import ServiceRuntime, runtime_of

router = APIRouter(prefix="/rmas", tags=["rmas"])

Runtime = Annotated[ServiceRuntime[ReturnsApplication], Depends(runtime_of)]
CustomerService = Annotated[Caller, allow(Role.CUSTOMER_SERVICE)]
Warehouse = Annotated[Caller, allow(Role.WAREHOUSE)]


class RequestReturn(BaseModel):
    """A customer's request to return one unit of an order line."""

    model_config = ConfigDict(extra="forbid")

    order_id: uuid.UUID = Field(description="The order the unit was bought with.")
    line_number: int = Field(ge=1, description="The order line.")
    reason: str = Field(min_length=1, max_length=500, description="Why it comes back.")
    customer_note: str = Field(default="", max_length=2000, description="Free text.")
    sku: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="For a kit's line: the component returned (refunded its share of the kit).",
    )
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="The client's id of this request: sending it again answers with the same RMA.",
    )


class ReviewDecision(BaseModel):
    """A reviewer's decision on an RMA whose refund is blocked."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["refund", "reject"] = Field(description="Refund after all, or reject.")
    on_behalf_of: OnBehalfOf = None
    note: str = Field(min_length=1, max_length=2000, description="Why.")


class InspectionReport(BaseModel):
    """What an inspector found; the grade follows from the checklist unless overridden."""

    model_config = ConfigDict(extra="forbid")

    on_behalf_of: OnBehalfOf = None
    checklist: dict[Annotated[str, Field(max_length=100)], bool] = Field(
        max_length=200, description="Each check of the category, passed or not."
    )
    grade_override: Grade | None = Field(default=None, description="A grade other than derived.")
    override_reason: str | None = Field(
        default=None, max_length=2000, description="Why the grade is overridden (required then)."
    )


class SignOff(BaseModel):
    """A technician's sign-off of a grade-A unit as new (the caller signs off)."""

    model_config = ConfigDict(extra="forbid")

    on_behalf_of: OnBehalfOf = None


def _view(rma: Rma, label: dict[str, Any] | None, checks: tuple[str, ...]) -> dict[str, Any]:
    receipt, review, inspection = rma.receipt, rma.review, rma.inspection
    return {
        "rma_id": str(rma.id),
        "order_id": str(rma.order_id),
        "line_number": rma.line_number,
        "sku": rma.sku,
        "kit_sku": rma.kit_sku,
        "status": str(rma.status),
        "reason": rma.reason,
        "customer_note": rma.customer_note,
        "requested_at": rma.requested_at.isoformat(),
        "eligibility": {"basis": rma.basis, "decision": rma.eligibility},
        "expected_serials": list(rma.expected_serials),
        "serialized": rma.serialized,
        "return_to": rma.return_to,
        "label": None
        if label is None
        else {
            "carrier": label["carrier"],
            "service": label["service"],
            "tracking_number": label["tracking_number"],
            "return_to": label["return_to"],
        },
        "receipt": None
        if receipt is None
        else {
            "serial": receipt.serial,
            "sku": receipt.sku,
            "location": receipt.location,
            "received_at": receipt.received_at.isoformat(),
            "serial_matches": receipt.serial_matches,
        },
        "refund_blocked": rma.block_reason,
        "review": None if review is None else asdict(review),
        "inspection_checks": list(checks),
        "inspection": None if inspection is None else asdict(inspection),
        "disposition": None if rma.disposition is None else asdict(rma.disposition),
        "signed_off_by": rma.signed_off_by,
        "refund": None
        if rma.refund is None
        else asdict(rma.refund) | {"amount": format(rma.refund.amount, "f")},
    }


def _load(returns: ReturnsApplication, rma_id: uuid.UUID) -> dict[str, Any]:
    rma = returns.get_rma(rma_id)
    return _view(rma, returns.return_label(rma.id), returns.inspection_checks(rma))


async def _get(runtime: ServiceRuntime[ReturnsApplication], rma_id: uuid.UUID) -> dict[str, Any]:
    view: dict[str, Any] = await runtime.run_command(_load, runtime.application, rma_id)
    return view


async def _command(
    runtime: ServiceRuntime[ReturnsApplication], rma_id: uuid.UUID, change: Callable[[], Any]
) -> dict[str, Any]:
    await runtime.run_command(change)
    return await _get(runtime, rma_id)


@router.post("", status_code=201, dependencies=[allow(Role.CUSTOMER_SERVICE)])
async def request_return(
    command: RequestReturn, runtime: Runtime, response: Response
) -> dict[str, Any]:
    """Request the return of a delivered unit of an order line: authorised (within the return
    window, or the warranty) or rejected with the reason, at once. 201 with the new RMA; 200 with
    the existing one when the request is a repeat."""
    returns = runtime.application
    requested: RequestedRma = await runtime.run_command(
        lambda: returns.request_return(
            command.order_id,
            command.line_number,
            reason=command.reason,
            customer_note=command.customer_note,
            idempotency_key=command.idempotency_key,
            sku=command.sku,
        )
    )
    if not requested.created:
        response.status_code = 200
    return await _get(runtime, requested.rma_id)


@router.get("", dependencies=[allow(Role.CUSTOMER_SERVICE, Role.WAREHOUSE, Role.ANALYST)])
async def rmas_of_order(
    order_id: Annotated[uuid.UUID, Query(description="The order.")], runtime: Runtime
) -> list[dict[str, Any]]:
    """The RMAs of an order, by line and request."""

    def load() -> list[dict[str, Any]]:
        returns = runtime.application
        return [
            _view(rma, returns.return_label(rma.id), returns.inspection_checks(rma))
            for rma in returns.rmas_of_order(order_id)
        ]

    views: list[dict[str, Any]] = await runtime.run_command(load)
    return views


@router.get("/waiting", dependencies=[allow(Role.CUSTOMER_SERVICE, Role.WAREHOUSE, Role.ANALYST)])
async def rmas_waiting(
    runtime: Runtime,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many.")] = 200,
) -> list[dict[str, Any]]:
    """RMAs waiting for a person, oldest first, each with `waiting_for`: `inspection` (the unit
    was received), `review` (its refund is blocked) or `sign-off` (a grade-A unit in
    quarantine)."""

    def load() -> list[dict[str, Any]]:
        returns = runtime.application
        return [
            _view(rma, returns.return_label(rma.id), returns.inspection_checks(rma))
            | {"waiting_for": rma.waiting_for}
            for rma in returns.rmas_waiting(limit)
        ]

    views: list[dict[str, Any]] = await runtime.run_command(load)
    return views


@router.get("/{rma_id}", dependencies=[allow(Role.CUSTOMER_SERVICE, Role.WAREHOUSE, Role.ANALYST)])
async def get_rma(rma_id: uuid.UUID, runtime: Runtime) -> dict[str, Any]:
    """An RMA: status, eligibility, label, receipt, review, grade, disposition and refund."""
    return await _get(runtime, rma_id)


@router.post("/{rma_id}/review")
async def resolve_review(
    rma_id: uuid.UUID, command: ReviewDecision, runtime: Runtime, caller: CustomerService
) -> dict[str, Any]:
    """Decide an RMA whose refund is blocked (a serial mismatch): refund, or reject (closed)."""
    returns = runtime.application
    return await _command(
        runtime,
        rma_id,
        lambda: returns.resolve_review(
            rma_id, command.decision, reviewer=caller.actor(command.on_behalf_of), note=command.note
        ),
    )


@router.post("/{rma_id}/inspection")
async def inspect(
    rma_id: uuid.UUID, command: InspectionReport, runtime: Runtime, caller: Warehouse
) -> dict[str, Any]:
    """Inspect a received unit: grade (derived from the checklist, or overridden with a reason),
    disposition and refund. 409 before receipt or while the refund is blocked; 422 when the
    checklist does not fit the category or an override has no reason."""
    returns = runtime.application
    return await _command(
        runtime,
        rma_id,
        lambda: returns.inspect(
            rma_id,
            inspector=caller.actor(command.on_behalf_of),
            checklist=command.checklist,
            grade_override=command.grade_override,
            override_reason=command.override_reason,
        ),
    )


@router.post("/{rma_id}/sign-off")
async def sign_off(
    rma_id: uuid.UUID, command: SignOff, runtime: Runtime, caller: Warehouse
) -> dict[str, Any]:
    """Sign off a grade-A unit awaiting sign-off: it leaves quarantine as new stock."""
    returns = runtime.application
    return await _command(
        runtime, rma_id, lambda: returns.sign_off(rma_id, caller.actor(command.on_behalf_of))
    )
