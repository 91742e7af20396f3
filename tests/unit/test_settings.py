"""Settings: every field from its OMS_ variable, and a bad value named in one line."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

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
        ("OMS_WEB_THREADS", "abc", "OMS_WEB_THREADS must be a number, not 'abc'"),
        ("OMS_WEB_CONNECTIONS", "0", "OMS_WEB_CONNECTIONS must be greater than 0"),
        ("OMS_WEB_WORKERS", "-1", "OMS_WEB_WORKERS must be 0 or more, not '-1'"),
        ("OMS_REQUEST_READ_TIMEOUT_SECONDS", "soon", "OMS_REQUEST_READ_TIMEOUT_SECONDS must be"),
        ("OMS_WORKER_METRICS_PORT", "x", "OMS_WORKER_METRICS_PORT must be a number, not 'x'"),
        ("OMS_LOG_FORMAT", "xml", "OMS_LOG_FORMAT must be one of text, json, not 'xml'"),
        ("OMS_LOG_LEVEL", "loud", "OMS_LOG_LEVEL must be one of .*INFO.*, not 'loud'"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(variable: str, value: str, says: str) -> None:
    with pytest.raises(ConfigurationError, match=says):
        Settings.from_env({**SECRET, variable: value})


def test_the_process_settings_are_read_from_their_variables() -> None:
    settings = Settings.from_env(
        {
            **SECRET,
            "OMS_HOST": "0.0.0.0",
            "OMS_WEB_CONNECTIONS": "50",
            "OMS_WEB_WORKERS": "3",
            "OMS_WEB_THREADS": "12",
            "OMS_REQUEST_READ_TIMEOUT_SECONDS": "2.5",
            "OMS_WORKER_METRICS_PORT": "3031",
            "OMS_LOG_FORMAT": "JSON",
            "OMS_LOG_LEVEL": "debug",
        }
    )

    assert (settings.host, settings.web_connections) == ("0.0.0.0", 50)
    assert (settings.web_workers, settings.web_threads) == (3, 12)
    assert settings.request_read_timeout_seconds == 2.5
    assert settings.worker_metrics_port == 3031
    assert (settings.log_format, settings.log_level) == ("json", "DEBUG")


def test_unset_process_settings_take_their_one_default() -> None:
    settings = Settings.from_env(SECRET)

    assert (settings.host, settings.web_connections) == ("127.0.0.1", 1000)
    assert settings.web_workers == 0  # automatic: a process per core
    assert settings.web_threads == 0  # automatic: by the bus
    assert settings.worker_metrics_port == 0  # off
    assert (settings.log_format, settings.log_level) == ("text", "INFO")
    assert Settings.from_env({**SECRET, "OMS_WORKER_METRICS_PORT": "0"}).worker_metrics_port == 0


SOURCE_ROOT = Path(__file__).resolve().parents[2]
# Read before any settings exist, or not OMS's to declare (see the README).
NOT_SETTINGS = {
    "OMS_HOME",  # oms/migrate.py: where migrations/ and config/ are, found before settings
    "OMS_METRICS_DIR_SHARED",  # oms serve tells its worker child the metrics dir is shared
}


def _oms_variable_names(path: Path) -> set[str]:
    """Every `OMS_...` variable name written in `path` as a string (or an f-string's start)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.JoinedStr) and node.values:
            node = node.values[0]
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if text.startswith("OMS_") and text.replace("_", "").isalnum() and text.isupper():
                names.add(text)
    return names


def test_no_module_reads_an_oms_variable_but_the_settings() -> None:
    sources = [*SOURCE_ROOT.glob("oms/**/*.py"), *SOURCE_ROOT.glob("config/*.py")]
    sources.append(SOURCE_ROOT / "wsgi.py")
    found = {
        f"{path.relative_to(SOURCE_ROOT)}: {name}"
        for path in sources
        if path != SOURCE_ROOT / "oms" / "config.py"
        for name in _oms_variable_names(path) - NOT_SETTINGS
    }

    assert len(sources) > 20
    assert not found, "read these through oms.config.Settings"


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        ("OMS_JWT_TTL_SECONDS", "abc", "OMS_JWT_TTL_SECONDS must be a number, not 'abc'"),
        ("OMS_LOG_FORMAT", "xml", "OMS_LOG_FORMAT must be one of text, json, not 'xml'"),
    ],
)
def test_the_oms_command_says_so_in_one_line_and_exits_2(
    variable: str, value: str, line: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "oms.cli", "audit"],
        env={variable: value, "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"oms: {line}"


def test_request_threads_follow_the_bus_unless_set() -> None:
    in_process = Settings.from_env(SECRET)
    broker = Settings.from_env(SECRET | {"OMS_BROKER_URL": "amqp://guest:guest@mq:5672//"})
    chosen = Settings.from_env(
        SECRET | {"OMS_BROKER_URL": "amqp://guest:guest@mq:5672//", "OMS_WEB_THREADS": "3"}
    )

    assert in_process.request_threads == 1  # it runs its saga itself
    assert broker.request_threads == 8  # each waits while workers run its saga
    assert chosen.request_threads == 3
