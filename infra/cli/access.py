"""`unitrail token` (a bearer token signed with the local key) and `unitrail acls` (each service's
and partner's Kafka ACLs, from the topic registry)."""

from __future__ import annotations

import argparse

from infra import acls as kafka_acls
from infra.tokens import DEFAULT_TTL_SECONDS, LocalIssuer, data_dir
from services.runtime.auth import Role


def add_token(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    token.set_defaults(run=token_command)


def add_acls(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    acls = commands.add_parser(
        "acls", help="the Kafka ACLs of every service and partner, from the topic registry"
    )
    acls.add_argument("--format", choices=["table", "kafka-acls"], default="table")
    acls.add_argument("--bootstrap", default="$BOOTSTRAP", help="for the kafka-acls commands")
    acls.set_defaults(run=acls_command)


def token_command(arguments: argparse.Namespace) -> int:
    print(issue_token(arguments))
    return 0


def acls_command(arguments: argparse.Namespace) -> int:
    every = kafka_acls.grants()
    print(
        kafka_acls.table(every)
        if arguments.format == "table"
        else kafka_acls.kafka_acls_commands(every, arguments.bootstrap)
    )
    return 0


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
