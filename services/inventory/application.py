"""Inventory use cases: load → decide → save. They return ids, not aggregates."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from contracts.envelope import Envelope
from contracts.pim import ProductSpecified
from services.inventory import projections, translators
from services.inventory.domain import (
    AdvanceShippingNotice,
    AverageCost,
    Backorder,
    BackorderFill,
    BundleAvailability,
    ChannelAvailability,
    DeliveredLine,
    GoodsReceipt,
    InboundLine,
    InTransit,
    LocationQuantity,
    Movement,
    OrderedLine,
    PurchaseOrder,
    PurchaseSuggestion,
    Receipt,
    ReceiptRefused,
    ReorderPolicy,
    RequestedLine,
    Reservation,
    ReservedLine,
    ReturnedUnit,
    SalesChannels,
    ScannedUnit,
    SerialCheck,
    ShippingCost,
    SkuStock,
    StockPosition,
    StockTransfer,
    bundle_availability_id_for,
    bundles_sellable,
    movements,
    no_shipping_cost,
    plan_reservation,
    purchase_order_id_for,
    reservation_id_for,
    serial_check_id_for,
    stock_id_for,
)
from services.runtime.aggregate import DomainError, NotFound
from services.runtime.database import PostgresLocation
from services.runtime.eventstore import ServiceApplication
from services.runtime.idempotency import IdempotentCommand


@dataclass(frozen=True)
class StockLevel:
    """Units of a SKU at one location."""

    location: str
    on_hand: int
    reserved: int
    available: int
    serials_in_stock: int
    held: dict[str, int]
    """Returned units per condition other than new: never available as new."""


@dataclass(frozen=True)
class StockView:
    """Everything about a SKU's stock: per location and condition, in transit, reorder points."""

    positions: list[StockPosition]
    in_transit: list[InTransit]
    policies: dict[str, ReorderPolicy]
    low_stock: dict[str, PurchaseSuggestion]


@dataclass(frozen=True)
class CountRecorded:
    """A count on record, and what it found."""

    stock_id: uuid.UUID
    count_id: uuid.UUID
    variance: int


class UnknownStock(DomainError, NotFound):
    """The SKU has no stock (it was never received), or the transfer does not exist."""


class UnknownPurchaseOrder(DomainError, NotFound):
    """No purchase order has this id."""


def keyed(command: str, key: str | None, **arguments: Any) -> IdempotentCommand:
    """An inventory command under the client's idempotency key (see `services.runtime.idempotency`):
    `previous(...)` answers a repeat, `*record(...)` is saved with the command's changes."""
    return IdempotentCommand.of("inventory", command, key, **arguments)


def utc_today() -> date:
    return datetime.now(UTC).date()


class InventoryApplication(ServiceApplication):
    """Stock per SKU and location; reservations for paid orders that never oversell."""

    value_objects = (
        LocationQuantity,
        ReservedLine,
        Receipt,
        Backorder,
        ReturnedUnit,
        ChannelAvailability,
        InTransit,
        ReorderPolicy,
        PurchaseSuggestion,
        OrderedLine,
        DeliveredLine,
        AdvanceShippingNotice,
        GoodsReceipt,
        InboundLine,
        AverageCost,
    )
    read_models = projections.read_models

    def __init__(
        self,
        location: PostgresLocation | None,
        sales_channels: SalesChannels | None = None,
        today: Callable[[], date] = utc_today,
    ) -> None:
        super().__init__(location)
        self.sales_channels = sales_channels or SalesChannels()
        self.today = today

    def save(self, *objects: Any, **kwargs: Any) -> Any:
        """Save; every stock saved tells the channels what they may sell now, and raises (or
        clears) its low-stock alerts, in the same transaction as the change that caused it."""
        stocks = {stock.sku: stock for stock in objects if isinstance(stock, SkuStock)}
        for stock in stocks.values():
            stock.publish_availability(self.sales_channels)
            stock.detect_low_stock(self.today())
        bundles = self._bundles_following(stocks) if stocks and self.has_read_models else []
        return super().save(*objects, *bundles, **kwargs)

    def record_product_spec(self, event: ProductSpecified, envelope: Envelope) -> None:
        """Keep what the PIM's spec decides here (`projections.py`: a bundle's components, none
        when it is no bundle, and the unit's outer volume: carriers charge bulky parcels by
        volume, so routing estimates them that way), and publish how many of a bundle each
        channel may sell."""
        components = translators.bundle_components(event)
        bundle = self._bundle_availability(event.sku, components, {}) if components else None
        self.save(
            *([bundle] if bundle is not None else []),
            read_model_changes=self.projected(event, envelope),
        )

    def get_bundle(self, sku: str) -> dict[str, Any] | None:
        """A bundle's components and what each channel was last told it may sell of it."""
        components = {
            row["component_sku"]: row["quantity"]
            for row in self.read(
                "SELECT component_sku, quantity FROM bundle_components WHERE bundle_sku = %s", sku
            )
        }
        if not components:
            return None
        try:
            bundle: BundleAvailability = self.get(
                bundle_availability_id_for(sku), BundleAvailability
            )
            published = dict(bundle.published)
        except AggregateNotFoundError:
            published = {}
        return {"sku": sku, "components": components, "available_to_sell": published}

    def _bundles_following(self, stocks: Mapping[str, SkuStock]) -> list[BundleAvailability]:
        """The bundles made of these stocks' SKUs, with their availability re-decided."""
        definitions: dict[str, dict[str, int]] = {}
        for row in self.read(
            "SELECT bundle_sku, component_sku, quantity FROM bundle_components WHERE bundle_sku IN"
            " (SELECT bundle_sku FROM bundle_components WHERE component_sku = ANY(%s))",
            list(stocks),
        ):
            definitions.setdefault(row["bundle_sku"], {})[row["component_sku"]] = row["quantity"]
        bundles = [
            self._bundle_availability(sku, components, stocks)
            for sku, components in sorted(definitions.items())
        ]
        return [bundle for bundle in bundles if bundle is not None]

    def _bundle_availability(
        self, sku: str, components: Mapping[str, int], stocks: Mapping[str, SkuStock]
    ) -> BundleAvailability | None:
        """The bundle with its per-channel availability re-decided from its components' (the
        stocks being saved count as they are now); None when nothing changed."""
        component_stocks = {
            component: stocks.get(component) or self._stock(component) for component in components
        }
        per_channel = {
            channel: bundles_sellable(
                components,
                {
                    component: stock.published[channel].new
                    for component, stock in component_stocks.items()
                    if stock is not None and channel in stock.published
                },
            )
            for channel, _ in self.sales_channels.buffers
        }
        try:
            bundle: BundleAvailability = self.get(
                bundle_availability_id_for(sku), BundleAvailability
            )
        except AggregateNotFoundError:
            return BundleAvailability.first(sku, per_channel)
        bundle.publish(per_channel)
        return bundle if bundle.pending_events else None

    def returned_unit_grades(self, sku: str) -> list[dict[str, Any]]:
        """Every returned unit of a SKU with its grade, failed checks and inspector."""
        return self.read(
            "SELECT rma_id, serial, grade, failed_checks, inspector, override_reason"
            " FROM returned_unit_grades WHERE sku = %s ORDER BY serial NULLS LAST, rma_id",
            sku,
        )

    def get_rate_card(self) -> str | None:
        """The rate card orders are routed with (shipping's published JSON), if one arrived."""
        rows = self.read("SELECT card FROM rate_card WHERE id = 1")
        return str(rows[0]["card"]) if rows else None

    def _shipping_cost(self, country: str | None, skus: Iterable[str]) -> ShippingCost:
        """The cost estimate of shipping's rate card to `country`; flat without one."""
        cards = self.read("SELECT card FROM rate_card WHERE id = 1") if country else []
        if not cards or country is None:
            return no_shipping_cost
        facts = {
            row["sku"]: (row["weight_grams"], row["lithium_ion"], row["volume_cm3"])
            for row in self.read(
                "SELECT f.sku, f.weight_grams, f.lithium_ion, v.volume_cm3 FROM product_facts f"
                " LEFT JOIN product_volumes v USING (sku) WHERE f.sku = ANY(%s)",
                sorted(set(skus)),
            )
        }
        return translators.shipping_cost(cards[0]["card"], country, facts)

    snapshotting_intervals = {SkuStock: 50}

    def receive_stock(
        self, sku: str, receipt: Receipt, *, idempotency_key: str | None = None
    ) -> uuid.UUID:
        """Put received units into stock at a location, with the reason and who did it.

        Units owed to backordered order lines are reserved for them at once, oldest first, in
        the same transaction: a receipt never makes units available that an order is waiting for.
        With an idempotency key, the same receipt again changes nothing.
        """
        command = keyed("receive-stock", idempotency_key, sku=sku, receipt=receipt)
        if (previous := command.previous(self)) is not None:
            return uuid.UUID(str(previous["stock_id"]))
        stock = self._stock(sku)
        if stock is None:
            stock = SkuStock.receive_first(sku=sku, receipt=receipt)
        else:
            stock.receive(receipt)
        reservations = self._record_fills(stock.fill_backorders())
        self.save(stock, *reservations, *command.record(stock_id=stock.id))
        return stock.id

    def take_back_return(
        self, *, sku: str, rma_id: uuid.UUID, serial: str | None, location: str, condition: str
    ) -> uuid.UUID:
        """A returned unit re-enters stock in the condition its grade gave it; never as new."""
        stock = self._stock(sku)
        if stock is None:
            raise DomainError(f"{sku} was never in stock, so no unit of it can return")
        stock.take_back(rma_id=rma_id, serial=serial, location=location, condition=condition)
        self.save(stock)
        return stock.id

    def sign_off_return(self, *, sku: str, rma_id: uuid.UUID, technician: str) -> uuid.UUID:
        """A technician signed off a returned unit as new: it is sellable again, and serves
        waiting backorders first."""
        stock = self._stock(sku)
        if stock is None:
            raise DomainError(f"{sku} was never in stock, so no unit of it can return")
        stock.change_condition(
            rma_id=rma_id, to_condition="new", reason="grade A signed off", actor=technician
        )
        reservations = self._record_fills(stock.fill_backorders())
        self.save(stock, *reservations)
        return stock.id

    def adjust_stock(
        self,
        sku: str,
        *,
        location: str,
        quantity_delta: int,
        reason_code: str,
        actor: str,
        note: str | None = None,
        serials: Sequence[str] = (),
        idempotency_key: str | None = None,
    ) -> uuid.UUID:
        """Change the units on hand at a location for a reason of the closed set, by an actor.

        Units an adjustment adds serve waiting backorders first, as a receipt's do. With an
        idempotency key, the same adjustment again changes nothing.
        """
        command = keyed(
            "adjust-stock",
            idempotency_key,
            sku=sku,
            location=location,
            quantity_delta=quantity_delta,
            reason_code=reason_code,
            actor=actor,
            note=note,
            serials=list(serials),
        )
        if (previous := command.previous(self)) is not None:
            return uuid.UUID(str(previous["stock_id"]))
        stock = self._existing_stock(sku)
        stock.adjust(
            location=location,
            quantity_delta=quantity_delta,
            reason_code=reason_code,
            actor=actor,
            note=note,
            serials=serials,
        )
        reservations = self._record_fills(stock.fill_backorders())
        self.save(stock, *reservations, *command.record(stock_id=stock.id))
        return stock.id

    def count_stock(
        self,
        sku: str,
        *,
        location: str,
        counted: int,
        actor: str,
        serials_counted: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> CountRecorded:
        """Record a count of the units at a location; its variance is booked as `cycle-count`
        adjustments (none when the books were right). With an idempotency key, the same count
        again changes nothing and answers with the first one."""
        command = keyed(
            "count-stock",
            idempotency_key,
            sku=sku,
            location=location,
            counted=counted,
            actor=actor,
            serials_counted=None if serials_counted is None else list(serials_counted),
        )
        if (previous := command.previous(self)) is not None:
            return CountRecorded(
                uuid.UUID(str(previous["stock_id"])),
                uuid.UUID(str(previous["count_id"])),
                int(previous["variance"]),
            )
        stock = self._existing_stock(sku)
        count_id = uuid.uuid4()
        variance = stock.count(
            count_id=count_id,
            location=location,
            counted=counted,
            actor=actor,
            serials_counted=serials_counted,
        )
        reservations = self._record_fills(stock.fill_backorders())
        record = command.record(stock_id=stock.id, count_id=count_id, variance=variance)
        self.save(stock, *reservations, *record)
        return CountRecorded(stock.id, count_id, variance)

    def dispatch_transfer(
        self,
        sku: str,
        *,
        from_location: str,
        to_location: str,
        quantity: int,
        actor: str,
        serials: Sequence[str] = (),
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> uuid.UUID:
        """Send available units to another location; they are in transit until received there.

        The transfer and the stock are saved together: the units leave the origin exactly when
        the transfer exists. With an idempotency key, the same transfer again changes nothing
        and answers with the first one.
        """
        command = keyed(
            "dispatch-transfer",
            idempotency_key,
            sku=sku,
            from_location=from_location,
            to_location=to_location,
            quantity=quantity,
            actor=actor,
            serials=list(serials),
            reason=reason,
        )
        if (previous := command.previous(self)) is not None:
            return uuid.UUID(str(previous["transfer_id"]))
        stock = self._existing_stock(sku)
        transfer_id = uuid.uuid4()
        stock.dispatch_transfer(
            transfer_id=transfer_id,
            from_location=from_location,
            to_location=to_location,
            quantity=quantity,
            actor=actor,
            serials=serials,
            reason=reason,
        )
        transfer = StockTransfer.dispatch(
            transfer_id=transfer_id,
            sku=sku,
            from_location=from_location,
            to_location=to_location,
            quantity=quantity,
            serials=serials,
            actor=actor,
            reason=reason,
        )
        self.save(stock, transfer, *command.record(transfer_id=transfer_id))
        return transfer_id

    def receive_transfer(
        self,
        transfer_id: uuid.UUID,
        *,
        actor: str,
        quantity_received: int | None = None,
        serials_received: Sequence[str] | None = None,
    ) -> uuid.UUID:
        """Receive a transfer at its destination: everything dispatched unless told otherwise; a
        shortfall is written off as lost. A repeated receipt changes nothing."""
        transfer = self.get_transfer(transfer_id)
        arrival = transfer.receive(
            actor=actor, quantity_received=quantity_received, serials_received=serials_received
        )
        if arrival is None:
            return transfer.id
        stock = self._existing_stock(transfer.sku)
        stock.receive_transfer(transfer_id=transfer_id, arrival=arrival, actor=actor)
        reservations = self._record_fills(stock.fill_backorders())
        self.save(transfer, stock, *reservations)
        return transfer.id

    def get_transfer(self, transfer_id: uuid.UUID) -> StockTransfer:
        try:
            transfer: StockTransfer = self.get(transfer_id, StockTransfer)
        except (AggregateNotFoundError, TypeError):
            raise UnknownStock(f"no transfer {transfer_id}") from None
        return transfer

    def set_reorder_policy(
        self, sku: str, *, location: str, policy: ReorderPolicy, actor: str | None = None
    ) -> uuid.UUID:
        """Set a location's reorder point; low stock is checked at once, and on every change."""
        stock = self._stock(sku)
        if stock is None:
            stock = SkuStock.reorder_first(sku=sku, location=location, policy=policy, actor=actor)
        else:
            stock.set_reorder_policy(location=location, policy=policy, actor=actor)
        self.save(stock)
        return stock.id

    def change_condition(
        self,
        sku: str,
        *,
        rma_id: uuid.UUID,
        to_condition: str,
        reason: str,
        actor: str,
        idempotency_key: str | None = None,
    ) -> uuid.UUID:
        """Move a returned unit to another held condition, e.g. refurbished once refurbished.
        With an idempotency key, the same change again changes nothing."""
        command = keyed(
            "change-condition",
            idempotency_key,
            sku=sku,
            rma_id=rma_id,
            to_condition=to_condition,
            reason=reason,
            actor=actor,
        )
        if (previous := command.previous(self)) is not None:
            return uuid.UUID(str(previous["stock_id"]))
        stock = self._existing_stock(sku)
        stock.change_condition(rma_id=rma_id, to_condition=to_condition, reason=reason, actor=actor)
        self.save(stock, *command.record(stock_id=stock.id))
        return stock.id

    def raise_purchase_order(
        self,
        *,
        purchase_order_id: str,
        supplier: str,
        location: str,
        expected_on: date,
        lines: Sequence[OrderedLine],
        actor: str,
    ) -> uuid.UUID:
        """Raise a purchase order to a supplier; nothing is inbound until it is confirmed."""
        if self._exists(purchase_order_id_for(purchase_order_id)):
            raise DomainError(f"purchase order {purchase_order_id} already exists")
        order = PurchaseOrder.raise_order(
            purchase_order_id=purchase_order_id,
            supplier=supplier,
            location=location,
            expected_on=expected_on,
            lines=lines,
            actor=actor,
        )
        self.save(order)
        return order.id

    def confirm_purchase_order(self, purchase_order_id: str, *, actor: str) -> uuid.UUID:
        """The supplier confirmed the order: its units are inbound at its destination, recorded on
        each SKU's stock in the same transaction. A repeat changes nothing."""
        order = self.get_purchase_order(purchase_order_id)
        if not order.confirm(actor):
            return order.id
        stocks: dict[str, SkuStock] = {}
        self._follow_inbound(order, stocks)
        self.save(order, *stocks.values())
        return order.id

    def record_asn(
        self, purchase_order_id: str, asn: AdvanceShippingNotice, *, actor: str
    ) -> uuid.UUID:
        """Record the supplier's advance shipping notice against a confirmed order; the same ASN
        again changes nothing."""
        order = self.get_purchase_order(purchase_order_id)
        if order.record_asn(asn, actor):
            self.save(order)
        return order.id

    def receive_goods(
        self, purchase_order_id: str, receipt: GoodsReceipt, *, record_rejection: bool = False
    ) -> uuid.UUID:
        """Receive goods against a purchase order, whole or not at all; once per receipt id.

        Each line goes into stock as a receipt with the reason `purchase-receipt`, the order as
        reference, its serials and batch, and the order line's unit cost; inbound drops by as
        much; waiting backorders are served first. Order and stock are saved together.

        A receipt that breaks a rule raises `ReceiptRefused` with every problem; with
        `record_rejection` (a warehouse reported it, nobody is waiting for an answer) the
        rejection is recorded on the order instead, and published. A receipt id already accepted
        for other goods, or (over HTTP) already rejected, is refused: corrections come under a
        new id.
        """
        order = self.get_purchase_order(purchase_order_id)
        if order.already_received(receipt):
            return order.id
        if receipt.receipt_id in order.rejections:
            if record_rejection:
                return order.id  # the warehouse reported it again
            raise DomainError(
                f"receipt {receipt.receipt_id} was rejected before; receive the goods under a "
                "new receipt id"
            )
        stocks = {line.sku: self._stock(line.sku) for line in order.lines}
        known = {sku: stock for sku, stock in stocks.items() if stock is not None}
        try:
            receipts = order.receive(receipt, known)
        except ReceiptRefused as refused:
            if not record_rejection:
                raise
            order.reject(receipt, refused.problems)
            self.save(order)
            return order.id
        for sku, stock_receipt in receipts:
            stock = known.get(sku)
            if stock is None:
                known[sku] = SkuStock.receive_first(sku=sku, receipt=stock_receipt)
            else:
                stock.receive(stock_receipt)
        self._follow_inbound(order, known)
        # One reservation may wait for several of the SKUs: fill them all before recording.
        fills = [fill for stock in known.values() for fill in stock.fill_backorders()]
        self.save(order, *known.values(), *self._record_fills(fills))
        return order.id

    def cancel_purchase_order(
        self, purchase_order_id: str, *, reason: str, actor: str
    ) -> uuid.UUID:
        """Cancel what has not arrived; it is no longer inbound. A repeat changes nothing."""
        order = self.get_purchase_order(purchase_order_id)
        order.cancel(reason=reason, actor=actor)
        if order.pending_events:
            stocks: dict[str, SkuStock] = {}
            self._follow_inbound(order, stocks)
            self.save(order, *stocks.values())
        return order.id

    def get_purchase_order(self, purchase_order_id: str) -> PurchaseOrder:
        try:
            order: PurchaseOrder = self.get(purchase_order_id_for(purchase_order_id), PurchaseOrder)
        except (AggregateNotFoundError, TypeError):
            raise UnknownPurchaseOrder(f"no purchase order {purchase_order_id}") from None
        return order

    def _follow_inbound(self, order: PurchaseOrder, stocks: dict[str, SkuStock]) -> None:
        """Tell the stock of each SKU on the order what is still due on it; `stocks` holds the
        stocks already loaded and gains those loaded (or, for SKUs never seen, created) here."""
        for sku, quantity in order.inbound().items():
            stock = stocks.get(sku) or self._stock(sku)
            if stock is None:
                if quantity:
                    stocks[sku] = SkuStock.expect_first(
                        sku=sku,
                        purchase_order_id=order.purchase_order_id,
                        location=order.location,
                        quantity=quantity,
                    )
                continue
            stock.expect_inbound(
                purchase_order_id=order.purchase_order_id,
                location=order.location,
                quantity=quantity,
            )
            stocks[sku] = stock

    def _record_fills(self, fills: Sequence[BackorderFill]) -> list[Reservation]:
        by_order: dict[uuid.UUID, dict[int, tuple[LocationQuantity, ...]]] = {}
        for fill in fills:
            by_order.setdefault(fill.order_id, {})[fill.line_number] = fill.allocations
        reservations = []
        for order_id, lines in by_order.items():
            reservation: Reservation = self.get(reservation_id_for(order_id), Reservation)
            reservation.fill(lines)
            reservations.append(reservation)
        return reservations

    def reserve_for_order(
        self,
        order_id: uuid.UUID,
        lines: Sequence[RequestedLine],
        destination_country: str | None = None,
    ) -> uuid.UUID:
        """Reserve a paid order's lines as far as stock allows; decided once per order.

        With a destination, the location that ships the order cheapest (by shipping's rate card)
        is preferred among those that have everything; see `plan_reservation`.
        """
        reservation_id = reservation_id_for(order_id)
        if self._exists(reservation_id):
            return reservation_id
        stocks = {sku: self._stock(sku) for sku in {line.sku for line in lines}}
        available = {
            sku: {location: stock.available_at(location) for location in stock.locations}
            for sku, stock in stocks.items()
            if stock is not None
        }
        shipping_cost = self._shipping_cost(destination_country, stocks)
        planned = plan_reservation(lines, available, shipping_cost)
        for line in planned:
            stock = stocks[line.sku]
            for allocation in line.allocations:
                assert stock is not None
                stock.reserve(
                    order_id=order_id,
                    line_number=line.line_number,
                    location=allocation.location,
                    quantity=allocation.quantity,
                )
            if line.quantity_short and stock is None:
                stocks[line.sku] = SkuStock.backorder_first(
                    sku=line.sku,
                    order_id=order_id,
                    line_number=line.line_number,
                    quantity=line.quantity_short,
                )
            elif line.quantity_short and stock is not None:
                stock.backorder(
                    order_id=order_id, line_number=line.line_number, quantity=line.quantity_short
                )
        reservation = Reservation.decide(order_id, planned)
        self.save(reservation, *(stock for stock in stocks.values() if stock is not None))
        return reservation.id

    def release_for_order(self, order_id: uuid.UUID, reason: str) -> uuid.UUID | None:
        """Make everything reserved for the order available again; once, however often asked.

        None when nothing was ever reserved for it (cancelled before it was paid).
        """
        try:
            reservation: Reservation = self.get(reservation_id_for(order_id), Reservation)
        except AggregateNotFoundError:
            return None
        if not reservation.release(reason):
            return reservation.id
        stocks = {line.sku: self._stock(line.sku) for line in reservation.lines}
        for line in reservation.lines:
            stock = stocks[line.sku]
            assert stock is not None, f"{line.sku} was reserved or backordered, so its stock exists"
            if line.quantity_short:
                stock.withdraw_backorder(order_id=order_id, line_number=line.line_number)
            for allocation in line.allocations:
                stock.release(
                    order_id=order_id,
                    line_number=line.line_number,
                    location=allocation.location,
                    quantity=allocation.quantity,
                )
        self.save(reservation, *(stock for stock in stocks.values() if stock is not None))
        return reservation.id

    def check_pack_scan(
        self,
        *,
        shipment_id: uuid.UUID,
        order_id: uuid.UUID,
        location: str,
        scan: int,
        units: Sequence[ScannedUnit],
    ) -> uuid.UUID:
        """Decide whether the scanned units may ship in this parcel; once per scan.

        A serial passes when it is a unit of that SKU in stock at that location, not shipped and
        not packed in another parcel. Passing serials are marked packed, so no other parcel can
        take them.
        """
        check_id = serial_check_id_for(shipment_id, scan)
        if self._exists(check_id):
            return check_id
        stocks = {sku: self._stock(sku) for sku in {unit.sku for unit in units}}
        problems = []
        for unit in units:
            stock = stocks[unit.sku]
            if stock is None:
                if unit.serial is not None:
                    problems.append(f"serial {unit.serial} is not a {unit.sku} in stock")
                continue
            problem = stock.problem_with_serial(unit.serial, location, shipment_id)
            if problem is not None:
                problems.append(f"line {unit.line_number}: {problem}")
        check = SerialCheck.decide(
            shipment_id=shipment_id, order_id=order_id, scan=scan, problems=tuple(problems)
        )
        if problems:
            self.save(check)
            return check.id
        for unit in units:
            stock = stocks[unit.sku]
            if stock is not None and unit.serial is not None:
                stock.pack_serial(unit.serial, location, shipment_id, order_id)
        self.save(check, *(stock for stock in stocks.values() if stock is not None))
        return check.id

    def ship(
        self,
        *,
        order_id: uuid.UUID,
        shipment_id: uuid.UUID,
        location: str,
        units: Sequence[ScannedUnit],
    ) -> None:
        """A parcel left: its units leave on hand and the order's reservation, serial by serial."""
        by_line: dict[tuple[str, int], list[str | None]] = {}
        for unit in units:
            by_line.setdefault((unit.sku, unit.line_number), []).append(unit.serial)
        stocks = {sku: self._stock(sku) for sku, _ in by_line}
        for (sku, line_number), serials in sorted(by_line.items()):
            stock = stocks[sku]
            if stock is None:
                raise DomainError(f"{sku} has no stock, so none of it can ship")
            stock.ship(
                order_id=order_id,
                shipment_id=shipment_id,
                line_number=line_number,
                location=location,
                quantity=len(serials),
                serials=tuple(serial for serial in serials if serial is not None),
            )
        self.save(*(stock for stock in stocks.values() if stock is not None))

    def get_stock_levels(self, sku: str) -> list[StockLevel]:
        """Units on hand, reserved and available per location (empty for an unknown SKU)."""
        stock = self._stock(sku)
        if stock is None:
            return []
        return [
            StockLevel(
                location=location,
                on_hand=stock.on_hand_at(location),
                reserved=stock.reserved_at(location),
                available=stock.available_at(location),
                serials_in_stock=len(stock.serials_at(location)),
                held=stock.held_in(location),
            )
            for location in stock.locations
        ]

    def get_stock_view(self, sku: str) -> StockView | None:
        """Per location and condition, in transit and reorder points; None for an unknown SKU."""
        stock = self._stock(sku)
        if stock is None:
            return None
        return StockView(
            positions=stock.positions(),
            in_transit=sorted(
                stock.in_transit.values(), key=lambda m: (m.from_location, str(m.transfer_id))
            ),
            policies=dict(sorted(stock.policies.items())),
            low_stock=dict(sorted(stock.low_stock.items())),
        )

    def get_movements(self, sku: str, location: str | None = None) -> list[Movement] | None:
        """Every change of on hand or reserved, oldest first, with running totals, from the
        stock's own events; None for an unknown SKU."""
        events = list(self.repository.event_store.get(stock_id_for(sku)))
        if not events:
            return None
        return movements(events, location)

    def get_backorders(self, sku: str) -> list[Backorder]:
        """Units of the SKU owed to order lines, oldest first."""
        stock = self._stock(sku)
        return [] if stock is None else list(stock.backorders)

    def _stock(self, sku: str) -> SkuStock | None:
        try:
            stock: SkuStock = self.get(stock_id_for(sku), SkuStock)
        except AggregateNotFoundError:
            return None
        return stock

    def _existing_stock(self, sku: str) -> SkuStock:
        stock = self._stock(sku)
        if stock is None:
            raise UnknownStock(f"{sku} was never in stock")
        return stock

    def _exists(self, aggregate_id: uuid.UUID) -> bool:
        try:
            self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return False
        return True
