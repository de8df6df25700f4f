"""What the current unit of work is doing on behalf of: the message or request being handled.

Held in a context variable so that it follows the work into the worker thread that runs the blocking
event store, and so that domain events can be stamped with correlation and causation ids without
every domain method taking them as arguments.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from eventsourcing.persistence import Tracking


@dataclass
class MessageContext:
    """The message (or HTTP request) being handled, and whether its consumption is recorded yet."""

    correlation_id: str
    causation_id: str | None = None
    tracking: Tracking | None = None
    tracking_recorded: bool = field(default=False)


_current: ContextVar[MessageContext | None] = ContextVar("unitrail_message_context", default=None)


def current_message() -> MessageContext | None:
    """The message being handled, if any."""
    return _current.get()


@contextmanager
def handling(context: MessageContext) -> Iterator[MessageContext]:
    """Make `context` current for the duration of the block."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def new_correlation_id() -> str:
    return str(uuid.uuid4())
