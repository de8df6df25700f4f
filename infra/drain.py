"""What a service process still has to do before it can stop without losing anything, read from
its `/health` answer.

The embedded broker keeps its topics in memory, so the stack stops once every consumer has
caught up (lag 0) and every relay that publishes (the leader of its store) has published all it
has stored (lag 0). Of that, only partners' messages not yet consumed would be lost with the
broker (`partner_messages_pending`): events are in the stores and are published again at the next
start. A field a service does not report counts as not known to be done: the stack then waits, up
to its bound, rather than guess.

The shape read from `/health`:
`"consumer": {"alive": bool, "lag": int | null, ...}` (absent when it consumes nothing)
and `"relays": {"<topic>": {"alive": bool, "leader": bool, "lag": int | null, ...}}` (absent when
it publishes nothing).
"""

from __future__ import annotations

from typing import Any


def unfinished_work(health: dict[str, Any] | None, *, consumes: bool, relays: bool) -> list[str]:
    """What the process behind this `/health` answer has not yet done, in words; empty when it has
    caught up. `None` stands for no answer at all. `consumes` and `relays` say whether the service
    has a consumer and relays to report on at all."""
    if health is None:
        return ["no answer from /health"]
    pending: list[str] = []
    consumer = health.get("consumer")
    if consumes and not isinstance(consumer, dict):
        pending.append("consumer lag unknown")
    elif isinstance(consumer, dict):
        pending.extend(_loop_pending("consumer", consumer))
    return pending + unpublished(health, relays=relays)


def unpublished(health: dict[str, Any] | None, *, relays: bool) -> list[str]:
    """What the process's relays have stored and not yet published; empty when nothing (or when
    the process has no relays)."""
    if health is None:
        return ["no answer from /health"] if relays else []
    pending: list[str] = []
    statuses = health.get("relays")
    if not isinstance(statuses, dict):
        return ["relay lag unknown"] if relays else []
    for topic, relay in sorted(statuses.items()):
        if not isinstance(relay, dict):
            pending.append(f"relay {topic} lag unknown")
        elif relay.get("leader", True) is not False:
            # A relay that does not hold its store's leadership publishes nothing: another
            # process's relay does, and is asked there.
            pending.extend(_loop_pending(f"relay {topic}", relay))
    return pending


def partner_messages_pending(health: dict[str, Any] | None, *, consumes: bool) -> list[str]:
    """What of the process's unfinished work only the broker holds: partners' messages (channel
    orders, 3PL confirmations and receipts, carrier scans) not yet consumed, lost if the
    embedded broker stops now. Events not yet consumed or published are not: the stores keep
    them and the relays publish them again when the broker comes back empty."""
    if not consumes:
        return []
    consumer = health.get("consumer") if health is not None else None
    if not isinstance(consumer, dict):
        return ["consumer lag unknown"]
    lag = consumer.get("partner_lag")
    if consumer.get("alive") is False:
        return [f"consumer not running (partner messages {lag})"]
    if not isinstance(lag, int) or isinstance(lag, bool):
        return ["partner messages unknown"]
    return [f"{lag} partner messages not yet consumed"] if lag > 0 else []


def _loop_pending(name: str, loop: dict[str, Any]) -> list[str]:
    lag = loop.get("lag")
    if loop.get("alive") is False:
        return [f"{name} not running (lag {lag})"]
    if not isinstance(lag, int) or isinstance(lag, bool):
        return [f"{name} lag unknown"]
    return [f"{name} lag {lag}"] if lag > 0 else []


def consumed_so_far(health: dict[str, Any] | None) -> object:
    """The consumer's count of messages handled, as `/health` reports it: a batch taken from the
    broker is no longer in the lag while it is being applied, so the stack also waits until this
    count stands still between two looks."""
    consumer = health.get("consumer") if health is not None else None
    return consumer.get("messages") if isinstance(consumer, dict) else None
