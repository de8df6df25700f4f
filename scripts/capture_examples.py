"""Record the examples of the published contracts from real messages on a running system's topics.

    scripts/run &  scripts/demo --returns 3          # or any flow that sends the messages
    python scripts/capture_examples.py --bootstrap 127.0.0.1:9092
    python scripts/generate_schemas.py               # puts them into docs/asyncapi.yaml

Reads every topic of the registry from the start to its end and keeps, for each published model
that has no example yet (all of them with `--refresh`), the first message of it, read as its model,
as `contracts/examples/<stem>.json`. Prints the models still without one. The integration tests
record the same way when run with `UNITRAIL_RECORD_EXAMPLES=1`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# The integration-test harness is not an installed package: make the repository root importable.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.integration.examples import record_examples, stems_without_example  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka bootstrap servers")
    parser.add_argument("--refresh", action="store_true", help="replace existing examples")
    arguments = parser.parse_args()
    written = record_examples(arguments.bootstrap, refresh=arguments.refresh)
    missing = stems_without_example()
    print(f"{len(written)} examples written; {len(missing)} published models have none")
    if missing:
        print("no message recorded yet for: " + ", ".join(missing))
    return 0


if __name__ == "__main__":
    sys.exit(main())
