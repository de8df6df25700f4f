"""`scripts/demo` (`python -m infra.demo`): push a realistic stream of orders through a running
system and watch them reach delivered.

Against the system `scripts/run` starts (the services plus the simulated 3PL and carriers) it:

1. registers a small electronics catalogue in PIM (repeating it changes nothing);
2. receives serialized stock at two warehouses through inventory (new serials every run);
3. publishes channel orders, as channel connectors would, to `channel.orders.v1` at a steady rate:
   several channels, values under and over $500, lithium-ion items, orders that split across both
   warehouses, and one order the fraud check holds;
4. shows how many orders are in each state until every one is delivered (or the timeout), releasing
   the held order as a risk reviewer would;
5. prints a summary, and where one order is (what `unitrail where` answers);
6. has the customers of a few delivered orders return a unit (`--returns`): each RMA is authorised,
   the simulated customer sends the unit back with the return label, the inspector grades it B
   (opened, works: open-box stock) and the refund is issued, unless the dock scanned another unit.

Every run uses fresh channel order ids, so it can run again against the same system.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import time

from contracts.topics import CHANNEL_ORDERS
from infra.demo.orders import make_orders, run_token
from infra.demo.report import say, summarise
from infra.demo.returns import return_some
from infra.demo.system import (
    Endpoints,
    SystemUnavailable,
    check_running,
    receive_stock,
    register_catalogue,
    send_orders,
    watch,
)


async def run(arguments: argparse.Namespace) -> int:
    endpoints = Endpoints(
        pim=arguments.pim_url.rstrip("/"),
        inventory=arguments.inventory_url.rstrip("/"),
        order=arguments.order_url.rstrip("/"),
        shipping=arguments.shipping_url.rstrip("/"),
        returns=arguments.returns_url.rstrip("/"),
        bootstrap=arguments.bootstrap,
    )
    run_id = run_token()
    rng = random.Random(arguments.seed if arguments.seed is not None else run_id)
    orders = make_orders(run_id, arguments.orders, rng, fraud=not arguments.no_fraud_order)
    say(
        f"demo run {run_id}: {len(orders)} orders at {arguments.rate:g}/s "
        f"(timeout {arguments.timeout:g} s)"
    )
    try:
        await check_running(endpoints)
        await register_catalogue(endpoints)
        await receive_stock(endpoints, run_id, orders)
        channels = sorted({order.message.channel for order in orders})
        say(f"sending orders on {', '.join(channels)} to {CHANNEL_ORDERS.name}")
        started = time.monotonic()
        sending = asyncio.create_task(send_orders(endpoints.bootstrap, orders, arguments.rate))
        await watch(
            endpoints,
            orders,
            sending,
            give_up_after=arguments.timeout,
            review_after=arguments.review_after,
        )
        if not sending.done():
            sending.cancel()
        elif sending.exception() is not None:
            say(f"could not send the orders to {endpoints.bootstrap}: {sending.exception()!r}")
        delivered_all = summarise(orders, time.monotonic() - started, endpoints.order)
        returned_all = await return_some(endpoints, orders, arguments.returns, arguments.timeout)
        return 0 if delivered_all and returned_all else 1
    except SystemUnavailable as error:
        say(f"the system does not answer ({error}); start it with scripts/run")
        return 2


def parser() -> argparse.ArgumentParser:
    arguments = argparse.ArgumentParser(
        prog="scripts/demo", description=(__doc__ or "").splitlines()[0]
    )
    arguments.add_argument("--orders", type=int, default=20, help="how many orders (default 20)")
    arguments.add_argument(
        "--rate", type=float, default=2.0, help="orders sent per second (default 2)"
    )
    arguments.add_argument(
        "--timeout",
        type=float,
        default=300,
        help="seconds to wait for every order to be delivered (default 300)",
    )
    arguments.add_argument(
        "--no-fraud-order", action="store_true", help="leave out the order the fraud check holds"
    )
    arguments.add_argument(
        "--review-after",
        type=float,
        default=3.0,
        help="seconds before the risk desk releases a held order (default 3)",
    )
    arguments.add_argument(
        "--returns",
        type=int,
        default=2,
        help="delivered orders whose customers then return a unit (default 2)",
    )
    arguments.add_argument("--seed", help="make the order stream reproducible")
    environment = os.environ.get

    def url(service: str, port: int) -> str:
        return environment(f"UNITRAIL_{service.upper()}_URL", f"http://127.0.0.1:{port}")

    arguments.add_argument(
        "--bootstrap",
        default=environment("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        help="Kafka bootstrap servers (default $KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092)",
    )
    arguments.add_argument("--pim-url", default=url("pim", 8001))
    arguments.add_argument("--inventory-url", default=url("inventory", 8002))
    arguments.add_argument("--order-url", default=url("order", 8003))
    arguments.add_argument("--shipping-url", default=url("shipping", 8006))
    arguments.add_argument("--returns-url", default=url("returns", 8004))
    return arguments


def main(argv: list[str] | None = None) -> int:
    """Run the demo; 0 when every order was delivered, 1 when not, 2 when the system is down."""
    arguments = parser().parse_args(argv)
    if arguments.orders < 1 or arguments.rate <= 0 or not math.isfinite(arguments.rate):
        raise SystemExit("--orders must be at least 1 and --rate above 0")
    return asyncio.run(run(arguments))
