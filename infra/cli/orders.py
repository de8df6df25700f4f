"""`unitrail where` (an order's state, parcels and serials) and `unitrail forget-customer`, both
asked of the order service."""

from __future__ import annotations

import argparse
import json
import urllib.parse
import uuid
from typing import Any

from infra.cli.calls import fetch
from infra.cli.output import duration
from services.runtime.auth import Role


def add_where(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    where = commands.add_parser("where", help="where is an order: state, parcels, serials")
    where.add_argument("order", help="an order id, or channel:channel_order_id")
    where.add_argument("--json", action="store_true", help="print the API's JSON answer")
    where.set_defaults(run=where_command)


def add_forget_customer(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    forget = commands.add_parser(
        "forget-customer",
        help="erase a customer's personal data (GDPR Art. 17): their key is deleted",
    )
    forget.add_argument("customer_id", help="the customer id in the channel")
    forget.set_defaults(run=forget_customer_command)


def where_command(arguments: argparse.Namespace) -> int:
    order = fetch(arguments.order_url, order_path(arguments.order), role=Role.CUSTOMER_SERVICE)
    print(json.dumps(order, indent=2) if arguments.json else describe(order))
    return 0


def forget_customer_command(arguments: argparse.Namespace) -> int:
    quoted = urllib.parse.quote(arguments.customer_id, safe="")
    path = f"/customers/{quoted}/forget"
    fetch(arguments.order_url, path, body={}, role=Role.ADMIN)
    print(
        f"customer {arguments.customer_id} forgotten: their name, e-mail and address read as "
        "erased everywhere; their orders stay"
    )
    return 0


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
        waiting = shipment.get("waiting_at_warehouse_seconds")
        if waiting is not None:
            state += f", waiting for the 3PL for {duration(waiting)} (released {shipment['released_at']})"
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
