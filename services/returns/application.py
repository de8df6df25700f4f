"""Returns use cases: load → decide → save. They return ids, not aggregates.

What returns needs to know of other services' facts is kept in read models (`projections.py`),
written in the same transaction as the consumption of the event that brought them: order lines
(price, channel, currency, address), the units shipped per order line and parcel (how many, and
where from), the serials shipped per order line, when each parcel was delivered, each SKU's
warranty, and the return labels shipping bought.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from eventsourcing.application import AggregateNotFoundError

from services.returns import projections
from services.returns.domain import (
    DEFAULT_CATEGORY,
    OPEN_STATES,
    Address,
    Decision,
    DeliveredUnits,
    Grade,
    InspectionPolicy,
    ReturnLine,
    ReturnPolicy,
    Rma,
    RmaStatus,
    rma_id_for,
)
from services.runtime.aggregate import Conflict, DomainError, NotFound
from services.runtime.database import PostgresLocation
from services.runtime.eventstore import ServiceApplication


@dataclass(frozen=True)
class ShippedLine:
    """The units of one order line in a parcel that left the warehouse."""

    line_number: int
    sku: str
    quantity: int


class RequestedRma(NamedTuple):
    """The RMA of a request, and whether this request created it (False: a repeat)."""

    rma_id: uuid.UUID
    created: bool


class UnknownRma(DomainError, NotFound):
    """No RMA has this id."""


class UnknownOrderLine(DomainError, NotFound):
    """Returns never heard of this order, or the order has no such line."""


class NotReturnable(Conflict):
    """The order line has no unit that can be returned now: none delivered, or all returned."""


def _now() -> datetime:
    return datetime.now(UTC)


class ReturnsApplication(ServiceApplication):
    """RMAs: eligibility, the serial check on receipt, inspection grades, dispositions, refunds."""

    value_objects = (Address,)
    moved_since_module_paths = {Address: "services.returns.domain.rma"}
    read_models = projections.read_models

    def __init__(
        self,
        location: PostgresLocation | None,
        policy: ReturnPolicy | None = None,
        inspection: InspectionPolicy | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        super().__init__(location)
        self.policy = policy or ReturnPolicy()
        self.inspection_policy = inspection or InspectionPolicy()
        self.clock = clock

    # -- the RMA --------------------------------------------------------------------------------

    def request_return(
        self,
        order_id: uuid.UUID,
        line_number: int,
        *,
        reason: str,
        customer_note: str = "",
        idempotency_key: str | None = None,
        sku: str | None = None,
    ) -> RequestedRma:
        """Request the return of a delivered unit of an order line; decided at once.

        A kit's line returns a unit of one of its components, named by `sku`; it is refunded its
        share of the kit (`kit_unit_share`) and counted against that component's units.

        The RMA id is derived from (order, line, the request's number on the line), or from the
        client's idempotency key when it sends one: a retried request finds the RMA it created.
        Without a key, a request while every delivered unit of the line is under an open RMA is
        taken as a repeat and answered with the latest open one.
        """
        Rma.check_reason(reason)  # the request's own rule, before what it names is looked up
        if idempotency_key is not None:
            keyed = rma_id_for(order_id, line_number, f"key:{idempotency_key}")
            if self._find(keyed) is not None:
                return RequestedRma(keyed, created=False)
        line = self._line(order_id, line_number).returning(sku, self._kit(order_id, line_number))
        units = self._delivered_units(order_id, line_number, line.sku if line.kit_sku else None)
        rmas = self.read(
            "SELECT rma_id, status FROM rmas_by_order WHERE order_id = %s AND line_number = %s"
            " ORDER BY request_number",
            order_id,
            line_number,
        )
        taken = [
            row
            for row in rmas
            if row["status"] != RmaStatus.REJECTED
            and (line.kit_sku is None or self.get(row["rma_id"], Rma).sku == line.sku)
        ]
        if not units.left_to_return(len(taken)):
            still_open = [row["rma_id"] for row in taken if row["status"] in OPEN_STATES]
            if idempotency_key is None and still_open:
                return RequestedRma(still_open[-1], created=False)
            listed = ", ".join(str(row["rma_id"]) for row in taken)
            raise NotReturnable(
                f"every delivered unit of line {line_number} of order {order_id} is already "
                f"under an RMA ({listed})"
            )
        request_number = len(rmas) + 1
        rma_id = rma_id_for(
            order_id,
            line_number,
            request_number if idempotency_key is None else f"key:{idempotency_key}",
        )
        warranty = self.read(
            "SELECT warranty_months FROM product_warranties WHERE sku = %s", line.sku
        )
        rma = Rma.request(
            rma_id,
            line=line,
            units=units,
            # A product the PIM never told about has no warranty returns could honour.
            warranty_months=warranty[0]["warranty_months"] if warranty else 0,
            reason=reason,
            customer_note=customer_note,
            requested_at=self.clock(),
            policy=self.policy,
        )
        self.save_projected(rma)  # numbered `request_number` in `rmas_by_order`
        return RequestedRma(rma.id, created=True)

    def record_receipt(
        self,
        rma_id: uuid.UUID,
        *,
        location: str,
        sku: str,
        serial: str | None,
        received_at: datetime,
    ) -> uuid.UUID:
        """The returned unit arrived at a dock; a serial that was not shipped blocks the refund."""
        rma = self.get_rma(rma_id)
        rma.record_receipt(location=location, sku=sku, serial=serial, received_at=received_at)
        self._save(rma)
        return rma.id

    def resolve_review(
        self, rma_id: uuid.UUID, decision: Decision, *, reviewer: str, note: str
    ) -> uuid.UUID:
        """A reviewer decides an RMA whose refund is blocked: refund, or reject (closed)."""
        rma = self.get_rma(rma_id)
        rma.resolve_review(decision, reviewer=reviewer, note=note)
        self._save(rma)
        return rma.id

    def inspect(
        self,
        rma_id: uuid.UUID,
        *,
        inspector: str,
        checklist: Mapping[str, bool],
        grade_override: Grade | None = None,
        override_reason: str | None = None,
    ) -> uuid.UUID:
        """Inspect a received unit: its grade, its disposition and the refund, in one save."""
        rma = self.get_rma(rma_id)
        rma.inspect(
            inspector=inspector,
            checklist=checklist,
            checks=self.inspection_checks(rma),
            grade_override=grade_override,
            override_reason=override_reason,
        )
        self._save(rma)
        return rma.id

    def sign_off(self, rma_id: uuid.UUID, technician: str) -> uuid.UUID:
        """A technician signs off a grade-A unit: it may be sold as new."""
        rma = self.get_rma(rma_id)
        rma.sign_off(technician)
        self._save(rma)
        return rma.id

    # -- queries --------------------------------------------------------------------------------

    def get_rma(self, rma_id: uuid.UUID) -> Rma:
        rma = self._find(rma_id)
        if rma is None:
            raise UnknownRma(f"no RMA {rma_id}")
        return rma

    def rmas_waiting(self, limit: int) -> list[Rma]:
        """RMAs waiting for a person (`Rma.waiting_for`), oldest request first (a query: only
        the RMAs it lists are loaded)."""
        rows = self.read(
            "SELECT rma_id FROM rmas_by_order WHERE waiting_for IS NOT NULL"
            " ORDER BY requested_at, rma_id LIMIT %s",
            limit,
        )
        return [self.get_rma(row["rma_id"]) for row in rows]

    def rmas_of_order(self, order_id: uuid.UUID) -> list[Rma]:
        rows = self.read(
            "SELECT rma_id FROM rmas_by_order WHERE order_id = %s"
            " ORDER BY line_number, request_number",
            order_id,
        )
        return [self.get_rma(row["rma_id"]) for row in rows]

    def return_label(self, rma_id: uuid.UUID) -> dict[str, Any] | None:
        rows = self.read(
            "SELECT carrier, service, tracking_number, return_to, cost FROM return_labels"
            " WHERE rma_id = %s",
            rma_id,
        )
        return rows[0] if rows else None

    def inspection_checks(self, rma: Rma) -> tuple[str, ...]:
        """The checklist of the unit's product category. The PIM publishes no category yet, so
        every product is in the `default` one."""
        return self.inspection_policy.checks_for(DEFAULT_CATEGORY)

    # -- helpers --------------------------------------------------------------------------------

    def _line(self, order_id: uuid.UUID, line_number: int) -> ReturnLine:
        rows = self.read(
            "SELECT line_number, sku, unit_price, currency, channel, ship_to FROM order_lines"
            " WHERE order_id = %s",
            order_id,
        )
        if not rows:
            raise UnknownOrderLine(f"no order {order_id}")
        row = next((row for row in rows if row["line_number"] == line_number), None)
        if row is None:
            numbers = ", ".join(str(row["line_number"]) for row in rows)
            raise UnknownOrderLine(f"order {order_id} has no line {line_number} (lines: {numbers})")
        return ReturnLine(
            order_id=order_id,
            line_number=line_number,
            sku=row["sku"],
            channel=row["channel"],
            unit_price=Decimal(row["unit_price"]),
            currency=row["currency"],
            ship_to=Address(**row["ship_to"]),
        )

    def _kit(self, order_id: uuid.UUID, line_number: int) -> dict[str, int]:
        """The kit's components as released for the order line (empty: no kit)."""
        rows = self.read(
            "SELECT component_sku, quantity_per_kit FROM kit_lines"
            " WHERE order_id = %s AND line_number = %s",
            order_id,
            line_number,
        )
        return {row["component_sku"]: row["quantity_per_kit"] for row in rows}

    def _delivered_units(
        self, order_id: uuid.UUID, line_number: int, component: str | None = None
    ) -> DeliveredUnits:
        """The line's units that reached the customer: how many (the units of the line in its
        delivered parcels) and their serials, if they carry any. The latest delivery decides
        eligibility (the customer's benefit when the line came in several parcels), and that
        parcel's location is where the return goes.

        A parcel's units are counted from `ShipmentConfirmed`, or from the serials captured in it
        when that count is missing (parcels shipped before returns kept the count). For a kit's
        line, only the units of its `component`."""
        of_component = "" if component is None else " AND sku = %s"
        where = (order_id, line_number, *(() if component is None else (component,)))
        parcels = self.read(
            "SELECT p.shipment_id, max(p.location) AS location, max(p.quantity) AS quantity,"
            " d.delivered_at FROM ("
            "  SELECT shipment_id, location, quantity FROM line_shipments"
            f"  WHERE order_id = %s AND line_number = %s{of_component}"
            "  UNION ALL"
            "  SELECT shipment_id, max(location), count(*) FROM line_units"
            f"  WHERE order_id = %s AND line_number = %s{of_component}"
            "  GROUP BY shipment_id"
            " ) p JOIN shipment_deliveries d ON d.shipment_id = p.shipment_id"
            " GROUP BY p.shipment_id, d.delivered_at ORDER BY d.delivered_at, p.shipment_id",
            *where,
            *where,
        )
        if not parcels:
            raise NotReturnable(
                f"line {line_number} of order {order_id} has no delivered unit to return"
            )
        serials = self.read(
            "SELECT u.serial FROM line_units u"
            " JOIN shipment_deliveries d ON d.shipment_id = u.shipment_id"
            f" WHERE u.order_id = %s AND u.line_number = %s{of_component.replace('sku', 'u.sku')}"
            " ORDER BY d.delivered_at, u.serial",
            *where,
        )
        latest = parcels[-1]
        return DeliveredUnits(
            serials=tuple(row["serial"] for row in serials),
            delivered_at=latest["delivered_at"],
            shipped_from=latest["location"],
            quantity=sum(row["quantity"] for row in parcels),
        )

    def _save(self, rma: Rma) -> None:
        """Save the RMA's new events with its status in the by-order index."""
        self.save_projected(rma)

    def _find(self, rma_id: uuid.UUID) -> Rma | None:
        try:
            rma: Rma = self.get(rma_id, Rma)
        except AggregateNotFoundError:
            return None
        return rma
