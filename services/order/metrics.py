"""The order service's own figures on `/metrics`: orders per status, held, and stuck (in one
status longer than `UNITRAIL_ORDER_STUCK_AFTER_SECONDS`), read from `orders_by_state` at each
scrape. The alert `UnitrailOrdersStuck` in docs/alerts.yml is built on them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from services.order.application import OrderApplication
from services.order.domain import OrderStatus

ORDERS = "unitrail_orders"
ORDERS_HELD = "unitrail_orders_held"
ORDERS_STUCK = "unitrail_orders_stuck"
ORDERS_OLDEST = "unitrail_orders_oldest_in_state_seconds"


def order_figures(orders: OrderApplication, stuck_after: timedelta) -> Iterable[Metric]:
    """The figures of the orders as they are now (what `/metrics` calls at each scrape)."""
    now = datetime.now(UTC)
    return state_figures(orders.state_counts(stuck_after, now), now)


def state_figures(counts: Iterable[Mapping[str, Any]], now: datetime) -> Iterable[Metric]:
    """Per status (every status, 0 where none are), from `OrderApplication.state_counts`:
    orders, held, stuck, and how long the oldest has been in it."""
    rows = {row["state"]: row for row in counts}
    families = {
        name: GaugeMetricFamily(name, text, labels=["service", "state"])
        for name, text in (
            (ORDERS, "Orders in each status."),
            (ORDERS_HELD, "Of those, orders something holds (a person, unregistered SKUs)."),
            (
                ORDERS_STUCK,
                "Of those, orders in it longer than UNITRAIL_ORDER_STUCK_AFTER_SECONDS "
                "(never delivered or cancelled ones).",
            ),
            (ORDERS_OLDEST, "How long the order longest in each status has been in it."),
        )
    }
    for state in OrderStatus:
        row = rows.get(str(state))
        labels = ["order", str(state)]
        families[ORDERS].add_metric(labels, row["orders"] if row else 0)
        families[ORDERS_HELD].add_metric(labels, row["held"] if row else 0)
        families[ORDERS_STUCK].add_metric(labels, row["stuck"] if row else 0)
        oldest = (now - row["oldest_since"]).total_seconds() if row else 0.0
        families[ORDERS_OLDEST].add_metric(labels, max(oldest, 0.0))
    return families.values()
