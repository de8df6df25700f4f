"""Purchase orders: the rules of a receipt (partial, over-receipt, unknown SKU, cancelled, serials),
and what receiving against one does to stock, inbound and waiting orders (in-memory store)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from contracts import inventory as contracts
from services.inventory import translators
from services.inventory.application import InventoryApplication, UnknownPurchaseOrder
from services.inventory.domain import (
    AdvanceShippingNotice,
    DeliveredLine,
    GoodsReceipt,
    OrderedLine,
    PurchaseOrder,
    Receipt,
    ReceiptRefused,
    ReorderPolicy,
    RequestedLine,
    SkuStock,
    purchase_order_id_for,
    stock_id_for,
)
from services.runtime.aggregate import DomainError

LAPTOP = OrderedLine("LAPTOP-14", 3, Decimal("612.50"), "USD")
CABLE = OrderedLine("CABLE-USBC", 10, Decimal("1.2500"), "USD")


def order(*lines: OrderedLine, confirmed: bool = True) -> PurchaseOrder:
    po = PurchaseOrder.raise_order(
        purchase_order_id="PO-1",
        supplier="Acme",
        location="WH-A",
        expected_on=date(2026, 3, 2),
        lines=lines or (LAPTOP, CABLE),
        actor="buyer",
    )
    if confirmed:
        po.confirm("buyer")
    return po


def receipt(
    receipt_id: str, *lines: DeliveredLine, location: str = "WH-A", asn_id: str | None = None
) -> GoodsReceipt:
    return GoodsReceipt(receipt_id, location, datetime.now(UTC), "dock", lines, asn_id)


def refused(
    po: PurchaseOrder, goods: GoodsReceipt, stocks: dict[str, SkuStock] | None = None
) -> list[str]:
    with pytest.raises(ReceiptRefused) as error:
        po.receive(goods, stocks or {})
    return list(error.value.problems)


# -- the purchase order ---------------------------------------------------------------------------


def test_partial_receipts_complete_a_line_and_the_order_is_received_when_every_line_is() -> None:
    po = order()
    assert (po.status, po.inbound()) == ("confirmed", {"LAPTOP-14": 3, "CABLE-USBC": 10})
    booked = po.receive(receipt("R-1", DeliveredLine("LAPTOP-14", 2, ("S1", "S2"), "B1")), {})
    assert booked == [
        (
            "LAPTOP-14",
            Receipt(
                "WH-A",
                2,
                "purchase-receipt",
                "dock",
                reference="PO-1",
                serials=("S1", "S2"),
                batch="B1",
                unit_cost=Decimal("612.50"),
                currency="USD",
            ),
        )
    ]
    assert (po.status, po.outstanding("LAPTOP-14")) == ("partially-received", 1)
    po.receive(receipt("R-2", DeliveredLine("LAPTOP-14", 1, ("S3",))), {})
    po.receive(receipt("R-3", DeliveredLine("CABLE-USBC", 4), DeliveredLine("CABLE-USBC", 6)), {})
    assert po.status == "received"
    assert po.inbound() == {"LAPTOP-14": 0, "CABLE-USBC": 0}
    completed = po.pending_events[-1]
    assert isinstance(completed, PurchaseOrder.Received)
    assert completed.fully_received


def test_a_receipt_is_refused_whole_with_every_problem_and_a_repeat_changes_nothing() -> None:
    po = order()
    first = receipt("R-1", DeliveredLine("LAPTOP-14", 1, ("S1",)))
    po.receive(first, {})
    assert po.receive(first, {}) == []  # a repeat
    problems = refused(
        po,
        receipt(
            "R-2",
            DeliveredLine("LAPTOP-14", 3, ("S2", "S3", "S4")),
            DeliveredLine("PHONE-9", 1),
            DeliveredLine("CABLE-USBC", 2, ("C1",)),
        ),
    )
    assert problems == [
        "line 1: 3 x LAPTOP-14 is more than the 2 outstanding (3 ordered, 1 received)",
        "line 2: PHONE-9 is not on purchase order PO-1",
        "line 3: 2 x CABLE-USBC need 2 serials, 1 given",
    ]
    assert po.received == {"LAPTOP-14": 1}


def test_a_serial_received_before_or_given_twice_is_refused() -> None:
    stock = SkuStock.receive_first(
        sku="LAPTOP-14", receipt=Receipt("WH-B", 1, "initial-count", "ops", serials=("S1",))
    )
    problems = refused(
        order(),
        receipt("R-1", DeliveredLine("LAPTOP-14", 3, ("S1", "S2", "S2"))),
        {"LAPTOP-14": stock},
    )
    assert problems == [
        "line 1: serial S1 of LAPTOP-14 was already received (at WH-B)",
        "line 1: serial S2 of LAPTOP-14 given twice",
    ]
    # a serialized product's units cannot come in without their serials
    assert refused(
        order(), receipt("R-2", DeliveredLine("LAPTOP-14", 1)), {"LAPTOP-14": stock}
    ) == ["line 1: LAPTOP-14 units carry serials; none given for 1"]


def test_only_a_confirmed_order_receives_at_its_destination_and_against_its_asns() -> None:
    goods = DeliveredLine("CABLE-USBC", 1)
    assert refused(order(confirmed=False), receipt("R-1", goods)) == [
        "purchase order PO-1 is not confirmed yet"
    ]
    assert refused(order(), receipt("R-1", goods, location="WH-B", asn_id="ASN-9")) == [
        "purchase order PO-1 is due at WH-A, not at WH-B",
        "ASN ASN-9 is not recorded on purchase order PO-1",
    ]


def test_a_cancelled_order_expects_nothing_more_and_receives_nothing() -> None:
    po = order()
    po.receive(receipt("R-1", DeliveredLine("CABLE-USBC", 10)), {})
    assert po.cancel(reason="supplier cannot deliver", actor="buyer") == {"LAPTOP-14": 3}
    assert po.cancel(reason="again", actor="buyer") == {}
    assert (po.status, po.inbound()) == ("cancelled", {"LAPTOP-14": 0, "CABLE-USBC": 0})
    assert refused(po, receipt("R-2", DeliveredLine("LAPTOP-14", 1, ("S1",)))) == [
        "purchase order PO-1 is cancelled"
    ]
    received = order(CABLE)
    received.receive(receipt("R-1", DeliveredLine("CABLE-USBC", 10)), {})
    with pytest.raises(DomainError, match="received in full"):
        received.cancel(reason="late", actor="buyer")


def test_an_order_names_each_sku_once_and_an_asn_stays_within_the_order() -> None:
    with pytest.raises(DomainError, match="ordered once"):
        order(LAPTOP, LAPTOP)
    po = order()
    asn = AdvanceShippingNotice(
        "ASN-1", date(2026, 3, 1), (DeliveredLine("LAPTOP-14", 2, ("S1", "S2"), "B1"),)
    )
    assert po.record_asn(asn, "supplier")
    assert not po.record_asn(asn, "supplier")  # a repeat
    too_much = AdvanceShippingNotice("ASN-2", date(2026, 3, 1), (DeliveredLine("LAPTOP-14", 4),))
    with pytest.raises(DomainError, match="4 x LAPTOP-14 is more than the 3 outstanding"):
        po.record_asn(too_much, "supplier")


# -- receiving through the application ------------------------------------------------------------


def test_confirmed_units_are_inbound_until_received_or_cancelled() -> None:
    inventory = InventoryApplication(None)
    inventory.raise_purchase_order(
        purchase_order_id="PO-1",
        supplier="Acme",
        location="WH-A",
        expected_on=date(2026, 3, 2),
        lines=[LAPTOP, CABLE],
        actor="buyer",
    )
    assert inventory.get_stock_view("LAPTOP-14") is None  # raised, not confirmed: not inbound
    inventory.confirm_purchase_order("PO-1", actor="buyer")

    def inbound(sku: str) -> list[tuple[str, int, int]]:
        view = inventory.get_stock_view(sku)
        assert view is not None
        return [(p.location, p.on_hand, p.inbound) for p in view.positions if p.condition == "new"]

    assert inbound("LAPTOP-14") == [("WH-A", 0, 3)]
    inventory.receive_goods(
        "PO-1", receipt("R-1", DeliveredLine("LAPTOP-14", 2, ("S1", "S2"), "B1"))
    )
    assert inbound("LAPTOP-14") == [("WH-A", 2, 1)]
    inventory.cancel_purchase_order("PO-1", reason="late", actor="buyer")
    assert inbound("LAPTOP-14") == [("WH-A", 2, 0)]
    assert inbound("CABLE-USBC") == []  # nothing of it anywhere any more
    events = [
        translators.to_contract(e)
        for e in inventory.repository.event_store.get(stock_id_for("LAPTOP-14"))
    ]
    received = [e for e in events if isinstance(e, contracts.StockReceived)]
    assert [
        (r.reason, r.reference, r.serials, r.batch, r.unit_cost, r.currency) for r in received
    ] == [("purchase-receipt", "PO-1", ["S1", "S2"], "B1", Decimal("612.50"), "USD")]
    assert [e.location_inbound for e in events if isinstance(e, contracts.StockInboundChanged)] == [
        3,
        1,
        0,
    ]


def test_a_warehouse_receipt_that_breaks_a_rule_is_recorded_as_rejected_once() -> None:
    inventory = InventoryApplication(None)
    inventory.raise_purchase_order(
        purchase_order_id="PO-1",
        supplier="Acme",
        location="WH-A",
        expected_on=date(2026, 3, 2),
        lines=[LAPTOP],
        actor="buyer",
    )
    inventory.confirm_purchase_order("PO-1", actor="buyer")
    too_many = receipt("R-1", DeliveredLine("LAPTOP-14", 4, ("S1", "S2", "S3", "S4")))
    with pytest.raises(ReceiptRefused):
        inventory.receive_goods("PO-1", too_many)
    inventory.receive_goods("PO-1", too_many, record_rejection=True)
    inventory.receive_goods("PO-1", too_many, record_rejection=True)
    po = inventory.get_purchase_order("PO-1")
    assert po.rejections == {
        "R-1": ("line 1: 4 x LAPTOP-14 is more than the 3 outstanding (3 ordered, 0 received)",)
    }
    rejected = [
        e
        for e in inventory.repository.event_store.get(purchase_order_id_for("PO-1"))
        if isinstance(e, PurchaseOrder.ReceiptRejected)
    ]
    assert len(rejected) == 1
    assert isinstance(translators.to_contract(rejected[0]), contracts.PurchaseOrderReceiptRejected)
    with pytest.raises(DomainError, match="rejected before; receive the goods under a new"):
        inventory.receive_goods("PO-1", too_many)
    with pytest.raises(UnknownPurchaseOrder):
        inventory.receive_goods("PO-404", too_many, record_rejection=True)
    two = receipt("R-2", DeliveredLine("LAPTOP-14", 2, ("S1", "S2")))
    inventory.receive_goods("PO-1", two)
    inventory.receive_goods("PO-1", two)  # a retry
    with pytest.raises(DomainError, match=r"already received .* with other goods"):
        inventory.receive_goods("PO-1", receipt("R-2", DeliveredLine("LAPTOP-14", 1, ("S3",))))
    assert inventory.get_purchase_order("PO-1").received == {"LAPTOP-14": 2}


def test_goods_received_serve_waiting_orders_first() -> None:
    inventory = InventoryApplication(None)
    waiting = uuid.uuid4()
    inventory.reserve_for_order(
        waiting, [RequestedLine(1, "CABLE-USBC", 4), RequestedLine(2, "LAPTOP-14", 1)]
    )
    inventory.raise_purchase_order(
        purchase_order_id="PO-1",
        supplier="Acme",
        location="WH-A",
        expected_on=date(2026, 3, 2),
        lines=[LAPTOP, CABLE],
        actor="buyer",
    )
    inventory.confirm_purchase_order("PO-1", actor="buyer")
    inventory.receive_goods(
        "PO-1",
        receipt("R-1", DeliveredLine("CABLE-USBC", 10), DeliveredLine("LAPTOP-14", 1, ("S1",))),
    )
    assert inventory.get_backorders("CABLE-USBC") == inventory.get_backorders("LAPTOP-14") == []
    assert [
        (level.on_hand, level.reserved) for level in inventory.get_stock_levels("CABLE-USBC")
    ] == [(10, 4)]


def test_a_snapshot_before_purchase_orders_is_upcast() -> None:
    state: dict[str, object] = {"on_hand": {"A": 1}}
    SkuStock.upcast_v2_v3(state)
    assert state == {"on_hand": {"A": 1}, "inbound": {}}


def test_units_on_a_confirmed_order_count_against_the_reorder_point() -> None:
    inventory = InventoryApplication(None, today=lambda: date(2026, 3, 2))
    inventory.receive_stock("LAPTOP-14", Receipt("WH-A", 4, "initial-count", "dock"))
    inventory.set_reorder_policy(
        "LAPTOP-14", location="WH-A", policy=ReorderPolicy(5, 10, 7), actor="buyer"
    )
    inventory.raise_purchase_order(
        purchase_order_id="PO-1",
        supplier="Acme",
        location="WH-A",
        expected_on=date(2026, 3, 9),
        lines=[OrderedLine("LAPTOP-14", 10, Decimal("612.50"), "USD")],
        actor="buyer",
    )
    inventory.confirm_purchase_order("PO-1", actor="buyer")
    # Ordered units must not be suggested again: selling what is on the shelf leaves 10 coming.
    inventory.reserve_for_order(uuid.UUID(int=1), [RequestedLine(1, "LAPTOP-14", 4)])
    alerts = [
        alert
        for e in inventory.repository.event_store.get(stock_id_for("LAPTOP-14"))
        if isinstance(
            alert := translators.to_contract(e),
            contracts.LowStockDetected | contracts.LowStockResolved,
        )
    ]
    assert [(type(a).__name__, a.available, a.inbound) for a in alerts] == [
        ("LowStockDetected", 4, 0),
        ("LowStockResolved", 4, 10),
    ]
    assert isinstance(alerts[0], contracts.LowStockDetected)
    assert alerts[0].suggested_purchase_order.quantity == 10
