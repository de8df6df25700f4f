"""`unitrail dead-letters`: what each consumer could not apply (list, show), and applying it again
(redrive); asked of each consuming service."""

from __future__ import annotations

import argparse
import json
from typing import Any

from infra.cli.calls import fetch, service_url
from services.runtime.auth import Role

CONSUMING_SERVICES = (
    "inventory",
    "order",
    "returns",
    "warehouse_adapter",
    "shipping",
    "traceability",
)
"""The services that consume topics, and so may hold dead letters."""


def add_dead_letters(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    letters.set_defaults(run=print_dead_letters)


def print_dead_letters(arguments: argparse.Namespace) -> int:
    print(dead_letters_command(arguments))
    return 0


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
