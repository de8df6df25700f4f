"""`unitrail`: the operator's and analyst's command line.

    unitrail where webshop:1001                   where is this channel order?
    unitrail where 0142bafe-7b7f-...              ... or this Unitrail order id
    unitrail trace serial SN-0001                 a unit's whole chain, oldest first
    unitrail recall --batch B-2026-11             every unit of a batch and who holds it
    unitrail recall --serial-range SN-0100..SN-0199 --format csv
    unitrail audit webshop:1001 --as-of 2026-11-23T12:00:00Z
    unitrail replay traceability                  rebuild the traceability read models
    unitrail replay order --from topics           ... or another service's, or `all` of them
    unitrail dead-letters list                    what each consumer could not apply, and why
    unitrail dead-letters show order 12           one of them, with the message itself
    unitrail dead-letters redrive order 12        apply it (and what waits behind it) again
    unitrail token --role analyst --subject ana   a bearer token for the services' HTTP APIs
    unitrail forget-customer C-1042               erase a customer's personal data (admin)
    unitrail acls [--format kafka-acls]           each service's and partner's Kafka ACLs
    unitrail status                               every service's health, lag and dead letters;
                                                  exits 1 when one is unhealthy or silent

Every command calls the services with a token of the role it needs (`where`: customer-service;
`trace`, `recall`, `audit`: analyst; `replay`, `dead-letters`: operator; `forget-customer`:
admin): `$UNITRAIL_TOKEN` when
set, else one it signs with the local key `scripts/run` created (under `$UNITRAIL_DATA_DIR`,
default `.unitrail`).

`where` asks the order service's HTTP API (`--order-url`, default `$UNITRAIL_ORDER_URL` or
http://127.0.0.1:8003); `trace`, `recall` and `audit` ask the traceability service
(`--traceability-url`, default `$UNITRAIL_TRACEABILITY_URL` or http://127.0.0.1:8007); `replay`
asks the service whose read models it rebuilds (`--url`, default `$UNITRAIL_<SERVICE>_URL` or the
service's port on 127.0.0.1; those two options for order and traceability), and so does
`dead-letters`; `status` asks every service's open `/health`. Answers are printed
for a person, or as the API's JSON with `--json` (`--format json` for recalls). Tables and the
replay's progress bar are drawn with rich: fitted to a terminal and in colour there, plain text
at their natural width into a pipe or a file.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

import httpx
from rich import box
from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table

from contracts.channel import order_id_for
from contracts.topics import SERVICES
from infra import acls as kafka_acls
from infra.ports import DEFAULT_PORTS
from infra.tokens import DEFAULT_TTL_SECONDS, LocalIssuer, client_token, data_dir, user
from services.runtime.auth import Role

READ_MODEL_SERVICES = ("pim", "inventory", "order", "returns", "shipping", "traceability")
"""The services that keep read models a replay can rebuild (the others answer 404)."""

CONSUMING_SERVICES = (
    "inventory",
    "order",
    "returns",
    "warehouse_adapter",
    "shipping",
    "traceability",
)
"""The services that consume topics, and so may hold dead letters."""


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


def error_message(body: bytes, fallback: str) -> str:
    """The message of a service's error answer (`{"error": {"message": ...}}`)."""
    try:
        answer = json.loads(body or b"{}")
    except ValueError:
        return fallback
    error = answer.get("error") if isinstance(answer, dict) else None
    return str(error.get("message", fallback)) if isinstance(error, dict) else fallback


def fetch(
    base_url: str,
    path: str,
    *,
    service: str = "order",
    body: dict[str, Any] | None = None,
    timeout: float = 10,
    role: Role = Role.ANALYST,
) -> dict[str, Any]:
    """GET `path` of a service's HTTP API (POST `body` when given) with a token of `role`; the
    JSON answer."""
    try:
        reply = httpx.request(
            "GET" if body is None else "POST",
            f"{base_url.rstrip('/')}{path}",
            json=body,
            headers={"authorization": f"Bearer {client_token(role, user())}"},
            timeout=timeout,
        )
    except httpx.RequestError as error:
        raise SystemExit(
            f"the {service} service at {base_url} does not answer: {error or type(error).__name__}"
        ) from None
    if reply.is_error:
        raise SystemExit(
            f"{reply.status_code}: {error_message(reply.content, reply.reason_phrase)}"
        )
    answer: dict[str, Any] = reply.json()
    return answer


def table(*columns: str, right: tuple[str, ...] = ()) -> Table:
    """A table as the commands print them: a bold header, columns apart, no frame."""
    drawn = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for column in columns:
        drawn.add_column(column, no_wrap=True, justify="right" if column in right else "left")
    return drawn


def plain(renderable: RenderableType) -> str:
    """What `renderable` prints as, without colours and at its natural width: for a pipe, a file
    or a test."""
    output = io.StringIO()
    Console(file=output, width=10_000, color_system=None, highlight=False).print(renderable)
    return "\n".join(line.rstrip() for line in output.getvalue().splitlines())


def show(renderable: RenderableType) -> None:
    """Print for a person on a terminal (fitted to it, in colour), as plain text otherwise."""
    if sys.stdout.isatty():
        Console().print(renderable)
    else:
        print(plain(renderable))


def duration(seconds: int) -> str:
    """A wait as a person says it: seconds, minutes, or hours and minutes."""
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


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


# -- traceability ----------------------------------------------------------------------------


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


def query_string(**parameters: str | None) -> str:
    chosen = {name: value for name, value in parameters.items() if value is not None}
    return f"?{urllib.parse.urlencode(chosen)}" if chosen else ""


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


def progress_bar(progress: dict[str, Any], width: int = 30) -> str:
    """A replay's progress as one line of text, for logs (a terminal gets a live bar)."""
    total, read = int(progress["total"]), int(progress["read"])
    fraction = min(1.0, read / total) if total else (1.0 if progress["state"] == "done" else 0.0)
    filled = round(width * fraction)
    return (
        f"[{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%}  {read}/{total} events"
        f"  {progress['state']}"
    )


ENDED = ("done", "refused", "failed")


def follow_replay(
    base_url: str,
    replay_id: str,
    out: TextIO,
    interval: float = 0.2,
    service: str = "traceability",
) -> dict[str, Any]:
    """Poll the replay until it ends, showing its progress on `out`: a live bar on a terminal,
    a line per tenth otherwise."""

    def latest() -> dict[str, Any]:
        progress = fetch(base_url, "/replays/latest", service=service, role=Role.OPERATOR)
        if progress["replay_id"] != replay_id:
            raise SystemExit(f"replay {replay_id} was replaced by {progress['replay_id']}")
        return progress

    console = Console(file=out)
    if console.is_terminal:
        columns = (
            TextColumn(f"{service} replay"),
            BarColumn(),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            TextColumn("events  {task.fields[state]}"),
        )
        with Progress(*columns, console=console) as bar:
            task = bar.add_task(service, total=None, state="")
            while True:
                progress = latest()
                bar.update(
                    task,
                    total=int(progress["total"]) or None,
                    completed=int(progress["read"]),
                    state=progress["state"],
                )
                if progress["state"] in ENDED:
                    return progress
                time.sleep(interval)
    shown = ""
    while True:
        progress = latest()
        line = progress_bar(progress)
        if line.split("]")[0] + progress["state"] != shown:
            out.write(f"{line}\n")
            out.flush()
            shown = line.split("]")[0] + progress["state"]
        if progress["state"] in ENDED:
            return progress
        time.sleep(interval)


def replay_summary(progress: dict[str, Any]) -> str:
    """What a finished replay read and what the read models hold now."""
    return "\n".join(
        [
            f"replayed {progress['read']} events from {progress['source']}"
            f" ({progress['skipped']} skipped, {progress['merged_from_live']} that arrived"
            " meanwhile taken in at the swap)",
            *(f"  note: {note}" for note in progress["notes"]),
            "read models: "
            + ", ".join(f"{table} {count}" for table, count in progress["counts"].items()),
        ]
    )


class ReplayNotSwapped(SystemExit):
    """A replay that failed or was refused: the live read models are as they were."""


def not_swapped(service: str, progress: dict[str, Any]) -> str:
    """Why a refused or failed replay left the live read models as they were."""
    if progress["state"] == "failed":
        return f"{service}: replay failed: {progress['error']}"
    source = progress["source"]
    lines = [
        f"{service}: replay from {source} refused, the live read models are untouched:",
        *(f"  {reason}" for reason in progress.get("refused", [])),
        *(f"  note: {note}" for note in progress["notes"]),
    ]
    if source == "topics":
        lines.append("  the event stores hold the whole history: --from stores")
    return "\n".join(lines)


def replay(base_url: str, source: str, service: str = "traceability") -> str:
    """Rebuild a service's read models, following the progress on stderr, and say what they
    hold now; raises `ReplayNotSwapped` (exit status 1, with the reasons) when the replay was
    refused or failed."""
    started = fetch(
        base_url, "/replays", service=service, body={"source": source}, role=Role.OPERATOR
    )
    progress = follow_replay(base_url, started["replay_id"], sys.stderr, service=service)
    if progress["state"] != "done":
        raise ReplayNotSwapped(not_swapped(service, progress))
    return replay_summary(progress)


def dead_letters_table(listings: dict[str, dict[str, Any]]) -> str:
    """Every service's open dead letters (or all, when asked), one line each, with the reason."""
    lines = []
    for service, listing in listings.items():
        counts = listing["counts"]
        lines.append(f"{service}: {counts['dead']} dead, {counts['parked']} parked")
        for letter in listing["dead_letters"]:
            place = letter["sequence"] or letter["topic"]
            if letter["version"] is not None:
                place = f"{place} v{letter['version']}"
            resolved = (
                f" ({letter['resolution']}, by {letter['resolved_by']})"
                if letter["resolved_at"]
                else ""
            )
            lines.append(
                f"  #{letter['id']:<5} {letter['state']:<10} {place}: {letter['reason']}"
                f" [{letter['attempts']}x since {letter['first_seen'][:19]}]{resolved}"
            )
    return "\n".join(lines)


def describe_dead_letter(service: str, letter: dict[str, Any]) -> str:
    """One dead letter with its message, for a person deciding what to do about it."""
    lines = [
        f"{service} #{letter['id']}: {letter['state']} ({letter['error_type']})",
        f"  reason:   {letter['reason']}",
        f"  from:     {letter['topic']} partition {letter['partition']} offset {letter['offset']}"
        f", key {letter['key']}",
        f"  seen:     {letter['attempts']}x, {letter['first_seen']} to {letter['last_seen']}",
    ]
    if letter["sequence"]:
        lines.append(f"  sequence: {letter['sequence']} version {letter['version']}")
    if letter["resolved_at"]:
        lines.append(
            f"  resolved: {letter['resolution']} by {letter['resolved_by']} "
            f"at {letter['resolved_at']}"
        )
    lines += ["  message:", f"    {letter['value']}"]
    return "\n".join(lines)


def describe_redrive(service: str, answer: dict[str, Any]) -> str:
    lines = [f"{service}: redrive of #{answer['letter']}"]
    for result in answer["results"]:
        version = f" v{result['version']}" if result.get("version") is not None else ""
        why = f": {result['reason']}" if result.get("reason") else ""
        lines.append(f"  #{result['id']}{version}: {result['state']}{why}")
    return "\n".join(lines)


def service_url(service: str, order_url: str, traceability_url: str) -> str:
    """Where a service's HTTP API is: `$UNITRAIL_<SERVICE>_URL`, or its port on this machine."""
    known = {"order": order_url, "traceability": traceability_url}
    default = f"http://127.0.0.1:{DEFAULT_PORTS[service]}"
    return known.get(service) or os.environ.get(f"UNITRAIL_{service.upper()}_URL", default)


def dead_letters_command(arguments: argparse.Namespace) -> str:
    def base(service: str) -> str:
        return service_url(service, arguments.order_url, arguments.traceability_url)

    if arguments.action == "list":
        services = [arguments.service] if arguments.service else list(CONSUMING_SERVICES)
        suffix = "?include_resolved=true" if arguments.all else ""
        listings = {
            service: fetch(
                base(service), f"/dead-letters{suffix}", service=service, role=Role.OPERATOR
            )
            for service in services
        }
        return json.dumps(listings, indent=2) if arguments.json else dead_letters_table(listings)
    service = arguments.service
    if arguments.action == "show":
        letter = fetch(
            base(service),
            f"/dead-letters/{arguments.letter}",
            service=service,
            role=Role.OPERATOR,
        )
        return (
            json.dumps(letter, indent=2)
            if arguments.json
            else describe_dead_letter(service, letter)
        )
    answer = fetch(
        base(service),
        f"/dead-letters/{arguments.letter}/redrive",
        service=service,
        body={"on_behalf_of": arguments.on_behalf_of} if arguments.on_behalf_of else {},
        timeout=120,
        role=Role.OPERATOR,
    )
    return json.dumps(answer, indent=2) if arguments.json else describe_redrive(service, answer)


def health_of(base_url: str, timeout: float = 5) -> tuple[str, dict[str, Any]]:
    """A service's `/health`: healthy (200), unhealthy (503, with what each part says), or
    unreachable (no answer, with why)."""
    try:
        reply = httpx.get(f"{base_url.rstrip('/')}/health", timeout=timeout)
    except httpx.RequestError as error:
        return "unreachable", {"error": str(error) or type(error).__name__}
    try:
        answer = reply.json()
    except ValueError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    return ("healthy" if reply.status_code == 200 else "unhealthy"), answer


@dataclass(frozen=True)
class ServiceStatus:
    """One service's `/health` answer as `unitrail status` and the console show it."""

    state: str
    """healthy, unhealthy or unreachable."""
    consumer_lag: str
    """Messages behind, partners' messages in brackets; `-` when it consumes nothing."""
    letters: str
    """dead/parked; `-` when it consumes nothing."""
    relay_lag: str
    oldest: str
    """Age of the oldest unpublished event."""
    problems: list[str]


def service_status(state: str, answer: dict[str, Any]) -> ServiceStatus:
    """What a `/health` answer says: lag, dead and parked letters, relays, what is wrong."""
    checks: dict[str, Any] = answer.get("checks", answer)
    consumer: dict[str, Any] = checks.get("consumer") or {}
    relays: dict[str, Any] = checks.get("relays") or {}
    lag = consumer.get("lag")
    partner_lag = consumer.get("partner_lag")
    consumer_lag = "-" if not consumer else "?" if lag is None else f"{lag} ({partner_lag or 0})"
    letters = "-" if not consumer else f"{consumer.get('dead_letters')}/{consumer.get('parked')}"
    relay_lag = sum(int(relay.get("lag") or 0) for relay in relays.values())
    oldest = max(
        (float(relay.get("oldest_unpublished_seconds") or 0) for relay in relays.values()),
        default=0.0,
    )
    problems = [
        f"{part}: {value}"
        for part, value in checks.items()
        if part in ("database", "kafka") and value != "ok"
    ]
    problems += [
        f"{topic} relay stopped" for topic, relay in relays.items() if not relay.get("alive")
    ]
    if consumer and not consumer.get("alive"):
        problems.append("consumer stopped")
    if state == "unreachable":
        problems.append(str(answer.get("error")))
    return ServiceStatus(
        state=state,
        consumer_lag=consumer_lag,
        letters=letters,
        relay_lag=str(relay_lag) if relays else "-",
        oldest=f"{oldest:.1f}s" if relays else "-",
        problems=problems,
    )


def status_table(states: dict[str, tuple[str, dict[str, Any]]]) -> Table:
    """One line per service: its state, how far its consumer is behind (partners' messages in
    brackets), its dead and parked letters, its relays' lag, and the parts that are not ok."""
    drawn = table(
        "service",
        "state",
        "consumer lag",
        "dead/parked",
        "relay lag",
        "oldest",
        "problems",
        right=("consumer lag", "dead/parked", "relay lag", "oldest"),
    )
    colours = {"healthy": "green", "unhealthy": "red", "unreachable": "red"}
    for service, (state, answer) in states.items():
        status = service_status(state, answer)
        drawn.add_row(
            service,
            f"[{colours.get(state, 'yellow')}]{state}[/]",
            status.consumer_lag,
            status.letters,
            str(status.relay_lag),
            str(status.oldest),
            "; ".join(status.problems),
        )
    return drawn


def status_command(arguments: argparse.Namespace) -> int:
    """`unitrail status`: 0 when every service is healthy, 1 otherwise."""
    states = {
        service: health_of(service_url(service, arguments.order_url, arguments.traceability_url))
        for service in SERVICES
    }
    if arguments.json:
        print(
            json.dumps(
                {
                    service: {"state": state, **answer}
                    for service, (state, answer) in states.items()
                },
                indent=2,
            )
        )
    else:
        show(status_table(states))
    return 0 if all(state == "healthy" for state, _ in states.values()) else 1


def issue_token(arguments: argparse.Namespace) -> str:
    """A token signed with the local key; the role's name and the channel are checked first."""
    issuer = LocalIssuer.of_data_dir(data_dir())
    if not issuer.exists:
        raise SystemExit(
            f"no local key in {issuer.directory}: start the system with `scripts/run` first (or "
            "set UNITRAIL_DATA_DIR); with an identity provider, get tokens from it"
        )
    if arguments.ttl <= 0:
        raise SystemExit("--ttl must be more than 0 seconds")
    if arguments.role == Role.CHANNEL and not arguments.channel:
        raise SystemExit("a channel token needs --channel, e.g. --channel webshop")
    return issuer.issue(
        arguments.role, arguments.subject, ttl_seconds=arguments.ttl, channel=arguments.channel
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="unitrail", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--order-url",
        default=os.environ.get("UNITRAIL_ORDER_URL", "http://127.0.0.1:8003"),
        help="base URL of the order service",
    )
    parser.add_argument(
        "--traceability-url",
        default=os.environ.get("UNITRAIL_TRACEABILITY_URL", "http://127.0.0.1:8007"),
        help="base URL of the traceability service",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    where = commands.add_parser("where", help="where is an order: state, parcels, serials")
    where.add_argument("order", help="an order id, or channel:channel_order_id")
    where.add_argument("--json", action="store_true", help="print the API's JSON answer")

    trace = commands.add_parser("trace", help="a unit's whole chain, oldest first")
    trace.add_argument("kind", choices=["serial"], help="what identifies the unit")
    trace.add_argument("serial", help="the unit's serial number")
    trace.add_argument("--sku", help="only the unit of this product (serials may repeat)")
    trace.add_argument("--as-of", type=moment, help="as known at this moment (ISO 8601)")
    trace.add_argument("--json", action="store_true", help="print the API's JSON answer")

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

    audit = commands.add_parser("audit", help="every event of an aggregate, who and why")
    audit.add_argument("aggregate", help="an aggregate id, or channel:channel_order_id")
    audit.add_argument("--as-of", type=moment, help="events and state up to this moment")
    audit.add_argument("--json", action="store_true", help="print the API's JSON answer")

    rebuild = commands.add_parser(
        "replay", help="rebuild a service's read models from scratch, then swap them in"
    )
    rebuild.add_argument(
        "read_model",
        choices=[*READ_MODEL_SERVICES, "all"],
        help="the service whose read models to rebuild, or all of them one after the other",
    )
    rebuild.add_argument(
        "--from",
        dest="source",
        choices=["topics", "stores"],
        default="stores",
        help="the services' event stores (the record), or their event topics from the first"
        " offset (refused when they no longer hold the whole history)",
    )
    rebuild.add_argument("--url", help="base URL of the service (not with `all`)")

    letters = commands.add_parser(
        "dead-letters", help="what consumers could not apply: list, show, redrive"
    )
    letter_commands = letters.add_subparsers(dest="action", required=True)
    listing = letter_commands.add_parser("list", help="open dead letters of every service")
    listing.add_argument("--service", choices=CONSUMING_SERVICES, help="only this service")
    listing.add_argument("--all", action="store_true", help="also those already redriven")
    listing.add_argument("--json", action="store_true", help="print the API's JSON answer")
    for action, text in (("show", "one dead letter, with its message"), ("redrive", "apply again")):
        command = letter_commands.add_parser(action, help=text)
        command.add_argument("service", choices=CONSUMING_SERVICES)
        command.add_argument("letter", type=int, help="the dead letter's number")
        command.add_argument("--json", action="store_true", help="print the API's JSON answer")
        if action == "redrive":
            command.add_argument(
                "--on-behalf-of",
                help="for whom, for the record (the token's subject is who redrives it)",
            )

    token = commands.add_parser("token", help="issue a bearer token with the local key")
    token.add_argument("--role", required=True, choices=[str(role) for role in Role])
    token.add_argument("--subject", required=True, help="who the token is for")
    token.add_argument("--channel", help="the channel a `channel` token acts for")
    token.add_argument(
        "--ttl",
        type=int,
        default=DEFAULT_TTL_SECONDS,
        help=f"seconds until it expires (default: {DEFAULT_TTL_SECONDS})",
    )

    forget = commands.add_parser(
        "forget-customer",
        help="erase a customer's personal data (GDPR Art. 17): their key is deleted",
    )
    forget.add_argument("customer_id", help="the customer id in the channel")

    acls = commands.add_parser(
        "acls", help="the Kafka ACLs of every service and partner, from the topic registry"
    )
    acls.add_argument("--format", choices=["table", "kafka-acls"], default="table")
    acls.add_argument("--bootstrap", default="$BOOTSTRAP", help="for the kafka-acls commands")

    status = commands.add_parser(
        "status", help="every service's health, lag and dead letters (exit 1: something is down)"
    )
    status.add_argument("--json", action="store_true", help="print every /health answer")

    arguments = parser.parse_args(argv)
    url = arguments.traceability_url
    if arguments.command == "status":
        return status_command(arguments)
    if arguments.command == "token":
        print(issue_token(arguments))
        return 0
    if arguments.command == "dead-letters":
        print(dead_letters_command(arguments))
        return 0
    if arguments.command == "acls":
        every = kafka_acls.grants()
        print(
            kafka_acls.table(every)
            if arguments.format == "table"
            else kafka_acls.kafka_acls_commands(every, arguments.bootstrap)
        )
        return 0
    if arguments.command == "forget-customer":
        quoted = urllib.parse.quote(arguments.customer_id, safe="")
        path = f"/customers/{quoted}/forget"
        fetch(arguments.order_url, path, body={}, role=Role.ADMIN)
        print(
            f"customer {arguments.customer_id} forgotten: their name, e-mail and address read as "
            "erased everywhere; their orders stay"
        )
        return 0
    if arguments.command == "where":
        order = fetch(arguments.order_url, order_path(arguments.order), role=Role.CUSTOMER_SERVICE)
        print(json.dumps(order, indent=2) if arguments.json else describe(order))
    elif arguments.command == "trace":
        path = f"/units/{urllib.parse.quote(arguments.serial, safe='')}/trace"
        answer = fetch(
            url,
            path + query_string(sku=arguments.sku, as_of=arguments.as_of),
            service="traceability",
        )
        print(json.dumps(answer, indent=2) if arguments.json else describe_trace(answer))
    elif arguments.command == "recall":
        first, last = arguments.serial_range or (None, None)
        answer = fetch(
            url,
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
    elif arguments.command == "audit":
        path = f"/audit/{aggregate_id(arguments.aggregate)}"
        answer = fetch(url, path + query_string(as_of=arguments.as_of), service="traceability")
        print(json.dumps(answer, indent=2) if arguments.json else describe_audit(answer))
    elif arguments.read_model != "all":
        service = arguments.read_model
        base_url = arguments.url or service_url(service, arguments.order_url, url)
        print(replay(base_url, arguments.source, service))
    else:
        if arguments.url:
            parser.error("--url names one service: not with `all`")
        not_swapped = []
        for service in READ_MODEL_SERVICES:
            print(f"{service}:", file=sys.stderr)
            try:
                summary = replay(
                    service_url(service, arguments.order_url, url), arguments.source, service
                )
            except ReplayNotSwapped as refusal:
                print(refusal.code, file=sys.stderr, flush=True)
                not_swapped.append(service)
                continue
            print(f"{service}: {summary}", flush=True)
        if not_swapped:
            raise SystemExit(f"not swapped: {', '.join(not_swapped)} (reasons above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
