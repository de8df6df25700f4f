"""Whether a delivered unit may come back, and on what basis. Pure: no I/O.

Rules, in order:
1. Within the return window: the request is no later than the window's days after delivery
   (`return_window_days`, 30 by default; a channel may have its own, e.g. a marketplace's 14).
   Basis `return-window`.
2. Otherwise within the manufacturer's warranty: no later than `warranty_months` calendar months
   after delivery (the PIM's fact of the SKU; an SKU the PIM never told about has none).
   Basis `warranty`.
3. Otherwise the return is rejected, and the reason names both dates that decided it.

Both periods count from the moment of delivery the carrier reported, to the moment of the request.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Basis = Literal["return-window", "warranty"]

DEFAULT_RETURN_WINDOW_DAYS = 30


@dataclass(frozen=True)
class ReturnPolicy:
    """How long after delivery a unit may be returned, per channel."""

    return_window_days: int = DEFAULT_RETURN_WINDOW_DAYS
    channel_return_window_days: tuple[tuple[str, int], ...] = ()
    """(channel, days) pairs that differ from the default window."""

    def window_days(self, channel: str) -> int:
        return dict(self.channel_return_window_days).get(channel, self.return_window_days)


@dataclass(frozen=True)
class Eligibility:
    """The decision, in words with its dates; `basis` is None when the return is not allowed."""

    basis: Basis | None
    explanation: str

    @property
    def eligible(self) -> bool:
        return self.basis is not None


def add_months(moment: datetime, months: int) -> datetime:
    """The same day `months` calendar months later, or the month's last day when it is shorter."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def decide_eligibility(
    policy: ReturnPolicy,
    *,
    channel: str,
    delivered_at: datetime,
    warranty_months: int,
    requested_at: datetime,
) -> Eligibility:
    """Decide a return request by the rules of this module."""
    days = policy.window_days(channel)
    window_ends = delivered_at + timedelta(days=days)
    warranty_ends = add_months(delivered_at, warranty_months)
    requested, delivered = _day(requested_at), _day(delivered_at)
    window = (
        f"the {days}-day return window of {channel} "
        f"(delivered {delivered}, ends {_day(window_ends)})"
    )
    if requested_at <= window_ends:
        return Eligibility("return-window", f"requested {requested}, within {window}")
    warranty = f"the {warranty_months}-month warranty (ends {_day(warranty_ends)})"
    if requested_at <= warranty_ends:
        return Eligibility(
            "warranty", f"requested {requested}, after {window} but within {warranty}"
        )
    return Eligibility(None, f"requested {requested}, after {window} and after {warranty}")


def _day(moment: datetime) -> str:
    return moment.date().isoformat()
