"""The architecture and the code style are written down where a machine checks them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def test_modules_stay_independent_and_the_bff_uses_only_public_apis() -> None:
    result = run(str(BIN / "lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_code_is_ruff_clean() -> None:
    result = run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_module_has_the_same_shape() -> None:
    expected = {"__init__.py", "models.py", "schemas.py", "service.py", "handlers.py", "routes.py"}
    for module in ("users", "products", "orders", "payments"):
        files = {path.name for path in (ROOT / "oms" / module).glob("*.py")}
        assert expected <= files, f"oms/{module} lacks {sorted(expected - files)}"
