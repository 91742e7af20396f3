"""The architecture and the code style are written down where a machine checks them."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

from oms.app import MODULES
from oms.db import SCHEMAS

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def test_modules_stay_independent_and_the_bff_uses_only_public_apis() -> None:
    result = run(str(BIN / "lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 kept, 0 broken" in result.stdout


def test_code_is_ruff_clean() -> None:
    result = run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_module_has_the_same_shape() -> None:
    expected = {"__init__.py", "models.py", "schemas.py", "service.py", "handlers.py", "routes.py"}
    for module in MODULES:
        files = {path.name for path in Path(module.__file__).parent.glob("*.py")}
        assert expected <= files, f"{module.__name__} lacks {sorted(expected - files)}"


def test_every_module_of_the_registry_has_its_schema_and_its_contracts() -> None:
    """oms.app.MODULES is the list of modules; what cannot import it is checked against it."""
    names = [module.__name__ for module in MODULES]
    assert list(SCHEMAS) == [module.metadata.schema for module in MODULES]
    assert names == [f"oms.{module.MESSAGES.module}" for module in MODULES]
    contracts = configparser.ConfigParser()
    contracts.read(ROOT / "setup.cfg")
    independent = contracts["importlinter:contract:modules-independent"]["modules"].split()
    layers = contracts["importlinter:contract:layers"]["layers"]
    private = contracts["importlinter:contract:bff-public-api"]["forbidden_modules"].split()
    assert independent == names
    assert " | ".join(names) in layers
    assert private == [f"{name}.*" for name in names]
