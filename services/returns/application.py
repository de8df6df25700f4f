"""Returns use cases: load → decide → save. They return ids, not aggregates.

What returns needs to know of other services' facts is kept in read models, written in the same
transaction as the consumption of the event that brought them: order lines (price, channel,
currency, address), the units shipped per order line and parcel (how many, and where from), the
serials shipped per order line, when each parcel was delivered, each SKU's warranty, and the return
labels shipping bought.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from eventsourcing.application import AggregateNotFoundError

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
from services.runtime.aggregate import DomainError
from services.runtime.database import PostgresLocation
from services.runtime.eventstore import ReadModelChange, ServiceApplication


@dataclass(frozen=True)
class PlacedLine:
    """A line of a placed order, as returns keeps it."""

    line_number: int
    sku: str
    quantity: int
    unit_price: Decimal


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


class UnknownRma(DomainError, LookupError):
    """No RMA has this id."""


class UnknownOrderLine(DomainError, LookupError):
    """Returns never heard of this order, or the order has no such line."""


class NotReturnable(DomainError):
    """The order line has no unit that can be returned now: none delivered, or all returned."""


def _now() -> datetime:
    return datetime.now(UTC)


class ReturnsApplication(ServiceApplication):
    """RMAs: eligibility, the serial check on receipt, inspection grades, dispositions, refunds."""

    value_objects = (Address,)
    read_model_tables = (
        "CREATE TABLE IF NOT EXISTS order_lines ("
        " order_id uuid NOT NULL, line_number integer NOT NULL, sku text NOT NULL,"
        " quantity integer NOT NULL, unit_price numeric NOT NULL, currency text NOT NULL,"
        " channel text NOT NULL, ship_to jsonb NOT NULL, PRIMARY KEY (order_id, line_number))",
        "CREATE TABLE IF NOT EXISTS line_units ("
        " order_id uuid NOT NULL, line_number integer NOT NULL, serial text NOT NULL,"
        " sku text NOT NULL, shipment_id uuid NOT NULL, location text NOT NULL,"
        " PRIMARY KEY (order_id, line_number, serial))",
        "CREATE TABLE IF NOT EXISTS line_shipments ("
        " order_id uuid NOT NULL, line_number integer NOT NULL, shipment_id uuid NOT NULL,"
        " sku text NOT NULL, location text NOT NULL, quantity integer NOT NULL,"
        " PRIMARY KEY (order_id, line_number, shipment_id))",
        "CREATE TABLE IF NOT EXISTS shipment_deliveries ("
        " shipment_id uuid PRIMARY KEY, order_id uuid NOT NULL, delivered_at timestamptz NOT NULL)",
        "CREATE TABLE IF NOT EXISTS product_warranties ("
        " sku text PRIMARY KEY, warranty_months integer NOT NULL)",
        "CREATE TABLE IF NOT EXISTS rmas_by_order ("
        " rma_id uuid PRIMARY KEY, order_id uuid NOT NULL, line_number integer NOT NULL,"
        " request_number integer NOT NULL, status text NOT NULL)",
        "CREATE INDEX IF NOT EXISTS rmas_by_order_line ON rmas_by_order (order_id, line_number)",
        "CREATE TABLE IF NOT EXISTS return_labels ("
        " rma_id uuid PRIMARY KEY, carrier text NOT NULL, service text NOT NULL,"
        " tracking_number text NOT NULL, return_to text NOT NULL, cost numeric NOT NULL)",
    )

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

    # -- facts from other services, kept as read models ---------------------------------------

    def record_order(
        self,
        order_id: uuid.UUID,
        *,
        channel: str,
        currency: str,
        ship_to: Address,
        lines: Sequence[PlacedLine],
    ) -> None:
        """An order was placed: keep what a return of one of its lines needs."""
        self.save(
            read_model_changes=[
                (
                    "INSERT INTO order_lines (order_id, line_number, sku, quantity, unit_price,"
                    " currency, channel, ship_to) VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb)"
                    " ON CONFLICT DO NOTHING",
                    (
                        order_id,
                        line.line_number,
                        line.sku,
                        line.quantity,
                        line.unit_price,
                        currency,
                        channel,
                        json.dumps(asdict(ship_to)),
                    ),
                )
                for line in lines
            ]
        )

    def record_unit_shipped(
        self,
        order_id: uuid.UUID,
        line_number: int,
        *,
        sku: str,
        serial: str,
        shipment_id: uuid.UUID,
        location: str,
    ) -> None:
        """A serial went into a parcel of an order line (the unit's birth certificate)."""
        self.save(
            read_model_changes=[
                (
                    "INSERT INTO line_units (order_id, line_number, serial, sku, shipment_id,"
                    " location) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (order_id, line_number, serial, sku, shipment_id, location),
                )
            ]
        )

    def record_shipment(
        self,
        order_id: uuid.UUID,
        shipment_id: uuid.UUID,
        *,
        location: str,
        lines: Sequence[ShippedLine],
    ) -> None:
        """A parcel left the warehouse: how many units of each order line it holds, serialized or
        not (a product whose units carry no serial is known by this count alone)."""
        self.save(
            read_model_changes=[
                (
                    "INSERT INTO line_shipments (order_id, line_number, shipment_id, sku,"
                    " location, quantity) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (order_id, line.line_number, shipment_id, line.sku, location, line.quantity),
                )
                for line in lines
            ]
        )

    def record_delivery(
        self, order_id: uuid.UUID, shipment_id: uuid.UUID, delivered_at: datetime
    ) -> None:
        """A parcel was delivered: the return window and warranty of its units count from now."""
        self.save(
            read_model_changes=[
                (
                    "INSERT INTO shipment_deliveries (shipment_id, order_id, delivered_at)"
                    " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    (shipment_id, order_id, delivered_at),
                )
            ]
        )

    def record_warranty(self, sku: str, warranty_months: int) -> None:
        """The PIM's warranty of a product, as it is now."""
        self.save(
            read_model_changes=[
                (
                    "INSERT INTO product_warranties (sku, warranty_months) VALUES (%s, %s)"
                    " ON CONFLICT (sku) DO UPDATE SET warranty_months = excluded.warranty_months",
                    (sku, warranty_months),
                )
            ]
        )

    def record_return_label(
        self,
        rma_id: uuid.UUID,
        *,
        carrier: str,
        service: str,
        tracking_number: str,
        return_to: str,
        cost: Decimal,
    ) -> None:
        """Shipping bought the return label; the customer sees carrier and tracking on the RMA.

        Not an RMA event: no public returns event says "label recorded", and every RMA event must
        be one. A label bought again replaces the one before.
        """
        self.save(
            read_model_changes=[
                (
                    "INSERT INTO return_labels (rma_id, carrier, service, tracking_number,"
                    " return_to, cost) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (rma_id)"
                    " DO UPDATE SET carrier = excluded.carrier, service = excluded.service,"
                    " tracking_number = excluded.tracking_number,"
                    " return_to = excluded.return_to, cost = excluded.cost",
                    (rma_id, carrier, service, tracking_number, return_to, cost),
                )
            ]
        )

    # -- the RMA --------------------------------------------------------------------------------

    def request_return(
        self,
        order_id: uuid.UUID,
        line_number: int,
        *,
        reason: str,
        customer_note: str = "",
        idempotency_key: str | None = None,
    ) -> RequestedRma:
        """Request the return of a delivered unit of an order line; decided at once.

        The RMA id is derived from (order, line, the request's number on the line), or from the
        client's idempotency key when it sends one: a retried request finds the RMA it created.
        Without a key, a request while every delivered unit of the line is under an open RMA is
        taken as a repeat and answered with the latest open one.
        """
        if idempotency_key is not None:
            keyed = rma_id_for(order_id, line_number, f"key:{idempotency_key}")
            if self._find(keyed) is not None:
                return RequestedRma(keyed, created=False)
        line = self._line(order_id, line_number)
        units = self._delivered_units(order_id, line_number)
        rmas = self.read(
            "SELECT rma_id, status FROM rmas_by_order WHERE order_id = %s AND line_number = %s"
            " ORDER BY request_number",
            order_id,
            line_number,
        )
        taken = [row for row in rmas if row["status"] != RmaStatus.REJECTED]
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
        self.save(
            rma,
            read_model_changes=[
                (
                    "INSERT INTO rmas_by_order (rma_id, order_id, line_number, request_number,"
                    " status) VALUES (%s, %s, %s, %s, %s)",
                    (rma.id, order_id, line_number, request_number, str(rma.status)),
                )
            ],
        )
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

    def _delivered_units(self, order_id: uuid.UUID, line_number: int) -> DeliveredUnits:
        """The line's units that reached the customer: how many (the units of the line in its
        delivered parcels) and their serials, if they carry any. The latest delivery decides
        eligibility (the customer's benefit when the line came in several parcels), and that
        parcel's location is where the return goes.

        A parcel's units are counted from `ShipmentConfirmed`, or from the serials captured in it
        when that count is missing (parcels shipped before returns kept the count)."""
        parcels = self.read(
            "SELECT p.shipment_id, max(p.location) AS location, max(p.quantity) AS quantity,"
            " d.delivered_at FROM ("
            "  SELECT shipment_id, location, quantity FROM line_shipments"
            "  WHERE order_id = %s AND line_number = %s"
            "  UNION ALL"
            "  SELECT shipment_id, max(location), count(*) FROM line_units"
            "  WHERE order_id = %s AND line_number = %s GROUP BY shipment_id"
            " ) p JOIN shipment_deliveries d ON d.shipment_id = p.shipment_id"
            " GROUP BY p.shipment_id, d.delivered_at ORDER BY d.delivered_at, p.shipment_id",
            order_id,
            line_number,
            order_id,
            line_number,
        )
        if not parcels:
            raise NotReturnable(
                f"line {line_number} of order {order_id} has no delivered unit to return"
            )
        serials = self.read(
            "SELECT u.serial FROM line_units u"
            " JOIN shipment_deliveries d ON d.shipment_id = u.shipment_id"
            " WHERE u.order_id = %s AND u.line_number = %s ORDER BY d.delivered_at, u.serial",
            order_id,
            line_number,
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
        changes: list[ReadModelChange] = [
            ("UPDATE rmas_by_order SET status = %s WHERE rma_id = %s", (str(rma.status), rma.id))
        ]
        self.save(rma, read_model_changes=changes)

    def _find(self, rma_id: uuid.UUID) -> Rma | None:
        try:
            rma: Rma = self.get(rma_id, Rma)
        except AggregateNotFoundError:
            return None
        return rma
