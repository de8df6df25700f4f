"""`unitrail status`: every service's health, lag and dead letters from its open `/health`; what a
`/health` answer says is shared with the console."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

import httpx
from rich.table import Table

from contracts.topics import SERVICES
from infra.cli.calls import service_url
from infra.cli.output import show, table


def add_status(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = commands.add_parser(
        "status", help="every service's health, lag and dead letters (exit 1: something is down)"
    )
    status.add_argument("--json", action="store_true", help="print every /health answer")
    status.set_defaults(run=status_command)


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
    letter_kinds: str
    """How many letters of each kind of reason (the error a dead one failed with, why a parked
    one waits), dead ones first; empty when there are none or the service does not say."""
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
    by_type: dict[str, dict[str, int]] = consumer.get("letters_by_type") or {}
    letter_kinds = ", ".join(
        f"{kind} {count}"
        for state in ("dead", "parked")
        for kind, count in sorted(by_type.get(state, {}).items())
    )
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
        letter_kinds=letter_kinds,
        relay_lag=str(relay_lag) if relays else "-",
        oldest=f"{oldest:.1f}s" if relays else "-",
        problems=problems,
    )


def status_table(states: dict[str, tuple[str, dict[str, Any]]]) -> Table:
    """One line per service: its state, how far its consumer is behind (partners' messages in
    brackets), its dead and parked letters, its relays' lag, why letters are dead or parked,
    and the parts that are not ok."""
    drawn = table(
        "service",
        "state",
        "consumer lag",
        "dead/parked",
        "relay lag",
        "oldest",
        "letters by kind",
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
            status.letter_kinds,
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
