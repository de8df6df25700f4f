"""The customers' keys (`services.runtime.privacy`): kept only here, in the order service's
database, in a table of its own (not a read model: a replay must never rebuild or drop it)."""

from __future__ import annotations

from collections.abc import Collection

from services.runtime.eventstore import ServiceApplication
from services.runtime.privacy import Sealer, new_key

CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS customer_keys (customer_id text PRIMARY KEY, key bytea NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT now())"
)


class CustomerKeys:
    """One AES key per customer id, created on the customer's first order, deleted when the
    customer is forgotten. An in-memory store (unit tests) keeps them in memory."""

    def __init__(self, application: ServiceApplication) -> None:
        self._application = application
        self._memory: dict[str, bytes] | None = None if application.has_read_models else {}
        self._table_ready = False

    def sealer(self, customer_id: str) -> Sealer:
        """Seals values of `customer_id`, with its key (created now when it has none)."""
        key = self.key(customer_id)
        if key is None:
            key = self._create(customer_id)
        return Sealer(key, customer_id)

    def key(self, customer_id: str) -> bytes | None:
        """The customer's key; None once forgotten (or before its first order)."""
        if self._memory is not None:
            return self._memory.get(customer_id)
        self._ensure_table()
        rows = self._application.read(
            "SELECT key FROM customer_keys WHERE customer_id = %s", customer_id
        )
        return bytes(rows[0]["key"]) if rows else None

    def keys(self, customer_ids: Collection[str]) -> dict[str, bytes]:
        """The keys of those of `customer_ids` that have one, in one query (a recall or a relay's
        batch asks for many customers at once)."""
        if self._memory is not None:
            return {id_: self._memory[id_] for id_ in customer_ids if id_ in self._memory}
        self._ensure_table()
        rows = self._application.read(
            "SELECT customer_id, key FROM customer_keys WHERE customer_id = ANY(%s)",
            list(customer_ids),
        )
        return {str(row["customer_id"]): bytes(row["key"]) for row in rows}

    def delete(self, customer_id: str) -> bool:
        """Delete the customer's key; whether there was one."""
        if self._memory is not None:
            return self._memory.pop(customer_id, None) is not None
        self._ensure_table()
        had = self.key(customer_id) is not None
        self._application.write("DELETE FROM customer_keys WHERE customer_id = %s", customer_id)
        return had

    def _create(self, customer_id: str) -> bytes:
        if self._memory is not None:
            return self._memory.setdefault(customer_id, new_key())
        # Two processes may create the first key of one customer at once: the first one stands.
        self._application.write(
            "INSERT INTO customer_keys (customer_id, key) VALUES (%s, %s)"
            " ON CONFLICT (customer_id) DO NOTHING",
            customer_id,
            new_key(),
        )
        key = self.key(customer_id)
        assert key is not None
        return key

    def _ensure_table(self) -> None:
        if not self._table_ready:
            self._application.write(CREATE_TABLE)
            self._table_ready = True
