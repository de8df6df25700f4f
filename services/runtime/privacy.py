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
(`UNITRAIL_PERSONAL_DATA_KEY_TTL_SECONDS`) and drops it when it sees `CustomerForgotten`. Nothing
here logs a value or a key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "pii1."
ERASED = "erased"
"""What a sealed value reads as once its customer's key is deleted."""
KEY_BYTES = 32
NONCE_BYTES = 12
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
    """`value` with every sealed part opened (or `ERASED`); plain text stays as it is."""
    return SEALED_PATTERN.sub(
        lambda match: open_sealed(keys.key(customer_of(match.group(0))), match.group(0)), value
    )


def reveal_optional(value: str | None, keys: KeyLookup) -> str | None:
    return None if value is None else reveal(value, keys)


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
    at all once the process consumed `CustomerForgotten`: `forget`)."""

    def __init__(
        self,
        order_url: str,
        token: Callable[[], str | None],
        *,
        ttl_seconds: float = 60.0,
        timeout_seconds: float = 5.0,
    ) -> None:
        self._order_url = order_url.rstrip("/")
        self._token = token
        self._ttl = ttl_seconds
        self._timeout = timeout_seconds
        self._cache: dict[str, tuple[float, bytes | None]] = {}
        self._lock = threading.Lock()

    def key(self, customer_id: str) -> bytes | None:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(customer_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        key = self._fetch(customer_id)
        with self._lock:
            self._cache[customer_id] = (now + self._ttl, key)
        return key

    def forget(self, customer_id: str) -> None:
        """Drop what is known of the customer's key: it was deleted."""
        with self._lock:
            self._cache[customer_id] = (float("inf"), None)

    def _fetch(self, customer_id: str) -> bytes | None:
        token = self._token()
        if not token:
            raise KeyLookupUnavailable(
                "no token to ask for customers' keys: set UNITRAIL_PERSONAL_DATA_TOKEN_FILE"
            )
        quoted = urllib.parse.quote(customer_id, safe="")
        request = urllib.request.Request(
            f"{self._order_url}/customer-keys/{quoted}",
            headers={"Authorization": f"Bearer {token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as reply:
                answer = json.loads(reply.read())
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise KeyLookupUnavailable(f"the key lookup answered {error.code}") from None
        except OSError as error:
            raise KeyLookupUnavailable(f"the key lookup did not answer: {error}") from None
        return _unb64(str(answer["key"]))


def encoded_key(key: bytes) -> str:
    """A key as the key lookup answers it."""
    return _b64(key)
