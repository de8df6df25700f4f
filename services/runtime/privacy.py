"""Customers' personal data, sealed with a key per customer so that it can be forgotten
(crypto-shredding, GDPR Art. 17).

The order service seals a customer's name, e-mail and street address (every part but the country)
at intake, before anything is recorded: its store, its snapshots, every topic its events reach
and every read model built from them hold only the sealed text. Forgetting the customer deletes
the key (`unitrail forget-customer`); every sealed value of that customer is then noise for ever,
wherever a copy went, and reads as `ERASED`.

A sealed value is a string `pii1.<customer id>.<nonce and ciphertext>` (both base64url): AES-256-GCM
under the customer's key, the customer id as associated data. The nonce is derived from the key
and the plaintext (HMAC-SHA256), as in SIV modes: the same value of the same customer seals to
the same text, so an order compares a channel's re-send with what it recorded without opening
anything, and a nonce is never reused for another plaintext. What this reveals is only that two
sealed values of one customer are equal. Values recorded before sealing (old history) are plain
text and read as they are.

Keys: the order service keeps them (`customer_keys` in its database) and answers
`GET /customer-keys/{customer_id}` to tokens of role `personal-data` (and `admin`). A service that
shows or hands on clear data (traceability's trace and recall, the warehouse adapter's fulfilment
requests to 3PLs) asks through `CustomerKeyClient`, which keeps an answer for a short time
(`UNITRAIL_PERSONAL_DATA_KEY_TTL_SECONDS`) and drops it when it sees `CustomerForgotten`; on an
event loop it asks ahead, asynchronously (`prefetch`), and opens with what it has (`at_hand`).
Nothing here logs a value or a key.

Copies kept for ever hold personal values sealed too: a dead letter of a channel's message
(`sealed_message`, `services.runtime.deadletters`) and an idempotent request's kept answer, which
seals again what `reveal` opened for it (`noting_opened`, `services.runtime.idempotency`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar, Token
from typing import Any, Protocol

import httpx
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.runtime import tracing

PREFIX = "pii1."
ERASED = "erased"
"""What a sealed value reads as once its customer's key is deleted."""
SEALED = "sealed"
"""What a sealed value shows to a caller not allowed to see personal data."""
REDACTED = "redacted"
"""What a personal value reads as where no customer could be named to seal it under."""
KEY_BYTES = 32
NONCE_BYTES = 12
LOOKUP_ATTEMPTS = 3
LOOKUP_BACKOFF_SECONDS = 0.2
MAX_KEYS_ASKED = 500
"""Most customers' keys one lookup asks for (`POST /customer-keys/lookup` on order)."""
SEALED_PATTERN = re.compile(r"pii1\.([A-Za-z0-9_-]+={0,2})\.([A-Za-z0-9_-]+={0,2})")


class KeyLookup(Protocol):
    """Where a customer's key comes from: None once the customer is forgotten (or never had one)."""

    def key(self, customer_id: str) -> bytes | None: ...


def new_key() -> bytes:
    """A fresh AES-256 key for one customer."""
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode("ascii"))


def seal(key: bytes, customer_id: str, value: str) -> str:
    """`value` sealed under the customer's key; the same value always seals to the same text."""
    if is_sealed(value):
        return value
    plaintext = value.encode("utf-8")
    nonce = hmac.new(key, b"nonce:" + plaintext, hashlib.sha256).digest()[:NONCE_BYTES]
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, customer_id.encode("utf-8"))
    return sealed_prefix(customer_id) + _b64(nonce + ciphertext)


def sealed_prefix(customer_id: str) -> str:
    """How every sealed value of `customer_id` starts: to find them without a key."""
    return f"{PREFIX}{_b64(customer_id.encode('utf-8'))}."


def is_sealed(value: str | None) -> bool:
    return value is not None and SEALED_PATTERN.fullmatch(value) is not None


def customer_of(sealed: str) -> str:
    """The customer whose key sealed `sealed`."""
    match = SEALED_PATTERN.fullmatch(sealed)
    if match is None:
        raise ValueError("not a sealed value")
    return _unb64(match.group(1)).decode("utf-8")


def open_sealed(key: bytes | None, sealed: str) -> str:
    """The clear value of `sealed`; `ERASED` without a key (or with one that did not seal it)."""
    match = SEALED_PATTERN.fullmatch(sealed)
    if match is None:
        return sealed  # recorded in clear before sealing
    if key is None:
        return ERASED
    blob = _unb64(match.group(2))
    try:
        plaintext = AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _unb64(match[1]))
    except InvalidTag:
        return ERASED
    return plaintext.decode("utf-8")


def reveal(value: str, keys: KeyLookup) -> str:
    """`value` with every sealed part opened (or `ERASED`); plain text stays as it is. What is
    opened is noted for `noting_opened`'s caller (an answer kept for a repeat seals it again)."""

    def opened(match: re.Match[str]) -> str:
        sealed = match.group(0)
        clear = open_sealed(keys.key(customer_of(sealed)), sealed)
        noted = _opened.get()
        if noted is not None and clear != ERASED:
            noted[clear] = sealed
        return clear

    return SEALED_PATTERN.sub(opened, value)


def reveal_optional(value: str | None, keys: KeyLookup) -> str | None:
    return None if value is None else reveal(value, keys)


def masked(value: str) -> str:
    """`value` with every sealed part shown as `SEALED`: neither opened nor its ciphertext."""
    return SEALED_PATTERN.sub(SEALED, value)


_opened: ContextVar[dict[str, str] | None] = ContextVar("opened_personal_values", default=None)


def noting_opened(into: dict[str, str] | None) -> Token[dict[str, str] | None]:
    """From now on in this context (and the threads it runs work on), note every value `reveal`
    opens in `into` (clear text to sealed text); returns the token to stop with."""
    return _opened.set(into)


def stop_noting(token: Token[dict[str, str] | None]) -> None:
    _opened.reset(token)


def resealed(document: Any, sealed_of: Mapping[str, str]) -> Any:
    """A JSON document with each string that is the opened form of a sealed value (as noted by
    `noting_opened`) sealed again."""
    return _strings_mapped(document, lambda text: sealed_of.get(text, text))


def revealed(document: Any, keys: KeyLookup) -> Any:
    """A JSON document with every sealed string opened (or `ERASED`)."""
    return _strings_mapped(document, lambda text: reveal(text, keys))


def customers_named(document: Any) -> set[str]:
    """The customers whose sealed values appear anywhere in a JSON-like document: whose keys
    opening it takes, asked for at once (`CustomerKeyClient.fetch`)."""
    named: set[str] = set()

    def note(text: str) -> str:
        named.update(customer_of(match.group(0)) for match in SEALED_PATTERN.finditer(text))
        return text

    _strings_mapped(document, note)
    return named


def shown(document: Any, keys: KeyLookup | None) -> Any:
    """A JSON-like answer as a caller sees it: with `keys` (a caller allowed to see personal data)
    every sealed value opened, or "erased" once forgotten; without, each shown as `SEALED`,
    never as its ciphertext."""
    if keys is None:
        return _strings_mapped(document, masked)
    return revealed(document, keys)


def _strings_mapped(document: Any, change: Callable[[str], str]) -> Any:
    if isinstance(document, str):
        return change(document)
    if isinstance(document, list):
        return [_strings_mapped(item, change) for item in document]
    if isinstance(document, dict):
        return {key: _strings_mapped(value, change) for key, value in document.items()}
    return document


PERSONAL_PARTS = {
    "customer": ("name", "email", "phone"),
    "shipping_address": ("name", "line1", "line2", "city", "region", "postal_code", "phone"),
    "billing_address": ("name", "line1", "line2", "city", "region", "postal_code", "phone"),
}
"""Where a channel's message (`ChannelOrderMessage`, JSON) holds personal values: the customer's
name, e-mail and phone, and every part of an address but the country."""


def customer_named_in(message: Any) -> str | None:
    """The customer id a channel's message names, if it names one."""
    customer = message.get("customer") if isinstance(message, dict) else None
    customer_id = customer.get("customer_id") if isinstance(customer, dict) else None
    return customer_id if isinstance(customer_id, str) and customer_id else None


def sealed_message(message: Any, seal: Callable[[str], str]) -> Any:
    """A channel's message (parsed JSON) with its personal values passed through `seal`
    (`PERSONAL_PARTS`); everything else as it was."""
    if not isinstance(message, dict):
        return message
    sealed = dict(message)
    for part, fields in PERSONAL_PARTS.items():
        values = message.get(part)
        if isinstance(values, dict):
            sealed[part] = {
                field: seal(value) if field in fields and isinstance(value, str) else value
                for field, value in values.items()
            }
    return sealed


class Sealer:
    """Seals one customer's values with its key (the order service's intake)."""

    def __init__(self, key: bytes, customer_id: str) -> None:
        self._key = key
        self._customer_id = customer_id

    def __call__(self, value: str) -> str:
        return seal(self._key, self._customer_id, value)

    def optional(self, value: str | None) -> str | None:
        return None if value is None else self(value)


class KeyLookupUnavailable(ConnectionError):
    """Customers' keys cannot be asked for now (the order service is away, or refused this
    service's token): not the same as forgotten. An outage (`services.runtime.outages`: an OS
    error): 503 at the HTTP edge, the batch consumed again later by a consumer."""


class CustomerKeyClient:
    """Customers' keys from the order service, each kept `ttl_seconds` (a forgotten customer's
    key therefore outlives the forgetting by at most that long in a process that had it, and not
    at all once the process consumed `CustomerForgotten`: `forget`). Asked for many at once
    (`POST /customer-keys/lookup`, `MAX_KEYS_ASKED` per request): a recall of a thousand
    customers' units asks two requests, not a thousand."""

    def __init__(
        self,
        order_url: str,
        token: Callable[[], str | None],
        *,
        ttl_seconds: float = 60.0,
        timeout_seconds: float = 5.0,
    ) -> None:
        self._lookup_url = f"{order_url.rstrip('/')}/customer-keys/lookup"
        self._token = token
        self._ttl = ttl_seconds
        self._timeout = timeout_seconds
        self._cache: dict[str, tuple[float, bytes | None]] = {}
        self._lock = threading.Lock()

    def key(self, customer_id: str) -> bytes | None:
        """The customer's key, kept or asked for (`fetch`: from a thread without an event loop)."""
        self.fetch([customer_id])
        with self._lock:
            return self._cache[customer_id][1]

    def fetch(self, customer_ids: Iterable[str]) -> None:
        """`prefetch` from a thread that runs no event loop (a query's worker thread): it
        blocks until the keys are at hand; with every key kept, it asks nothing and starts no
        event loop."""
        wanted = self._wanted(customer_ids)
        if wanted:
            asyncio.run(self._ask_for(wanted))

    async def prefetch(self, customer_ids: Iterable[str]) -> None:
        """Have these customers' keys at hand, asking in as few requests as can be for those not
        kept or kept longer than the TTL. A lookup that fails is tried again a few times; then
        `KeyLookupUnavailable` (an outage: the caller waits and tries later)."""
        wanted = self._wanted(customer_ids)
        if wanted:
            await self._ask_for(wanted)

    def _wanted(self, customer_ids: Iterable[str]) -> list[str]:
        """Those of `customer_ids` whose key is not kept, or kept longer than the TTL."""
        now = time.monotonic()
        with self._lock:
            return sorted(
                {
                    customer_id
                    for customer_id in customer_ids
                    if not ((kept := self._cache.get(customer_id)) and kept[0] > now)
                }
            )

    async def _ask_for(self, wanted: list[str]) -> None:
        now = time.monotonic()
        token = self._token()
        if not token:
            raise KeyLookupUnavailable(
                "no token to ask for customers' keys: set UNITRAIL_PERSONAL_DATA_TOKEN_FILE"
            )
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            for start in range(0, len(wanted), MAX_KEYS_ASKED):
                asked = wanted[start : start + MAX_KEYS_ASKED]
                keys = await self._ask(client, asked, _lookup_headers(token))
                with self._lock:
                    for customer_id in asked:
                        # A customer forgotten meanwhile stays forgotten.
                        if self._cache.get(customer_id, (0.0, None))[0] != float("inf"):
                            self._cache[customer_id] = (now + self._ttl, keys.get(customer_id))

    async def _ask(
        self, client: httpx.AsyncClient, customer_ids: list[str], headers: dict[str, str]
    ) -> dict[str, bytes | None]:
        failure = ""
        for attempt in range(LOOKUP_ATTEMPTS):
            if attempt:
                await asyncio.sleep(LOOKUP_BACKOFF_SECONDS * 2 ** (attempt - 1))
            try:
                reply = await client.post(
                    self._lookup_url, json={"customer_ids": customer_ids}, headers=headers
                )
            except httpx.HTTPError as error:
                failure = f"the key lookup did not answer: {error!r}"
                continue
            if reply.status_code == 200:
                answered: dict[str, str | None] = reply.json()["keys"]
                return {id_: None if key is None else _unb64(key) for id_, key in answered.items()}
            failure = f"the key lookup answered {reply.status_code}"
            if reply.status_code < 500:
                break  # a refused token is not cured by asking again at once
        raise KeyLookupUnavailable(failure)

    def at_hand(self) -> KeyLookup:
        """The keys `prefetch` brought, never asked for: a customer not prefetched is an
        outage (`KeyLookupUnavailable`), not a forgotten one."""
        return _KeysAtHand(self)

    def cached(self, customer_id: str) -> tuple[float, bytes | None] | None:
        """Until when the customer's key is kept, and the key (None: forgotten), if kept."""
        with self._lock:
            return self._cache.get(customer_id)

    def forget(self, customer_id: str) -> None:
        """Drop what is known of the customer's key: it was deleted."""
        with self._lock:
            self._cache[customer_id] = (float("inf"), None)


def _lookup_headers(token: str) -> dict[str, str]:
    """A key lookup's headers: the service's token, and the trace it is asked in."""
    return {"Authorization": f"Bearer {token}", **tracing.propagation_headers()}


class _KeysAtHand:
    def __init__(self, client: CustomerKeyClient) -> None:
        self._client = client

    def key(self, customer_id: str) -> bytes | None:
        kept = self._client.cached(customer_id)
        if kept is None:
            raise KeyLookupUnavailable(f"the key of {customer_id!r} was not fetched beforehand")
        return kept[1]


def encoded_key(key: bytes) -> str:
    """A key as the key lookup answers it."""
    return _b64(key)
