"""The machinery every service runs on, written once.

- `config`: settings shared by every service (Kafka, Postgres, HTTP, logging).
- `aggregate`: the base aggregate whose events carry correlation and causation ids.
- `eventstore`: the service's event-sourced application on Postgres, kept off the event loop.
- `idempotency`: idempotency keys on commands: a retried command answers the same, once.
- `relay`: the transactional outbox: notification log → integration events on Kafka.
- `consumer`: tracked, deduplicating, gap-detecting consumption with a dead-letter topic.
- `projections`: a service's read models declared once: tables and pure event → change functions.
- `replay`: rebuilding read models from the topics or the stores, swapped in under a lock.
- `service`: the process: lifespan, health check, HTTP app.
"""
