"""The operator CLI's parsing of order references."""

from __future__ import annotations

import pytest

from infra.cli import order_path


def test_an_order_is_found_by_its_id_or_by_the_channel_and_its_id_there() -> None:
    assert order_path("0142bafe-7b7f-5988-a43f-3250a9eca13b") == (
        "/orders/0142bafe-7b7f-5988-a43f-3250a9eca13b"
    )
    assert order_path("amazon-de:302-1/7") == "/orders/by-channel/amazon-de/302-1%2F7"


def test_anything_else_is_refused_with_what_is_expected() -> None:
    with pytest.raises(SystemExit, match="neither an order id nor channel:channel_order_id"):
        order_path("1001")
