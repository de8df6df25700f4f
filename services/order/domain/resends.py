"""A channel's re-send of an order: applied when the order's state still allows every change it
makes, refused (and the refusal recorded) otherwise; what differs is decided in `amendment`.

Pure: no I/O. A mixin of `Order`.
"""

from __future__ import annotations

from datetime import date, datetime

from services.order.domain.amendment import (
    Change,
    ChangeableUntil,
    OrderContent,
    changeable_until,
    changes_between,
)
from services.order.domain.state import OrderState
from services.order.domain.values import Address, Customer, OrderLine, OrderStatus
from services.runtime.aggregate import Aggregate, RecordedRefusal


class ResendRefused(RecordedRefusal):
    """A channel re-sent an order with changes its state no longer allows; the reason names them."""


class OrderResends(OrderState):
    """Mixin of `Order`: the channel's re-sends of it."""

    class Amended(Aggregate.Event):
        """The channel re-sent the order with changes its state still allows: the order is now as
        re-sent. Carries the whole new content and the changes, for the channel's feedback."""

        channel: str
        channel_order_id: str
        changes: tuple[Change, ...]
        placed_at: datetime
        customer: Customer
        shipping_address: Address
        lines: tuple[OrderLine, ...]
        currency: str
        fraud_score: float
        service_level: str = "standard"
        deliver_by: date | None = None

        def apply(self, order: OrderResends) -> None:
            order.take_content(OrderContent.of(self))
            order.refused_changes = ()

    class AmendmentRefused(Aggregate.Event):
        """The channel re-sent the order with changes its state no longer allows; nothing of it
        was applied."""

        channel: str
        channel_order_id: str
        changes: tuple[Change, ...]
        reason: str

        def apply(self, order: OrderResends) -> None:
            order.refused_changes = self.changes

    def amend(self, received: OrderContent) -> str | None:
        """Take a channel's re-send of the order: an exact repeat changes nothing; changes that
        the order's state still allows are applied together (`Amended`); if any is not allowed,
        none is, the refusal is recorded (`AmendmentRefused`, once for repeats of one re-send)
        and its reason, naming each difference, is returned for the caller to report.

        What depends on the changed facts is decided again by construction: lines, currency,
        fraud score and country change only before payment, which decides everything that
        depends on them; the address and the customer are read at release.
        """
        changes = changes_between(self.content, received)
        if not changes:
            return None
        refused = [(change, self._refusal(change)) for change in changes]
        refused = [(change, why) for change, why in refused if why is not None]
        if not refused:
            self.check_lines(received.lines)
            self.trigger_event(
                self.Amended,
                channel=self.channel,
                channel_order_id=self.channel_order_id,
                changes=changes,
                **received.values(),
            )
            return None
        reason = f"re-send of {self.channel}:{self.channel_order_id} refused: " + "; ".join(
            f"{change} {why}" for change, why in refused
        )
        if changes != self.refused_changes:
            self.trigger_event(
                self.AmendmentRefused,
                channel=self.channel,
                channel_order_id=self.channel_order_id,
                changes=changes,
                reason=reason,
            )
        return reason

    def _refusal(self, change: Change) -> str | None:
        """Why this change may not be applied now; None when it may."""
        if self.status is OrderStatus.CANCELLED:
            return "(the order is cancelled)"
        until = changeable_until(change)
        if until is ChangeableUntil.PAYMENT and self.status is not OrderStatus.PLACED:
            return f"{until} (the order is {self.status})"
        if until is ChangeableUntil.RELEASE and self.releases:
            return f"{until} (the order is {self.status})"
        return None
