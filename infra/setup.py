"""Create the Kafka topics and every service's database, then exit: `python -m infra.setup`.

The one step that must run before any service starts: the `setup` service of docker-compose.yml runs
it, and `infra.stack` does the same through `prepare_system`. Unless an identity provider is named
(`UNITRAIL_AUTH_JWKS_URL`), it also makes the local token signing key under `UNITRAIL_DATA_DIR`,
and the services' tokens signed with it; `--share-auth DIR` copies the key's public half and those
tokens to DIR, so the services can be given what they need without the private key (Compose).
It reads the shared settings the services read (`KAFKA_BOOTSTRAP_SERVERS`, `POSTGRES_DSN`,
`UNITRAIL_DATABASE_PREFIX`), and running it again changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from contracts.topics import SERVICES
from infra.console import CONSOLE_ROLES
from infra.tokens import LocalIssuer, data_dir
from infra.topics import ensure_topics
from services.runtime.config import ServiceSettings, TopicSettings
from services.runtime.database import PostgresLocation, ensure_database


@dataclass(frozen=True)
class PreparedSystem:
    """What `prepare_system` did: the topics it had to create and the databases that now exist."""

    created_topics: list[str]
    databases: list[str]


async def prepare_system(
    bootstrap_servers: str,
    postgres_dsn: str,
    database_prefix: str,
    topic_settings: TopicSettings = TopicSettings(),  # noqa: B008 (frozen: safe to share)
) -> PreparedSystem:
    """Create every missing topic of the registry (partitioned and replicated as `topic_settings`
    says) and each service's `<prefix>_<service>` database."""
    created_topics = await ensure_topics(bootstrap_servers, topic_settings=topic_settings)
    server = PostgresLocation.from_dsn(postgres_dsn)
    databases = [f"{database_prefix}_{service}" for service in SERVICES]
    for database in databases:
        await ensure_database(server.with_database(database))
    return PreparedSystem(created_topics=created_topics, databases=databases)


def share_auth(files: Sequence[Path], directory: Path) -> list[Path]:
    """Copy `files` (the public key and the services' tokens, never the private key) to
    `directory`, with their modes."""
    directory.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy2(file, directory / file.name)) for file in files]


def main(argv: Sequence[str] | None = None) -> int:
    """Prepare the servers named by the environment, the way the services would find them."""
    parser = argparse.ArgumentParser(prog="python -m infra.setup", description=__doc__)
    parser.add_argument(
        "--share-auth",
        type=Path,
        metavar="DIR",
        help="copy the public key and the services' tokens (not the private key) to DIR",
    )
    arguments = parser.parse_args(argv)
    # The services' own shared settings, so names and defaults cannot drift from what they read.
    settings = ServiceSettings()
    prepared = asyncio.run(
        prepare_system(
            settings.kafka_bootstrap_servers,
            settings.postgres_dsn,
            settings.database_prefix,
            settings.topic_settings,
        )
    )
    if not os.environ.get("UNITRAIL_AUTH_JWKS_URL"):
        issuer = LocalIssuer.of_data_dir(data_dir()).ensure()
        tokens = [
            issuer.personal_data_token_file(),
            issuer.token_file("console", "unitrail-console", CONSOLE_ROLES),
        ]
        print(f"[unitrail] tokens signed by the key in {issuer.directory}", file=sys.stderr)
        if arguments.share_auth is not None:
            share_auth([issuer.public_key_file, *tokens], arguments.share_auth)
            print(
                f"[unitrail] public key and tokens shared in {arguments.share_auth}",
                file=sys.stderr,
            )
    print(
        f"[unitrail] topics ready on {settings.kafka_bootstrap_servers} "
        f"({len(prepared.created_topics)} created); databases ready: "
        + ", ".join(prepared.databases),
        file=sys.stderr,
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
