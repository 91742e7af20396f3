"""Print the OWASP probe figures after a run that included the security module."""

from __future__ import annotations

import sys

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    module = sys.modules.get("tests.security.test_owasp_api_top10")
    if module is None or not sum(module.TRIED.values()):
        return
    terminalreporter.write_line("")
    for line in module.figures():
        terminalreporter.write_line(line)
