"""The demo's order stream and stock plan (the run against a system is an integration test)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from infra import demo
from infra.demo.orders import make_orders, receipts
from infra.demo.report import story_of


def test_the_stream_is_varied_reproducible_and_has_one_order_for_the_fraud_check() -> None:
    orders = make_orders("RUN1", 30, random.Random("seed"), fraud=True)
    again = make_orders("RUN1", 30, random.Random("seed"), fraud=True)
    assert [o.message.lines for o in orders] == [o.message.lines for o in again]
    assert len({o.reference for o in orders}) == 30
    assert all(o.message.channel_order_id.startswith("RUN1-") for o in orders)
    assert len({o.message.channel for o in orders}) >= 3
    held = [o for o in orders if o.message.fraud_score >= 80]
    assert len(held) == 1
    totals = [sum(line.unit_price * line.quantity for line in o.message.lines) for o in orders]
    assert min(totals) < 500 < max(totals)
    assert not any(
        o.message.fraud_score >= 80 for o in make_orders("R", 9, random.Random(), fraud=False)
    )


def test_every_location_a_product_is_stocked_at_receives_the_whole_demand_with_fresh_serials() -> (
    None
):
    orders = make_orders("RUN2", 25, random.Random(7), fraud=False)
    demand: Counter[str] = Counter()
    for order in orders:
        for line in order.message.lines:
            demand[line.sku] += line.quantity
    planned = receipts("RUN2", orders)
    for product, location, quantity, serials in planned:
        assert location in product.locations
        assert quantity == demand[product.sku] + 1
        assert len(serials) == (quantity if product.serialized else 0)
        assert all("RUN2" in serial for serial in serials)
    every_serial = [serial for *_, serials in planned for serial in serials]
    assert len(every_serial) == len(set(every_serial))
    assert {product.sku for product, *_ in planned} == set(demand)


def test_the_demo_says_so_when_the_system_is_not_running(
    capsys: pytest.CaptureFixture[str],
) -> None:
    nowhere = "http://127.0.0.1:9"
    assert demo.main(["--orders", "1", "--pim-url", nowhere, "--timeout", "1"]) == 2
    assert "start it with scripts/run" in capsys.readouterr().out


def test_the_order_shown_is_one_whose_parcels_carry_serials() -> None:
    cables, laptop = make_orders("RUN2", 2, random.Random("seed"), fraud=False)
    cables.status = laptop.status = "delivered"
    cables.released = True
    cables.view = {
        "shipments": [{"serials": []}, {"serials": []}],
        "delivery_exceptions": [{"code": "no one home"}],
    }
    laptop.view = {"shipments": [{"serials": ["LT14-1"]}]}
    assert story_of([cables, laptop]) is laptop
