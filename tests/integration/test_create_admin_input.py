"""`oms create-admin` with bad input: one clear line on stderr, exit code 2, no traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.integration.processes import OMS, PROJECT_ROOT, oms_environment, run_oms


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data: Path = tmp_path_factory.mktemp("create-admin")
    environment = oms_environment(
        OMS_DATABASE_URL=f"sqlite:///{data / 'oms.db'}",
        OMS_JWT_SECRET="create-admin-test-secret-long-enough-hs256",
        OMS_BCRYPT_ROUNDS="4",
    )
    run_oms(environment, "db", "upgrade")
    return environment


@pytest.mark.parametrize(
    ("email", "password", "says"),
    [
        ("not-an-email", "a long admin password", "--email"),
        ("admin@example.com", "x", "--password"),
        ("admin@example.com", "", "--password"),
        ("admin@example.com", "password", "--password"),
        ("admin@example.com", "12345678", "--password"),
        ("admin@example.com", "admin@example.com", "--password"),
        ("admin@example.com", "é" * 40, "--password"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    env: dict[str, str], email: str, password: str, says: str
) -> None:
    done = subprocess.run(
        [str(OMS), "create-admin", "--email", email, "--password", password],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("oms:")]
    assert len(lines) == 1 and says in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_a_good_admin_is_created(env: dict[str, str]) -> None:
    output = run_oms(
        env, "create-admin", "--email", "root@example.com", "--password", "a long admin password"
    )
    assert "root@example.com" in output
