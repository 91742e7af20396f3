"""The container's recipe: reproducible (locked, hashed, pinned base) and run the right way."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_the_lock_file_pins_every_runtime_dependency_with_hashes() -> None:
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    wanted = {
        name.lower().replace("_", "-"): version
        for name, version in (
            line.strip().split("==")
            for line in setup["options"]["install_requires"].strip().splitlines()
        )
    }
    lock = (ROOT / "requirements.lock").read_text()
    pinned = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", lock, re.MULTILINE))
    pinned = {name.lower().replace("_", "-"): version for name, version in pinned.items()}
    assert {name: pinned.get(name) for name in wanted} == wanted
    for block in re.split(r"\n(?=[A-Za-z])", lock.strip()):
        if "==" in block.splitlines()[0]:
            assert "--hash=sha256:" in block, block.splitlines()[0]


def test_the_image_installs_locked_hashed_packages_non_editable_on_a_pinned_base() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"ARG BASE_IMAGE=\S+@sha256:[0-9a-f]{64}", dockerfile)
    assert dockerfile.count("FROM ${BASE_IMAGE}") == 2  # build stage and runtime stage
    assert "--require-hashes" in dockerfile and "requirements.lock" in dockerfile
    assert " -e " not in dockerfile and "--editable" not in dockerfile
    healthcheck = next(line for line in dockerfile.splitlines() if line.startswith("HEALTHCHECK"))
    assert "/healthz" in healthcheck and "OMS_PORT_WEB" in healthcheck


def test_compose_migrates_once_and_publishes_only_the_bffs_and_a_loopback_ops_port() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert services["migrate"]["command"] == ["oms", "db", "upgrade"]
    assert services["oms"]["command"] == ["oms", "serve", "--web-only"]
    assert services["worker"]["command"] == ["oms", "worker"]
    for name in ("oms", "worker"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
        assert services[name]["restart"] == "unless-stopped"
    published = [port for service in services.values() for port in service.get("ports", [])]
    assert sorted(published) == ["127.0.0.1:3020:3020", "3010:3010", "3011:3011"]
    assert "deploy" not in services["worker"]  # scalable: docker compose up --scale worker=N
