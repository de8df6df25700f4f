"""Contract evolution as CI enforces it: the published contracts never break the last release.

The gate is `scripts/generate_schemas.py --check`, run here as CI runs it, against a copy of the
contracts in which a breaking change was made: it must fail, naming the change, also after the
committed schema was regenerated or deleted. A breaking change made the allowed way (a new schema
version beside the old one, which upcasts to it) passes, and old messages read as the new version.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from contracts.base import ContractModel, validate_partner_message
from contracts.envelope import Envelope
from contracts.inventory import AvailableToSellChanged
from contracts.registry import missing_upcasts, read_event
from contracts.schemas import RELEASED_DIR, SCHEMA_DIR, changes_breaking_the_release
from contracts.threepl import ThreePLConfirmation

REPOSITORY = Path(__file__).resolve().parents[3]

REFURBISHED_OPTIONAL = """    refurbished: int = Field(
        default=0,
        ge=0,"""

BREAKING_CHANGES = {
    "an optional field made required": (
        REFURBISHED_OPTIONAL,
        "    refurbished: int = Field(\n        ge=0,",
        "AvailableToSellChanged.v1 $.refurbished: property newly required",
    ),
    "a field renamed": (
        "    open_box: int = Field(",
        "    openbox: int = Field(",
        "AvailableToSellChanged.v1 $.open_box: property removed",
    ),
    "a type narrowed": (
        REFURBISHED_OPTIONAL,
        REFURBISHED_OPTIONAL + "\n        le=1000,",
        "AvailableToSellChanged.v1 $.refurbished: narrowed: maximum none -> 1000",
    ),
}

SECOND_VERSION = '''

class AvailableToSellChangedV2(IntegrationEvent):
    """What one sales channel may sell of a SKU, per condition, by condition name."""

    event_type = "AvailableToSellChanged"
    schema_version = 2
    aggregate_type = "sku-stock"

    sku: Sku
    channel: str = Field(description="The sales channel, as channel orders name it.")
    units: dict[str, int] = Field(description="Units the channel may sell, by condition.")
'''

UPCAST = """
    def upcast(self) -> IntegrationEvent:
        return AvailableToSellChangedV2(
            sku=self.sku,
            channel=self.channel,
            units={"new": self.new, "open_box": self.open_box, "refurbished": self.refurbished},
        )
"""


@pytest.fixture
def copy_of_the_contracts(tmp_path: Path) -> Path:
    """The contracts and the schema script, copied where they can be broken."""
    shutil.copytree(REPOSITORY / "contracts", tmp_path / "contracts")
    (tmp_path / "docs").mkdir()
    shutil.copy(REPOSITORY / "docs/asyncapi.yaml", tmp_path / "docs")
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPOSITORY / "scripts/generate_schemas.py", tmp_path / "scripts")
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} not found once in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def generate_schemas(copy: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """The schema script as CI runs it, on the copy's contracts."""
    return python(copy, str(copy / "scripts/generate_schemas.py"), *arguments)


def python(copy: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = os.environ | {"PYTHONPATH": str(copy)}  # the copy before the installed tree
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=copy,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_nothing_published_now_breaks_the_last_release() -> None:
    assert changes_breaking_the_release() == []
    assert missing_upcasts() == []


def test_every_released_version_is_still_published() -> None:
    released = {path.name for path in RELEASED_DIR.glob("*.json")}
    assert released, "no release baseline"
    assert released <= {path.name for path in SCHEMA_DIR.glob("*.json")}


@pytest.mark.parametrize("change", list(BREAKING_CHANGES), ids=list(BREAKING_CHANGES))
def test_ci_fails_on_a_breaking_change_even_after_regenerating_or_deleting_the_schema(
    copy_of_the_contracts: Path, change: str
) -> None:
    old, new, reported = BREAKING_CHANGES[change]
    edit(copy_of_the_contracts / "contracts/inventory/stock.py", old, new)

    regenerated = generate_schemas(copy_of_the_contracts)
    assert regenerated.returncode == 1, regenerated.stdout + regenerated.stderr
    assert reported in regenerated.stdout
    (copy_of_the_contracts / "contracts/schemas/AvailableToSellChanged.v1.json").unlink()
    assert generate_schemas(copy_of_the_contracts).returncode == 1

    checked = generate_schemas(copy_of_the_contracts, "--check")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert f"breaks the last release: {reported}" in checked.stdout


def test_the_unchanged_copy_passes_the_gate_so_the_committed_files_are_current(
    copy_of_the_contracts: Path,
) -> None:
    checked = generate_schemas(copy_of_the_contracts, "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_breaking_change_as_a_new_version_passes_once_the_old_one_upcasts_to_it(
    copy_of_the_contracts: Path,
) -> None:
    contracts = copy_of_the_contracts / "contracts"
    with (contracts / "inventory/stock.py").open("a", encoding="utf-8") as module:
        module.write(SECOND_VERSION)
    with (contracts / "inventory/__init__.py").open("a", encoding="utf-8") as package:
        package.write("from contracts.inventory.stock import AvailableToSellChangedV2\n")
    edit(
        contracts / "registry.py",
        "    inventory.AvailableToSellChanged,\n",
        "    inventory.AvailableToSellChanged,\n    inventory.AvailableToSellChangedV2,\n",
    )

    without_upcast = generate_schemas(copy_of_the_contracts)
    assert without_upcast.returncode == 1
    assert "AvailableToSellChanged v1: override `upcast` to return v2" in without_upcast.stdout

    edit(
        contracts / "inventory/stock.py",
        "\n\nclass StockSerialPacked(IntegrationEvent):",
        UPCAST + "\n\nclass StockSerialPacked(IntegrationEvent):",
    )

    written = generate_schemas(copy_of_the_contracts)
    assert written.returncode == 0, written.stdout + written.stderr
    assert (contracts / "schemas/AvailableToSellChanged.v2.json").exists()
    checked = generate_schemas(copy_of_the_contracts, "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    read = python(
        copy_of_the_contracts,
        "-c",
        "from contracts.registry import read_event\n"
        "event = read_event('AvailableToSellChanged', 1,"
        " {'sku': 'CAM-1', 'channel': 'webshop', 'new': 3, 'open_box': 1})\n"
        "print(type(event).__name__, event.schema_version, sorted(event.units.items()))",
    )
    assert read.stdout.strip() == (
        "AvailableToSellChangedV2 2 [('new', 3), ('open_box', 1), ('refurbished', 0)]"
    ), read.stderr


def test_a_consumer_ignores_a_field_added_after_its_release() -> None:
    """What the published schemas allow (`additionalProperties` open) the models accept."""
    payload = {"sku": "CAM-1", "channel": "webshop", "new": 3, "open_box": 1, "demo": 2}
    event = read_event("AvailableToSellChanged", 1, payload)
    assert event == AvailableToSellChanged(sku="CAM-1", channel="webshop", new=3, open_box=1)
    envelope = json.loads((SCHEMA_DIR / "Envelope.v1.json").read_text(encoding="utf-8"))
    assert envelope.get("additionalProperties", True) is not False
    assert issubclass(Envelope, ContractModel)


def test_a_partner_message_with_a_field_its_schema_does_not_name_is_refused() -> None:
    schema = json.loads((SCHEMA_DIR / "PackConfirmation.v1.json").read_text(encoding="utf-8"))
    assert schema["additionalProperties"] is False
    assert schema["$defs"]["ScannedUnit"]["additionalProperties"] is False
    unit = {"line_number": 1, "sku": "CAM-1", "serial": "SN-1"}
    pack = {"type": "packed", "shipment_id": str(uuid.uuid4()), "at": "2026-12-02T10:00:00Z"}
    assert validate_partner_message(ThreePLConfirmation, pack | {"units": [unit]})
    with pytest.raises(ValidationError, match=r"units\.0\.seriall\n.*Extra inputs"):
        validate_partner_message(
            ThreePLConfirmation, pack | {"units": [unit | {"seriall": "SN-2"}]}
        )
