"""Hostile bodies against every command of every running service: malformed JSON, a body over the
size limit, JSON nested beyond reading, an endless string. Each gets a 4xx that says what is
wrong, in the one error shape; no service answers 500 or stops answering."""

from __future__ import annotations

import json

import pytest

from services.runtime.http_edge import LONGEST_TEXT
from tests.integration.harness import Services, operations, request

pytestmark = pytest.mark.integration

SERVICES = ("pim", "inventory", "order", "returns", "shipping", "warehouse_adapter", "traceability")
LIMIT = 64 * 1024

HOSTILE = {
    "malformed": b'{"sku": "LAPTOP-14", "quantity": ',
    "not-an-object": b"[1, 2, 3]",
    "over-the-limit": b'{"note": "' + b"x" * LIMIT + b'"}',
    "nested-beyond-reading": b"[" * 50_000 + b"]" * 50_000,
    "endless-string": json.dumps({"reason": "y" * (LONGEST_TEXT + 1)}).encode(),
    "not-utf-8": b'{"reason": "\xff\xfe"}',
}


def test_every_command_answers_hostile_bodies_with_a_4xx_and_a_message(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNITRAIL_HTTP_MAX_BODY_BYTES", str(LIMIT))
    started = services(*SERVICES)
    answered = 0
    for service in started:
        commands = [(m, p, body) for m, p, _, body in operations(service) if m in ("POST", "PUT")]
        for method, path, takes_body in commands:
            for kind, body in HOSTILE.items():
                status, answer = request(service, method, path, body)
                what = (service.name, method, path, kind, status, answer)
                if not takes_body and kind != "over-the-limit":
                    # A body it does not read changes nothing (e.g. a catalogue refresh).
                    assert status < 500, what
                    continue
                assert 400 <= status < 500, what
                assert answer["error"]["message"], what
                if kind == "over-the-limit":
                    assert (status, answer["error"]["type"]) == (413, "body-too-large"), what
                answered += 1
        assert request(service, "GET", "/health")[0] == 200, f"{service.name} still answers"
    assert answered > 100
