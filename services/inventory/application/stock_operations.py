"""Units in and out outside orders: receipts, returns, adjustments, counts, transfers, reorder
policies and condition changes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from eventsourcing.application import AggregateNotFoundError

from services.inventory.application.core import (
    CountRecorded,
    InventoryCore,
    UnknownStock,
    keyed,
)
from services.inventory.domain import (
    Receipt,
    ReorderPolicy,
    SkuStock,
    StockTransfer,
)
from services.runtime.aggregate import DomainError


class StockOperations(InventoryCore):
    """Receipts, returns, adjustments, counts, transfers, reorder policies, conditions."""

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
