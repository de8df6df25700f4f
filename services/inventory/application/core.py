"""The core every group of inventory's use cases stands on: the application with its stored
kinds and read models, the save that keeps availability and bundles current, and loading stock."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from services.inventory import projections
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
    KitBackorders,
    KitComponent,
    LocationQuantity,
    OrderedLine,
    PurchaseSuggestion,
    Receipt,
    ReorderPolicy,
    Reservation,
    ReservedLine,
    ReturnedUnit,
    SalesChannels,
    SkuStock,
    StockPosition,
    bundle_availability_id_for,
    bundles_sellable,
    component_units,
    kit_backorders_id_for,
    reservation_id_for,
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
    available_to_sell: list[ChannelAvailability]
    """What each channel was last told it may sell."""
    inbound: list[InboundLine]
    """Units still due on each confirmed purchase order."""


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


class InventoryCore(ServiceApplication):
    """Stock per SKU and location: what every use case needs (loading, saving, backorder fills)."""

    value_objects = (
        LocationQuantity,
        ReservedLine,
        KitComponent,
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
    moved_since_module_paths = {
        Backorder: "services.inventory.domain.stock",
        ReturnedUnit: "services.inventory.domain.stock",
        InTransit: "services.inventory.domain.transfer",
        InboundLine: "services.inventory.domain.inbound",
        ReorderPolicy: "services.inventory.domain.reorder",
        PurchaseSuggestion: "services.inventory.domain.reorder",
    }

    read_models = projections.read_models

    snapshotting_intervals = {SkuStock: 50}

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
        clears) its low-stock alerts, in the same transaction as the change that caused it.

        Kits owed whole are served first when the stocks saved are their components (see
        `_fill_owed_kits`), so what channels are told counts them."""
        stocks = {stock.sku: stock for stock in objects if isinstance(stock, SkuStock)}
        kits = self._kits_made_of(stocks) if stocks and self.has_read_models else {}
        also_saved = self._fill_owed_kits(kits, stocks, objects) if kits else []
        for stock in stocks.values():
            stock.publish_availability(self.sales_channels)
            stock.detect_low_stock(self.today())
        bundles = [
            bundle
            for sku, components in sorted(kits.items())
            if (bundle := self._bundle_availability(sku, components, stocks)) is not None
        ]
        return super().save(*objects, *also_saved, *bundles, **kwargs)

    def _kits(self, skus: Collection[str]) -> dict[str, dict[str, int]]:
        """Which of these SKUs are kits (bundles), with their components and units per kit."""
        if not self.has_read_models:
            return {}
        return self._kit_definitions(
            "SELECT bundle_sku, component_sku, quantity FROM bundle_components"
            " WHERE bundle_sku = ANY(%s)",
            list(skus),
        )

    def _kits_made_of(self, stocks: Mapping[str, SkuStock]) -> dict[str, dict[str, int]]:
        """The kits (bundles) these stocks' SKUs are components of, with all their components."""
        return self._kit_definitions(
            "SELECT bundle_sku, component_sku, quantity FROM bundle_components WHERE bundle_sku IN"
            " (SELECT bundle_sku FROM bundle_components WHERE component_sku = ANY(%s))",
            list(stocks),
        )

    def _kit_definitions(self, query: str, skus: list[str]) -> dict[str, dict[str, int]]:
        definitions: dict[str, dict[str, int]] = {}
        for row in self.read(query, skus):
            definitions.setdefault(row["bundle_sku"], {})[row["component_sku"]] = row["quantity"]
        return definitions

    def _fill_owed_kits(
        self,
        kits: Mapping[str, Mapping[str, int]],
        stocks: dict[str, SkuStock],
        saving: Sequence[Any],
    ) -> list[Any]:
        """Reserve whole kits for lines that wait for them, where one location now has every
        component (oldest lines first); what must be saved besides `saving`. Component stocks
        loaded for it join `stocks`."""
        pending = {getattr(item, "id", None): item for item in saving}
        also_saved: list[Any] = []
        for sku, components in sorted(kits.items()):
            owed = pending.get(kit_backorders_id_for(sku)) or self._owed_kits(sku)
            if not isinstance(owed, KitBackorders) or not owed.owed:
                continue
            for component in components:
                if component not in stocks and (stock := self._stock(component)) is not None:
                    stocks[component] = stock
                    also_saved.append(stock)
            if set(components) - set(stocks):
                continue  # a component never in stock: no kit can be made
            available = {
                component: {
                    location: stocks[component].available_at(location)
                    for location in stocks[component].locations
                }
                for component in components
            }
            filled = owed.fill(components, available)
            for (order_id, line_number), taken in filled.items():
                for item in taken:
                    for component, units in component_units(components, item.quantity).items():
                        stocks[component].reserve(
                            order_id=order_id,
                            line_number=line_number,
                            location=item.location,
                            quantity=units,
                        )
                reservation_id = reservation_id_for(order_id)
                reservation = pending.get(reservation_id)
                if not isinstance(reservation, Reservation):
                    reservation = self.get(reservation_id, Reservation)
                    pending[reservation_id] = reservation
                    also_saved.append(reservation)
                reservation.fill({line_number: taken})
            if filled and owed not in saving:
                also_saved.append(owed)
        return also_saved

    def _owed_kits(self, sku: str) -> KitBackorders | None:
        try:
            owed: KitBackorders = self.get(kit_backorders_id_for(sku), KitBackorders)
        except AggregateNotFoundError:
            return None
        return owed

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
