"""Create the topics of the registry (names, partitions) on the broker, if missing.

The mechanism lives in the runtime, which services run at start and after a broker restart."""

from services.runtime.topics import ensure_topics

__all__ = ["ensure_topics"]
