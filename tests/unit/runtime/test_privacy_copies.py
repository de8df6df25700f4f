"""Copies of customers' personal data that are kept for ever hold it only sealed: dead letters of
channels' messages, idempotent answers; a partner's feed opens it without blocking its loop; an
audit trail shows it opened, erased or sealed by who asks."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from services.runtime.deadletters import HeldMessage, PersonalDataSealing, shown_value
from services.runtime.idempotency import KeyedRequest, resealed_body, reset_keyed, running_keyed
from services.runtime.privacy import (
    ERASED,
    REDACTED,
    SEALED,
    CustomerKeyClient,
    KeyLookupUnavailable,
    Sealer,
    masked,
    new_key,
    reveal,
    seal,
    sealed_message,
    shown,
)
from services.warehouse_adapter.domain import Destination, Fulfilment, FulfilmentLine
from services.warehouse_adapter.translators import PartnerFeed
from tests.integration.harness import channel_order
from tests.unit.runtime.test_privacy import Keys, KeyServer, key_server

__all__ = ["key_server"]  # the fixture, shared

PERSON = {"customer_id": "C-7", "name": "Grace Hopper", "email": "grace@example.org"}
CLEAR = ["Grace Hopper", "grace@example.org", "2 Compiler Rd"]


def channel_message() -> dict[str, object]:
    message = channel_order("7001", customer=PERSON)
    message["shipping_address"] = {
        "name": "Grace Hopper",
        "line1": "2 Compiler Rd",
        "city": "Arlington",
        "postal_code": "22201",
        "country": "US",
    }
    return message


def held(value: bytes, topic: str = "channel.orders.v1") -> HeldMessage:
    return HeldMessage(topic=topic, partition=0, offset=3, key=b"webshop:7001", value=value,
                       headers={})  # fmt: skip


def sealing(keys: Keys) -> PersonalDataSealing:
    def sealer_for(customer_id: str) -> Sealer:
        return Sealer(keys.keys.setdefault(customer_id, new_key()), customer_id)

    return PersonalDataSealing(sealer_for, keys.key)


def test_a_dead_lettered_channel_message_is_kept_sealed_and_redriven_as_it_came() -> None:
    keys = Keys()
    letters = sealing(keys)
    original = json.dumps(channel_message()).encode()
    kept = letters.kept(held(original))
    assert [text for text in CLEAR if text.encode() in kept.value] == []
    document = json.loads(kept.value)
    assert document["shipping_address"]["country"] == "US"
    assert document["customer"]["customer_id"] == "C-7"
    assert json.loads(letters.opened(kept.value)) == json.loads(original)
    assert letters.kept(held(original)).value == kept.value  # the same message keeps alike
    # What an operator is shown of it: its personal values "sealed", known without a key.
    assert masked(kept.value.decode()).encode() == shown_value("channel.orders.v1", original)

    del keys.keys["C-7"]  # forgotten
    opened = json.loads(letters.opened(kept.value))
    assert (opened["customer"]["name"], opened["shipping_address"]["line1"]) == (ERASED, ERASED)


def test_a_dead_letter_that_names_no_customer_or_is_no_json_keeps_no_personal_value() -> None:
    letters = sealing(Keys())
    nameless = channel_message()
    nameless["customer"] = {"name": "Grace Hopper", "email": "grace@example.org"}
    kept = json.loads(letters.kept(held(json.dumps(nameless).encode())).value)
    assert (kept["customer"]["name"], kept["shipping_address"]["line1"]) == (REDACTED, REDACTED)
    broken = b'{"customer": {"name": "Grace Hopper", "email": '
    note = letters.kept(held(broken)).value
    assert b"Grace" not in note
    assert note.startswith(b"(not kept: 47 bytes, not JSON")
    hostile = channel_message()
    hostile["customer"] = PERSON | {"customer_id": "C-\u0000" + "7" * 200}
    kept = json.loads(letters.kept(held(json.dumps(hostile).encode())).value)
    assert kept["customer"]["name"] == REDACTED  # no key made for an id no store can hold
    message = channel_message()
    as_shown = shown_value("channel.orders.v1", json.dumps(message).encode())
    assert as_shown == json.dumps(sealed_message(message, lambda _: SEALED)).encode()
    event = json.dumps({"payload": {"customer": PERSON}}).encode()
    assert letters.kept(held(event, topic="order.events.v1")).value == event  # sealed already


def test_an_idempotent_answer_keeps_what_it_opened_sealed_and_a_repeat_opens_it_again() -> None:
    key = new_key()
    keys = Keys(**{"C-7": key})
    sealed_name = seal(key, "C-7", "Grace Hopper")
    request = KeyedRequest.of("order", "k-1", "POST", "/orders/x/hold", b"{}", caller="cs")
    token = running_keyed(request)
    try:
        body = json.dumps({"customer": {"name": reveal(sealed_name, keys), "id": "C-7"}}).encode()
    finally:
        reset_keyed(token)
    assert request.opened == {"Grace Hopper": sealed_name}
    record = request.new_record()
    record.answered(200, "application/json", resealed_body(body, request.opened))
    assert record.answer is not None
    assert b"Grace" not in base64.b64decode(record.answer["body"])
    record.open_answer(keys)
    answer = record.stored_answer()
    assert answer is not None
    assert json.loads(answer[2])["customer"]["name"] == "Grace Hopper"

    forgotten = request.new_record()
    forgotten.answered(200, "application/json", resealed_body(body, request.opened))
    forgotten.open_answer(Keys())
    answer = forgotten.stored_answer()
    assert answer is not None
    assert json.loads(answer[2])["customer"] == {"name": ERASED, "id": "C-7"}


def test_an_audit_trail_shows_personal_values_opened_erased_or_sealed() -> None:
    key = new_key()
    trail = {"events": [{"payload": {"name": seal(key, "C-7", "Grace Hopper"), "n": 1}}]}
    assert shown(trail, Keys(**{"C-7": key}))["events"][0]["payload"]["name"] == "Grace Hopper"
    assert shown(trail, Keys())["events"][0]["payload"]["name"] == ERASED
    assert shown(trail, None)["events"][0]["payload"] == {"name": SEALED, "n": 1}


def requested(key: bytes) -> object:
    fulfilment = Fulfilment.request(
        shipment_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        location="WH-A",
        lines=(FulfilmentLine(1, "CAM-E", 1),),
        ship_to=Destination(
            name=seal(key, "C-7", "Grace Hopper"),
            line1=seal(key, "C-7", "2 Compiler Rd"),
            line2=None,
            city=seal(key, "C-7", "Arlington"),
            region=None,
            postal_code=seal(key, "C-7", "22201"),
            country="US",
        ),
        signature_required=False,
    )
    (event,) = fulfilment.collect_events()
    return event


async def test_the_partner_feed_asks_for_keys_before_translating_and_waits_out_an_outage(
    key_server: str,
) -> None:
    event = requested(KeyServer.keys["C-7"])
    feed = PartnerFeed(CustomerKeyClient(key_server, lambda: "service-token"))
    with pytest.raises(KeyLookupUnavailable):  # not asked for yet: never asked on the loop
        feed(event)
    await feed.prepare([event])
    await feed.prepare([event])
    assert KeyServer.asked == ["C-7"]
    request = feed(event)
    assert request is not None
    assert request.model_dump()["ship_to"]["line1"] == "2 Compiler Rd"
    feed.forget("C-7")
    await feed.prepare([event])
    request = feed(event)
    assert request is not None
    assert request.model_dump()["ship_to"]["line1"] == ERASED
    assert KeyServer.asked == ["C-7"]

    away = PartnerFeed(CustomerKeyClient("http://127.0.0.1:9", lambda: "t", timeout_seconds=1))
    with pytest.raises(KeyLookupUnavailable, match="did not answer"):
        await away.prepare([event])
    refused = PartnerFeed(CustomerKeyClient(key_server, lambda: "stolen"))
    with pytest.raises(KeyLookupUnavailable, match="401"):
        await refused.prepare([event])
