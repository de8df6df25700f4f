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
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from infra.cli import access, dead_letters, orders, replay, status, traceability

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

COMMANDS: tuple[Callable[[Subcommands], None], ...] = (
    orders.add_where,
    traceability.add_trace,
    traceability.add_recall,
    traceability.add_audit,
    replay.add_replay,
    dead_letters.add_dead_letters,
    access.add_token,
    orders.add_forget_customer,
    access.add_acls,
    status.add_status,
)
"""Every command, in the order `unitrail --help` lists them. Each sets the `run` its arguments are
given to; one that refuses a combination of them raises `argparse.ArgumentError`."""


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
    for add in COMMANDS:
        add(commands)
    arguments = parser.parse_args(argv)
    try:
        exit_status: int = arguments.run(arguments)
    except argparse.ArgumentError as refused:
        parser.error(str(refused))
    return exit_status
