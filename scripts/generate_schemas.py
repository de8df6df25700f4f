"""Write the JSON Schema of every published contract to `contracts/schemas/<stem>.json`.

    python scripts/generate_schemas.py            # write the schemas
    python scripts/generate_schemas.py --check    # write nothing; fail if any file is out of date,
                                                  # or if anything breaks the last release
    python scripts/generate_schemas.py --release  # make the schemas as they are the new baseline

A committed schema is a promise to consumers. If a model changed in a way that breaks consumers of
its published version, nothing is written: bump the model's `schema_version`, so the change is
published as a new file next to the old one, and make the old version upcast to it. The baseline
is `contracts/released/`, the schemas of the last release; CI compares against it on every run,
so regenerating or deleting a file under `contracts/schemas/` cannot hide a breaking change.
"""

from __future__ import annotations

import argparse
import json
import sys

from contracts.registry import missing_upcasts
from contracts.schemas import (
    RELEASED_DIR,
    SCHEMA_DIR,
    breaking_changes,
    changes_breaking_the_release,
    published_models,
    render_schema,
    schema_of,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if any file is out of date or the last release would break",
    )
    action.add_argument(
        "--release",
        action="store_true",
        help="copy the schemas, once up to date and compatible, to the release baseline",
    )
    arguments = parser.parse_args()

    incompatible = changes_breaking_the_release() + missing_upcasts()
    for problem in incompatible:
        print(f"breaks the last release: {problem}")

    expected = {SCHEMA_DIR / f"{stem}.json": schema_of(model) for stem, model in published_models()}
    orphaned = sorted(set(SCHEMA_DIR.glob("*.json")) - set(expected))
    missing = [path for path in expected if not path.exists()]
    out_of_date = [
        path
        for path, schema in expected.items()
        if path.exists() and path.read_text(encoding="utf-8") != render_schema(schema)
    ]

    if arguments.check:
        problems = (
            [f"missing: {path}" for path in missing]
            + [f"out of date: {path}" for path in out_of_date]
            + [f"orphaned (no published model): {path}" for path in orphaned]
        )
        for problem in problems:
            print(problem)
        if missing or out_of_date:
            print("run `python scripts/generate_schemas.py` to update the schemas")
        if problems or incompatible:
            return 1
        print(f"all {len(expected)} schemas are up to date and compatible with the last release")
        return 0

    if arguments.release:
        if incompatible or missing or out_of_date or orphaned:
            print("not released: make the schemas current and compatible first (--check)")
            return 1
        RELEASED_DIR.mkdir(exist_ok=True)
        for path in RELEASED_DIR.glob("*.json"):
            path.unlink()
        for path in expected:
            (RELEASED_DIR / path.name).write_text(path.read_text("utf-8"), encoding="utf-8")
        print(
            f"released {len(expected)} schemas to {RELEASED_DIR}; say what changed in CHANGELOG.md"
        )
        return 0

    breaking = {
        path: changes
        for path in out_of_date
        if (changes := breaking_changes(json.loads(path.read_text("utf-8")), expected[path]))
    }
    if breaking or incompatible:
        for path, changes in breaking.items():
            print(f"{path} would change incompatibly:")
            for change in changes:
                print(f"  {change}")
        print(
            "nothing written: bump schema_version so the change gets a new file, "
            "and keep publishing the old version"
        )
        return 1

    SCHEMA_DIR.mkdir(exist_ok=True)
    for path in [*missing, *out_of_date]:
        path.write_text(render_schema(expected[path]), encoding="utf-8")
        print(f"wrote {path}")
    if orphaned:
        for path in orphaned:
            print(f"orphaned (no published model): {path}")
        print("delete an orphaned file only if its version is retired for good")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
