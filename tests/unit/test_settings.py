"""Settings: every field from its OMS_ variable, and a bad value named in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from oms.config import ConfigurationError, Settings

SECRET = {"OMS_JWT_SECRET": "s" * 40}


def test_each_setting_is_read_from_its_variable() -> None:
    settings = Settings.from_env(
        {
            **SECRET,
            "OMS_SAGA_DEADLINE_SECONDS": "20",
            "OMS_DELIVERY_LIMIT": "7",
            "OMS_CURRENCY": "eur",
            "OMS_PORT_WEB": "4010",
            "OMS_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        }
    )

    assert settings.saga_deadline_seconds == 20.0
    assert settings.delivery_limit == 7
    assert settings.currency == "EUR"
    assert settings.ports["web"] == 4010
    assert settings.ports["mobile"] == 3011
    assert settings.webhook_allow_private_targets is True
    assert Settings.from_env(SECRET).retry_budget_seconds == Settings().retry_budget_seconds


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("OMS_JWT_TTL_SECONDS", "abc", "OMS_JWT_TTL_SECONDS must be a number, not 'abc'"),
        ("OMS_RETRY_BUDGET_SECONDS", "-5", "OMS_RETRY_BUDGET_SECONDS must be greater than 0"),
        ("OMS_PORT_OPS", "zero", "OMS_PORT_OPS must be a number"),
        ("OMS_WEBHOOK_ALLOW_PRIVATE_TARGETS", "maybe", "must be true or false"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(variable: str, value: str, says: str) -> None:
    with pytest.raises(ConfigurationError, match=says):
        Settings.from_env({**SECRET, variable: value})


def test_the_oms_command_says_so_in_one_line_and_exits_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "oms.cli", "audit"],
        env={"OMS_JWT_TTL_SECONDS": "abc", "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "oms: OMS_JWT_TTL_SECONDS must be a number, not 'abc'"
