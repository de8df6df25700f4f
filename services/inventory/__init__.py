"""The inventory service: the only authority on stock and reservations."""
