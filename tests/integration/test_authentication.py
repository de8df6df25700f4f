"""Bearer tokens against the running services: every operation of every service refuses a caller
without a token (401) and one without an admitted role (403), and lets one with an admitted role
through to its own rules; a channel acts only for itself; the audit names the token's caller."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.channel import order_id_for
from services.runtime.auth import Role
from tests.integration.harness import (
    NOT_TRIED,
    Services,
    Topics,
    channel_order,
    eventually,
    operations,
    request,
)

pytestmark = pytest.mark.integration

SERVICES = ("pim", "inventory", "order", "returns", "shipping", "warehouse_adapter", "traceability")


def test_every_operation_answers_401_without_a_token_403_without_the_role_and_lets_its_roles_in(
    services: Services,
) -> None:
    started = services(*SERVICES)
    stack = started[0].stack
    tried = 0
    for service in started:
        for method, path, admitted, _ in operations(service, not_tried=frozenset()):
            body: dict[str, Any] | None = None if method == "GET" else {}
            status, answer = request(service, method, path, body, anonymous=True)
            assert status == 401, (service.name, method, path, status, answer)
            assert answer["error"]["type"] == "unauthenticated"

            outsider = next(role for role in Role if role not in admitted)
            token = stack.token(outsider, "outsider", channel="webshop")
            status, answer = request(service, method, path, body, token=token)
            assert status == 403, (service.name, method, path, outsider, status, answer)
            assert answer["error"]["type"] == "forbidden"

            if (method.lower(), path) in NOT_TRIED:
                continue  # admitted, it would rebuild the read models: the runtime's tests do
            for role in admitted:
                token = stack.token(role, "insider", channel="webshop")
                status, answer = request(service, method, path, body, token=token)
                # Past the door, the operation's own rules answer: a made-up id is not found,
                # an empty body is invalid; never a refusal of the caller, never a crash.
                assert status not in (401, 403), (service.name, method, path, role, answer)
                assert status < 500, (service.name, method, path, role, status, answer)
                tried += 1
    assert tried > 100


def test_a_channel_token_acts_for_its_own_channel_only(services: Services, topic: Topics) -> None:
    (order,) = services("order")
    orders = topic("order.events.v1")
    webshop = order.stack.token(Role.CHANNEL, "webshop-connector", channel="webshop")
    amazon = order.stack.token(Role.CHANNEL, "amazon-connector", channel="amazon-us")
    intake = "/intake/channel.orders.v1"

    status, answer = request(
        order, "POST", intake, channel_order("A-1", channel="amazon-us"), token=webshop
    )
    assert status == 403, answer
    assert answer["error"]["message"] == (
        "a channel token for webshop cannot act on amazon-us orders"
    )
    assert request(order, "POST", intake, channel_order("W-1"), token=webshop)[0] == 202
    assert (
        request(order, "POST", intake, channel_order("A-1", channel="amazon-us"), token=amazon)[0]
        == 202
    )
    warehouse = order.stack.token(Role.WAREHOUSE, "3pl")
    assert request(order, "POST", intake, channel_order("W-2"), token=warehouse)[0] == 403

    assert request(order, "GET", "/orders/by-channel/webshop/W-1", token=webshop)[0] == 200
    assert request(order, "GET", "/orders/by-channel/amazon-us/A-1", token=webshop)[0] == 403
    amazon_order = f"/orders/{order_id_for('amazon-us', 'A-1')}"
    assert request(order, "GET", amazon_order, token=webshop)[0] == 403
    assert request(order, "GET", amazon_order, token=amazon)[0] == 200
    eventually(lambda: len(orders.events("OrderPlaced")) == 2, what="both orders placed")


def test_the_audit_names_the_caller_the_token_authenticated(
    services: Services, topic: Topics
) -> None:
    order, traceability = services("order", "traceability")
    orders = topic("order.events.v1")
    assert request(order, "POST", "/intake/channel.orders.v1", channel_order("H-1"))[0] == 202
    order_id = order_id_for("webshop", "H-1")
    eventually(lambda: orders.events("OrderPlaced"), what="the order placed")
    ana = order.stack.token(Role.CUSTOMER_SERVICE, "ana")

    status, answer = request(
        order,
        "POST",
        f"/orders/{order_id}/hold",
        {"reason": "address check", "on_behalf_of": "the risk team"},
        token=ana,
    )
    assert status == 200, answer
    claimed = {"reason": "again", "actor": "somebody else"}
    status, answer = request(order, "POST", f"/orders/{order_id}/hold", claimed, token=ana)
    assert (status, answer["error"]["details"][0]["loc"]) == (422, ["body", "actor"])

    analyst = traceability.stack.token(Role.ANALYST, "al")

    def held_in_audit() -> list[str] | None:
        status, audit = request(traceability, "GET", f"/audit/{order_id}", token=analyst)
        if status != 200:
            return None
        actors = [e["actor"] for e in audit["events"] if e["event_type"] == "OrderHeld"]
        # Held first by the order's own rule (no PIM knows its SKU here), then by ana.
        return actors if len(actors) == 2 else None

    actors = eventually(held_in_audit, timeout=60, what="both holds in the audit")
    assert actors[-1] == "ana (customer-service) on behalf of the risk team", actors
