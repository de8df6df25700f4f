"""The order service: system of record for orders from every channel."""
