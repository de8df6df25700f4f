"""`unitrail`: the operator's command line.

    unitrail where webshop:1001          where is this channel order?
    unitrail where 0142bafe-7b7f-...     ... or this Unitrail order id

It asks the order service's HTTP API (`--order-url`, default `$UNITRAIL_ORDER_URL` or
http://127.0.0.1:8003) and prints the answer for a person, or as JSON with `--json`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any


def order_path(reference: str) -> str:
    """`channel:channel_order_id` or an order id, as a path of the order API."""
    try:
        return f"/orders/{uuid.UUID(reference)}"
    except ValueError:
        channel, separator, channel_order_id = reference.partition(":")
        if not separator or not channel or not channel_order_id:
            raise SystemExit(
                f"{reference!r} is neither an order id nor channel:channel_order_id"
            ) from None
        quoted = urllib.parse.quote(channel_order_id, safe="")
        return f"/orders/by-channel/{urllib.parse.quote(channel, safe='')}/{quoted}"


def fetch(base_url: str, path: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"{base_url.rstrip('/')}{path}", timeout=10) as reply:
            answer: dict[str, Any] = json.loads(reply.read())
            return answer
    except urllib.error.HTTPError as error:
        detail = json.loads(error.read() or b"{}").get("detail", error.reason)
        raise SystemExit(f"{error.code}: {detail}") from None
    except urllib.error.URLError as error:
        raise SystemExit(
            f"the order service at {base_url} does not answer: {error.reason}"
        ) from None


def describe(order: dict[str, Any]) -> str:
    """The order as a person reads it: state, lines, and each parcel with where it is."""
    status = order["status"] + (f" (on hold: {order['hold_reason']})" if order["on_hold"] else "")
    if order.get("cancellation_reason"):
        status += f" ({order['cancellation_reason']})"
    lines = [
        f"order {order['order_id']}  {order['channel']}:{order['channel_order_id']}",
        f"status    {status}",
        f"customer  {order['customer']['name']}, {order['shipping_address']['city']} "
        f"{order['shipping_address']['country']}",
        f"total     {order['order_total']} {order['currency']}"
        + ("  signature required" if order["signature_required"] else ""),
        "lines",
    ]
    allocation = {line["line_number"]: line for line in order["allocation"]}
    for line in order["lines"]:
        covered = allocation.get(line["line_number"])
        detail = ""
        if covered:
            where = ", ".join(f"{a['quantity']} at {a['location']}" for a in covered["allocations"])
            detail = f"  allocated: {where or 'none'}"
            if covered["quantity_backordered"]:
                detail += f"; backordered: {covered['quantity_backordered']}"
        lines.append(f"  {line['line_number']}. {line['quantity']} x {line['sku']}{detail}")
    for shipment in order["shipments"]:
        state = "at the warehouse"
        if shipment["shipped"]:
            state = (
                f"shipped {shipment['carrier']} {shipment['service']} {shipment['tracking_number']}"
            )
        if shipment["delivered"]:
            state = f"delivered ({state})"
        lines.append(f"parcel from {shipment['location']}: {state}")
        tracking = shipment.get("tracking")
        if tracking:
            lines.append(
                f"  tracking: {tracking['status']}, {tracking['description']} ({tracking['at']})"
            )
        if shipment["serials"]:
            lines.append(f"  serials: {', '.join(shipment['serials'])}")
    lines.extend(f"carrier exception: {problem}" for problem in order["delivery_exceptions"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="unitrail", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--order-url",
        default=os.environ.get("UNITRAIL_ORDER_URL", "http://127.0.0.1:8003"),
        help="base URL of the order service",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    where = commands.add_parser("where", help="where is an order: state, parcels, serials")
    where.add_argument("order", help="an order id, or channel:channel_order_id")
    where.add_argument("--json", action="store_true", help="print the API's JSON answer")
    arguments = parser.parse_args(argv)
    order = fetch(arguments.order_url, order_path(arguments.order))
    print(json.dumps(order, indent=2) if arguments.json else describe(order))
    return 0


if __name__ == "__main__":
    sys.exit(main())
