"""The Kafka ACLs of a real cluster, derived from the topic registry: what each service and each
kind of partner reads and writes, and nothing more (`unitrail acls`).

A service writes the topics the registry says it writes (its events topic, its dead-letter topic,
its feeds) and the broker incarnation marker; it reads what its consumer subscribes to (found by
registering its handlers, as the running service does) and the marker, in the consumer group named
after it, and creates and describes topics at start (every registry topic must exist). Partners
write the topics whose `written_by` names them and read those whose `read_by` does.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import Any, cast

from contracts.topics import BROKER_INCARNATION, SERVICES, all_topics
from services.runtime.consumer import Consumer
from services.runtime.eventstore import BlockingRunner, ServiceApplication


@dataclass
class Grants:
    """What one principal may do."""

    principal: str
    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    group: str | None = None
    creates_topics: bool = False


def subscriptions(service: str) -> list[str]:
    """The topics `service`'s consumer subscribes to, as the running service registers them."""
    module = f"services.{service}.handlers"
    if importlib.util.find_spec(module) is None:
        return []  # it consumes nothing
    handlers = importlib.import_module(module)
    consumer = Consumer(
        service_name=service,
        application=cast(ServiceApplication, object()),
        runner=cast(BlockingRunner, object()),
        publish=cast(Any, object()),
        attempts=1,
    )
    handlers.register_handlers(consumer, cast(Any, object()))
    return consumer.topics


def grants() -> list[Grants]:
    """Every principal's grants: the services first, then the partners."""
    topics = all_topics()
    by_name: dict[str, Grants] = {}
    for service in SERVICES:
        by_name[service] = Grants(
            principal=service,
            reads={*subscriptions(service), BROKER_INCARNATION.name},
            writes={topic.name for topic in topics if topic.written_by == service}
            | {BROKER_INCARNATION.name},
            group=service,
            creates_topics=True,
        )
    for topic in topics:
        if topic.written_by not in SERVICES and topic is not BROKER_INCARNATION:
            by_name.setdefault(topic.written_by, Grants(topic.written_by)).writes.add(topic.name)
        for reader in topic.read_by:
            by_name.setdefault(reader, Grants(reader)).reads.add(topic.name)
    return list(by_name.values())


def principal_name(who: str) -> str:
    """A principal for a service or a kind of partner: `User:order`, `User:3pl-adapters` (map
    your cluster's principals, e.g. SCRAM user names or certificate subjects, onto these)."""
    return "User:" + slug(who)


def slug(who: str) -> str:
    return who.lower().replace(" ", "-").replace("_", "-")


def table(every: list[Grants]) -> str:
    """The grants as a Markdown table."""
    lines = [
        "| principal | reads | writes | group | creates topics |",
        "| --- | --- | --- | --- | --- |",
    ]
    for grant in every:
        lines.append(
            f"| `{principal_name(grant.principal)}` | "
            + ", ".join(f"`{name}`" for name in sorted(grant.reads))
            + " | "
            + ", ".join(f"`{name}`" for name in sorted(grant.writes))
            + f" | {_group(grant)} | "
            + ("yes" if grant.creates_topics else "no")
            + " |"
        )
    return "\n".join(lines)


def _group(grant: Grants) -> str:
    if grant.group:
        return f"`{grant.group}`"
    return f"`{slug(grant.principal)}-*`" if grant.reads else ""


def kafka_acls_commands(every: list[Grants], bootstrap: str = "$BOOTSTRAP") -> str:
    """The grants as `kafka-acls` commands (Apache Kafka's CLI), one per line."""
    add = f"kafka-acls --bootstrap-server {bootstrap} --command-config $ADMIN_CONFIG --add"
    lines = []
    for grant in every:
        principal = principal_name(grant.principal)
        for name in sorted(grant.reads):
            lines.append(
                f"{add} --allow-principal {principal} --operation Read --operation Describe"
                f" --topic {name}"
            )
        for name in sorted(grant.writes):
            lines.append(
                f"{add} --allow-principal {principal} --operation Write --operation Describe"
                f" --topic {name}"
            )
        if grant.group:
            lines.append(
                f"{add} --allow-principal {principal} --operation Read --group {grant.group}"
            )
        elif grant.reads:
            # A partner names its consumer groups with its principal as the prefix.
            lines.append(
                f"{add} --allow-principal {principal} --operation Read"
                f" --resource-pattern-type prefixed --group {slug(grant.principal)}-"
            )
        if grant.creates_topics:
            lines.append(
                f"{add} --allow-principal {principal} --operation Create --operation Describe"
                " --topic '*'"
            )
        if grant.writes and grant.group:
            # Idempotent producers (real Kafka) need it.
            lines.append(
                f"{add} --allow-principal {principal} --operation IdempotentWrite --cluster"
            )
    return "\n".join(lines)
