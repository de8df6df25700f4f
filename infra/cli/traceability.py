"""`unitrail trace`, `recall` and `audit`: a unit's chain, the holders of a batch or a serial range,
an aggregate's events; asked of the traceability service."""

from __future__ import annotations

import argparse
import csv
import io
import json
import urllib.parse
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rich.console import RenderableType

from contracts.channel import order_id_for
from infra.cli.calls import fetch, query_string
from infra.cli.output import show, table


def add_trace(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    trace = commands.add_parser("trace", help="a unit's whole chain, oldest first")
    trace.add_argument("kind", choices=["serial"], help="what identifies the unit")
    trace.add_argument("serial", help="the unit's serial number")
    trace.add_argument("--sku", help="only the unit of this product (serials may repeat)")
    trace.add_argument("--as-of", type=moment, help="as known at this moment (ISO 8601)")
    trace.add_argument("--json", action="store_true", help="print the API's JSON answer")
    trace.set_defaults(run=trace_command)


def add_recall(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    recall = commands.add_parser(
        "recall",
        help="every affected unit and its holder: customer and order, or location and condition",
    )
    chosen = recall.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--batch", help="the production batch")
    chosen.add_argument(
        "--serial-range",
        type=serial_range,
        metavar="A..B",
        help="serials from A to B, both included, compared byte by byte (zero-pad numbers: "
        "SN-0100..SN-0199, not SN-100..SN-199); narrow to one product with --sku",
    )
    recall.add_argument("--sku", help="only units of this product")
    recall.add_argument("--as-of", type=moment, help="holders at this moment (ISO 8601)")
    recall.add_argument("--format", choices=["table", "csv", "json"], default="table")
    recall.set_defaults(run=recall_command)


def add_audit(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = commands.add_parser("audit", help="every event of an aggregate, who and why")
    audit.add_argument("aggregate", help="an aggregate id, or channel:channel_order_id")
    audit.add_argument("--as-of", type=moment, help="events and state up to this moment")
    audit.add_argument("--json", action="store_true", help="print the API's JSON answer")
    audit.set_defaults(run=audit_command)


def trace_command(arguments: argparse.Namespace) -> int:
    path = f"/units/{urllib.parse.quote(arguments.serial, safe='')}/trace"
    answer = fetch(
        arguments.traceability_url,
        path + query_string(sku=arguments.sku, as_of=arguments.as_of),
        service="traceability",
    )
    print(json.dumps(answer, indent=2) if arguments.json else describe_trace(answer))
    return 0


def recall_command(arguments: argparse.Namespace) -> int:
    first, last = arguments.serial_range or (None, None)
    answer = fetch(
        arguments.traceability_url,
        "/recall"
        + query_string(
            batch=arguments.batch,
            serial_from=first,
            serial_to=last,
            sku=arguments.sku,
            as_of=arguments.as_of,
        ),
        service="traceability",
        timeout=60,
    )
    if arguments.format == "json":
        print(json.dumps(answer, indent=2))
    elif arguments.format == "csv":
        print(recall_csv(answer))
    else:
        show(recall_table(answer))
    return 0


def audit_command(arguments: argparse.Namespace) -> int:
    path = f"/audit/{aggregate_id(arguments.aggregate)}"
    answer = fetch(
        arguments.traceability_url,
        path + query_string(as_of=arguments.as_of),
        service="traceability",
    )
    print(json.dumps(answer, indent=2) if arguments.json else describe_audit(answer))
    return 0


def aggregate_id(reference: str) -> uuid.UUID:
    """An aggregate id, or `channel:channel_order_id` for an order's id."""
    try:
        return uuid.UUID(reference)
    except ValueError:
        channel, separator, channel_order_id = reference.partition(":")
        if not separator or not channel or not channel_order_id:
            raise SystemExit(
                f"{reference!r} is neither an aggregate id nor channel:channel_order_id"
            ) from None
        return order_id_for(channel, channel_order_id)


def serial_range(text: str) -> tuple[str, str]:
    """`A..B`: the serials from A to B, both included, compared byte by byte."""
    first, separator, last = text.partition("..")
    if not separator or not first or not last:
        raise argparse.ArgumentTypeError(f"{text!r} is not a range like SN-0100..SN-0199")
    if first > last:
        raise argparse.ArgumentTypeError(f"{first} comes after {last}: nothing is in {text}")
    return first, last


def moment(text: str) -> str:
    """An ISO 8601 moment, checked here so a typo gets a clear message (no zone: UTC)."""
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time, e.g. 2026-11-23T12:00:00Z"
        ) from None
    return text


def holder_of(unit: dict[str, Any]) -> str:
    """Who or where holds a unit, in words."""
    if unit["holder_kind"] == "customer":
        who = unit["holder"]
        if unit.get("customer_id"):
            who += f" (customer {unit['customer_id']})"
        return f"{who}, order {order_name(unit)}"
    where = f"{unit['location']}, {unit['status']}"
    if unit.get("condition"):
        where += f", {unit['condition']}"
    if unit["status"] == "packed" and unit.get("order_id"):
        where += f" for order {order_name(unit)}"
    return where


def order_name(row: dict[str, Any]) -> str:
    if row.get("channel"):
        return f"{row['channel']}:{row['channel_order_id']}"
    return str(row.get("order_id"))


def describe_trace(answer: dict[str, Any]) -> str:
    """Each unit with the serial, then everything that happened to it, oldest first."""
    lines: list[str] = []
    as_of = f"  (as of {answer['as_of']})" if answer.get("as_of") else ""
    for unit in answer["units"]:
        origin = ", ".join(
            part
            for part in (
                f"batch {unit['batch']}" if unit.get("batch") else "",
                f"reference {unit['reference']}" if unit.get("reference") else "",
            )
            if part
        )
        lines.append(f"unit {unit['serial']}  {unit['sku']}  {origin}".rstrip() + as_of)
        lines.append(f"holder    {holder_of(unit)}")
        if unit.get("tracking_number"):
            delivered = f", delivered {unit['delivered_at']}" if unit.get("delivered_at") else ""
            lines.append(
                f"parcel    {unit['carrier']} {unit['service']} {unit['tracking_number']}"
                + delivered
            )
        lines.append("history")
        for row in unit["history"]:
            detail = row["summary"]
            if row.get("order_id") and row["milestone"] not in ("in transit", "labelled"):
                who = f", {row['customer_name']}" if row.get("customer_name") else ""
                detail += f" [order {order_name(row)}{who}]"
            lines.append(f"  {row['occurred_at']}  {row['milestone']:<18} {detail}")
        lines.append("")
    return "\n".join(lines).rstrip()


RECALL_TABLE: tuple[tuple[str, Callable[[dict[str, Any]], Any]], ...] = (
    ("serial", lambda u: u["serial"]),
    ("sku", lambda u: u["sku"]),
    ("batch", lambda u: u["batch"] or ""),
    ("status", lambda u: u["status"] or ""),
    ("holder", lambda u: u["holder"] or ""),
    ("order", lambda u: order_name(u) if u.get("order_id") else ""),
    # Where a unit shipped from is in the CSV and JSON; the table shows where units are.
    ("location", lambda u: (u["location"] or "") if u["holder_kind"] == "location" else ""),
    ("condition", lambda u: u["condition"] or ""),
    ("tracking", lambda u: f"{u['carrier']} {u['tracking_number']}" if u["carrier"] else ""),
    ("delivered", lambda u: u["delivered_at"] or ""),
)


def recall_table(answer: dict[str, Any]) -> RenderableType:
    """The recalled units as a table, one per line."""
    if not answer["units"]:
        return "no units"
    drawn = table(*(name for name, _ in RECALL_TABLE))
    for unit in answer["units"]:
        drawn.add_row(*(str(cell(unit)) for _, cell in RECALL_TABLE))
    return drawn


def recall_csv(answer: dict[str, Any]) -> str:
    """The recalled units as CSV, every field the API reports, header first."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=answer["fields"], lineterminator="\n")
    writer.writeheader()
    for unit in answer["units"]:
        writer.writerow({key: "" if value is None else value for key, value in unit.items()})
    return out.getvalue().rstrip("\n")


def describe_audit(answer: dict[str, Any]) -> str:
    """The aggregate's events, then what they said of it by then."""
    as_of = f"  (as of {answer['as_of']})" if answer.get("as_of") else ""
    lines = [f"aggregate {answer['aggregate_id']}{as_of}", "events"]
    for event in answer["events"]:
        lines.append(
            f"  {event['occurred_at']}  {event['producer']}/{event['aggregate_type']}"
            f" v{event['aggregate_version']}  {event['event_type']}"
        )
        who = [
            f"actor: {event['actor']}" if event.get("actor") else "",
            f"reason: {event['reason']}" if event.get("reason") else "",
            f"correlation: {event['correlation_id']}",
        ]
        lines.append("      " + "; ".join(part for part in who if part))
    lines.append("state")
    for producer, state in sorted(answer["state"].items()):
        lines.append(
            f"  {producer}/{state['aggregate_type']} v{state['version']}: {state['last_event']}"
            f" at {state['last_changed_at']}"
        )
        for name, value in sorted(state["fields"].items()):
            shown = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            lines.append(f"    {name}: {shown}")
    return "\n".join(lines)
