"""The architecture's boundaries (`[tool.importlinter]` in pyproject.toml) hold, and they are
not a check that cannot fail: the same contracts refuse a tree that crosses them."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SERVICES = ("pim", "inventory", "order", "returns", "shipping", "warehouse_adapter", "traceability")


def lint_imports(root: Path, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [Path(sys.executable).with_name("lint-imports"), "--config", config, "--no-cache"],
        cwd=root,
        env=os.environ | {"PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write(root: Path, module: str, source: str = "") -> None:
    path = root.joinpath(*module.split(".")) / "__init__.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)


def test_the_project_keeps_its_boundaries() -> None:
    checked = lint_imports(ROOT, ROOT / "pyproject.toml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "0 broken" in checked.stdout


def test_the_contracts_refuse_a_service_importing_another_a_domain_doing_io_and_reflection(
    tmp_path: Path,
) -> None:
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    named = {
        module
        for contract in settings["contracts"]
        for key in ("modules", "source_modules", "forbidden_modules")
        for module in contract.get(key, ())
        if module.split(".")[0] in settings["root_packages"] and "*" not in module
    }
    for module in named | {f"services.{service}.domain" for service in SERVICES}:
        write(tmp_path, module)
    write(tmp_path, "services.order.application", "from services.pim import application\n")
    write(tmp_path, "services.pim.application")
    write(tmp_path, "services.returns.domain.rma", "import asyncpg\n")
    # The one crossing allowed: the producers' declarations of their stored events, listed once.
    write(tmp_path, "services.order.stored_events")
    write(tmp_path, "services.stored_events", "from services.order import stored_events\n")
    # What the replay did before producers declared their stored events: a service's module
    # loaded by name, which no contract on imports would see.
    write(
        tmp_path,
        "services.runtime.replay",
        "import importlib\nimportlib.import_module('services.order.translators')\n",
    )
    config = tmp_path / "pyproject.toml"
    lines = [
        "[tool.importlinter]",
        'root_packages = ["services", "contracts", "infra"]',
        "include_external_packages = true",
    ]
    for contract in settings["contracts"]:
        lines.append("[[tool.importlinter.contracts]]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in contract.items())
    config.write_text("\n".join(lines) + "\n")

    checked = lint_imports(tmp_path, config)

    assert checked.returncode != 0, checked.stdout
    assert "Services know each other only through contracts and the runtime BROKEN" in (
        checked.stdout
    )
    assert "Domain modules do no I/O BROKEN" in checked.stdout
    assert "services.order.application -> services.pim.application" in checked.stdout
    assert "services.returns.domain.rma -> asyncpg" in checked.stdout
    assert "Services load no module by name BROKEN" in checked.stdout
    assert "services.runtime.replay -> importlib" in checked.stdout
    assert "services.stored_events ->" not in checked.stdout


def toml_value(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return '"' + str(value).replace('"', '\\"') + '"'
