"""HTTP queries for analysts: a unit's trace, recalls, an aggregate's audit trail. Replays are the
runtime's `POST /replays` and `GET /replays/latest` (see `replay.py`).

Times are ISO 8601; one without a zone is taken as UTC. Answers are ordered (units by serial,
events by occurred at, producer, aggregate id, version), so the same question over the same events
gets the same answer.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from services.runtime.aggregate import NotFound
from services.runtime.auth import Caller, Role, allow
from services.runtime.privacy import shown
from services.runtime.service import ServiceRuntime, runtime_of
from services.traceability.application import (
    UNIT_FIELDS,
    TraceabilityApplication,
    UnitSelection,
)

router = APIRouter(tags=["traceability"], dependencies=[allow(Role.ANALYST)])
"""Analysts' questions, read only."""

Runtime = Annotated[ServiceRuntime[TraceabilityApplication], Depends(runtime_of)]
AsOf = Annotated[
    datetime | None,
    Query(description="Answer as of this moment (ISO 8601; UTC when no zone is given)."),
]


def _moment(as_of: datetime | None) -> datetime | None:
    if as_of is None or as_of.tzinfo is not None:
        return as_of
    return as_of.replace(tzinfo=UTC)


@router.get("/units/{serial}/trace")
async def trace(
    serial: str, runtime: Runtime, sku: str | None = None, as_of: AsOf = None
) -> dict[str, Any]:
    """A unit's whole chain, oldest first: received (purchase order, batch, location), packed into
    an order for a customer, shipped (carrier, tracking), delivered, returned, graded, restocked,
    sold again. Also its holder now (or as of `as_of`). A list: two products may share a serial."""
    moment = _moment(as_of)
    units = await runtime.run_command(runtime.application.trace, serial, sku, moment)
    return {"serial": serial, "as_of": moment, "units": units}


@router.get("/recall")
async def recall(
    runtime: Runtime,
    batch: str | None = None,
    serial_from: str | None = None,
    serial_to: str | None = None,
    sku: str | None = None,
    as_of: AsOf = None,
) -> dict[str, Any]:
    """Every unit of a batch, or of a serial range (`serial_from` ≤ serial ≤ `serial_to`, compared
    byte by byte: zero-pad numbers; `sku` narrows it to one product), with its holder: the
    customer and order, or the location and condition."""
    selection = UnitSelection(batch=batch, serial_from=serial_from, serial_to=serial_to, sku=sku)
    moment = _moment(as_of)
    units = await runtime.run_command(runtime.application.units, selection, moment)
    criteria = {
        key: value
        for key, value in selection.parameters().items()
        if value is not None and key != "serial"
    }
    return {"criteria": criteria, "as_of": moment, "fields": list(UNIT_FIELDS), "units": units}


SEES_PERSONAL_DATA = frozenset({Role.ANALYST, Role.ADMIN})
"""Whose audit trails show customers' personal data opened (as trace and recall show it)."""


@router.get("/audit/{aggregate_id}")
async def audit(
    aggregate_id: uuid.UUID,
    runtime: Runtime,
    caller: Annotated[Caller, allow(Role.ANALYST)],
    as_of: AsOf = None,
) -> dict[str, Any]:
    """Every event of the aggregate with time, actor, reason and correlation id, and what its
    events said of it by then (per producer: the last value of each field). A customer's name,
    e-mail and address show in clear to a caller who may see personal data, as "erased" once the
    customer is forgotten, and as "sealed" otherwise."""
    application = runtime.application
    keys = application.keys if caller.roles & SEES_PERSONAL_DATA else None

    def audit_shown() -> dict[str, Any]:
        trail: dict[str, Any] = shown(application.audit(aggregate_id, _moment(as_of)), keys)
        return trail

    answer: dict[str, Any] = await runtime.run_command(audit_shown)
    if not answer["events"]:
        raise NotFound(f"no events of {aggregate_id}")
    return answer


@router.get("/read-models/counts")
async def counts(runtime: Runtime) -> dict[str, int]:
    """Rows per read-model table."""
    answer: dict[str, int] = await runtime.run_command(runtime.application.counts)
    return answer
