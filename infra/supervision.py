"""Keeping the embedded servers up while the stack runs: the broker and Postgres are restarted
when they exit or stop answering, and the launcher says what happened.

The embedded broker keeps everything in memory, so a restarted one is empty: its topics are
created again, with the partition counts of the registry, before the stack's own processes can
reach it (they are paused meanwhile), because a Kafka client that asks for a missing topic can make
the broker create it with its default count (4), which would move keys between partitions (the
services' own clients no longer ask, but other clients may). Then a new incarnation marker is
written, from which the relays learn that they must publish their stores again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from aiokafka.admin import AIOKafkaAdminClient

from contracts.topics import Topic, all_topics
from infra.embedded import EmbeddedBroker, EmbeddedPostgres
from services.runtime.config import TopicSettings
from services.runtime.kafka import client_security
from services.runtime.topics import BrokerIncarnation, ensure_topics, new_topic

Say = Callable[[str], None]


async def recreate_topics(
    bootstrap_servers: str,
    topics: list[Topic] | None = None,
    topic_settings: TopicSettings = TopicSettings(),  # noqa: B008 (frozen: safe to share)
) -> list[str]:
    """Create the registry's topics on a broker that came back empty, as `topic_settings` says;
    return the names created.

    A topic that some outside client made the broker create first, with another partition
    count, is deleted and created again with the configured count: it is seconds old, and what it
    holds is re-published from the stores (what partners sent in that moment is what the
    embedded broker cannot keep anyway)."""
    wanted = topics if topics is not None else all_topics()
    created = await ensure_topics(bootstrap_servers, wanted, topic_settings=topic_settings)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, client_id="unitrail-stack", **client_security()
    )
    await admin.start()
    try:
        described = await admin.describe_topics([topic.name for topic in wanted])
        counts = {entry["topic"]: len(entry["partitions"]) for entry in described}
        wrong = [
            topic
            for topic in wanted
            if counts.get(topic.name) != topic_settings.partitions_of(topic)
        ]
        if wrong:
            await admin.delete_topics([topic.name for topic in wrong])
            await admin.create_topics([new_topic(topic, topic_settings) for topic in wrong])
    finally:
        await admin.close()
    return created + [topic.name for topic in wrong if topic.name not in created]


class BrokerSupervisor:
    """Restarts the embedded broker on its port when it exits, or when it has answered no
    request for `unanswered_seconds` (it is then killed first)."""

    def __init__(
        self,
        broker: EmbeddedBroker,
        *,
        paused: Callable[[], AbstractContextManager[object]],
        say: Say,
        unanswered_seconds: float,
        probe_every: float = 2.0,
        topic_settings: TopicSettings = TopicSettings(),  # noqa: B008 (frozen: safe to share)
    ) -> None:
        self.broker = broker
        self.topic_settings = topic_settings
        self.paused = paused
        self.say = say
        self.unanswered_seconds = unanswered_seconds
        self.probe_every = probe_every
        self.restarts = 0
        self._last_answer = time.monotonic()
        self._next_probe = time.monotonic() + probe_every

    def check(self) -> None:
        """Look at the broker once (called from the launcher's loop); restart it if it is gone."""
        now = time.monotonic()
        exit_code = self.broker.exit_code()
        if exit_code is not None:
            self.restart(f"exited with {exit_code}")
            return
        if now < self._next_probe:
            return
        self._next_probe = now + self.probe_every
        if self.broker.answers(timeout=min(self.probe_every, 2.0)):
            self._last_answer = time.monotonic()
        elif time.monotonic() - self._last_answer >= self.unanswered_seconds:
            self.broker.kill()
            self.restart(f"answered nothing for {self.unanswered_seconds:g} s and was killed")

    def restart(self, reason: str) -> None:
        address = self.broker.bootstrap_servers
        self.say(f"embedded broker {reason}; restarting it on {address}")
        started = time.monotonic()
        # The stack's processes are paused while the broker comes up empty, so that none of their
        # clients asks for a topic before it exists with its configured partition count.
        with self.paused():
            self.broker.kill()
            self.broker.start()
            created, incarnation = asyncio.run(
                self.prepare_empty_broker(address, self.topic_settings)
            )
        self.restarts += 1
        self._last_answer = time.monotonic()
        self.say(
            f"embedded broker restarted on {address} in {time.monotonic() - started:.1f} s, empty "
            f"(it keeps everything in memory); {len(created)} topics created with their "
            f"configured partition counts; incarnation {incarnation} (the relays publish their "
            "stores again)"
        )

    @staticmethod
    async def prepare_empty_broker(
        address: str,
        topic_settings: TopicSettings = TopicSettings(),  # noqa: B008 (frozen: safe to share)
    ) -> tuple[list[str], str]:
        """The registry's topics, then a new incarnation marker, which tells the relays that
        what they had published is gone."""
        created = await recreate_topics(address, topic_settings=topic_settings)
        incarnation = await BrokerIncarnation(address, client_id="unitrail-stack").current()
        return created, incarnation


class PostgresSupervisor:
    """Restarts the embedded Postgres server on its data directory when its process is gone.

    It runs as its own operating-system user (`pgserver` when the launcher is root), started
    through `pg_ctl` as that user; its socket and DSN stay the same, so services reconnect by
    themselves. A restart can fail while the killed server's backends still hold its shared
    memory; it is tried again every check, and after `give_up_after` seconds the launcher says
    what to do."""

    def __init__(
        self,
        postgres: EmbeddedPostgres,
        *,
        say: Say,
        check_every: float = 1.0,
        give_up_after: float = 60.0,
    ) -> None:
        self.postgres = postgres
        self.say = say
        self.check_every = check_every
        self.give_up_after = give_up_after
        self.restarts = 0
        self._down_since: float | None = None
        self._told_cannot = False
        self._next_check = time.monotonic() + check_every

    def check(self) -> None:
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + self.check_every
        if self._down_since is None:
            if self.postgres.is_running():
                return
            self._down_since = now
            self.say("embedded Postgres exited; restarting it on the same data directory")
        self._try_restart()

    def _try_restart(self) -> None:
        assert self._down_since is not None
        try:
            dsn = self.postgres.restart()
        except Exception as error:
            if not self._told_cannot and time.monotonic() - self._down_since >= self.give_up_after:
                self._told_cannot = True
                self.say(
                    f"embedded Postgres cannot be restarted ({error!r}); its log is "
                    f"{self.postgres.log_file}. Still trying; if it does not come back, stop the "
                    "system (Ctrl-C) and run scripts/run again"
                )
            return
        self.restarts += 1
        self.say(
            f"embedded Postgres restarted in {time.monotonic() - self._down_since:.1f} s ({dsn}); "
            "the services reconnect by themselves"
        )
        self._down_since = None
        self._told_cannot = False
