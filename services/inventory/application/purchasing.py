"""Purchase orders: raised, confirmed (their units inbound), announced by ASNs, received whole or
refused whole, cancelled."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from eventsourcing.application import AggregateNotFoundError

from services.inventory.application.core import (
    InventoryCore,
    UnknownPurchaseOrder,
)
from services.inventory.domain import (
    AdvanceShippingNotice,
    GoodsReceipt,
    OrderedLine,
    PurchaseOrder,
    ReceiptRefused,
    SkuStock,
    purchase_order_id_for,
)
from services.runtime.aggregate import DomainError


class Purchasing(InventoryCore):
    """Purchase orders and goods received against them."""

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
