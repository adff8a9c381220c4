"""docker-compose.yml: the services of distributed mode, their order of start and commands.

No Docker engine is needed: the file is read with PyYAML, each `elu-twins ...` command
is run with `--help` from the installed package, and `docker-compose config -q`
validates the whole file when that binary is installed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.conftest import service_missing

ROOT = Path(__file__).parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKER_ENV = ROOT / ".docker.env"
ELU_TWINS = Path(sys.executable).parent / "elu-twins"

HEALTHY = "service_healthy"
COMPLETED = "service_completed_successfully"
NEEDS_DATABASE = {"postgres": HEALTHY, "redis": HEALTHY, "migrate": COMPLETED}
DEPENDENCIES = {
    "postgres": {},
    "redis": {},
    "migrate": {"postgres": HEALTHY},
    "public-api": NEEDS_DATABASE,
    "private-api": NEEDS_DATABASE,
    "worker": NEEDS_DATABASE,
    "flower": {"redis": HEALTHY},
    "csms-v16": {},
    "csms-v201": {},
}
APP_SERVICES = sorted(set(DEPENDENCIES) - {"postgres", "redis"})
# the container port of each app service with an HTTP port, and the setting that chooses it
HTTP_PORTS = {
    "public-api": "ELU_PUBLIC_API_PORT",
    "private-api": "ELU_PRIVATE_API_PORT",
    "csms-v16": "ELU_CSMS_V16_PORT",
    "csms-v201": "ELU_CSMS_V201_PORT",
    "flower": None,  # Flower's own default, 5555
}


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _services() -> dict[str, dict[str, Any]]:
    return _compose()["services"]


def _docker_env() -> dict[str, str]:
    lines = DOCKER_ENV.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def _elu_twins_commands() -> dict[str, list[str]]:
    commands = {}
    for name, service in _services().items():
        command = service.get("command")
        if isinstance(command, str):
            command = command.split()
        if command and command[0] == "elu-twins":
            commands[name] = command[1:]
    return commands


def test_services_and_their_dependencies() -> None:
    services = _services()
    assert set(services) == set(DEPENDENCIES)
    for name, expected in DEPENDENCIES.items():
        depends_on = services[name].get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        conditions = {other: spec["condition"] for other, spec in depends_on.items()}
        assert conditions == expected, name


def test_app_services_share_the_image_and_settings() -> None:
    services = _services()
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    for name in APP_SERVICES:
        assert services[name]["build"] == ".", name
        assert services[name]["env_file"] == ".docker.env", name
    assert set(_elu_twins_commands()) == set(APP_SERVICES)
    assert services["migrate"]["command"] == ["elu-twins", "migrate"]
    assert services["migrate"]["restart"] == "no"  # one-shot: the others wait for it to end
    for name in ("csms-v16", "csms-v201"):
        assert services[name]["command"] == ["elu-twins", name, "--host", "0.0.0.0"]


def test_workers_scale() -> None:
    worker = _services()["worker"]
    assert worker["deploy"]["replicas"] == 2
    assert "container_name" not in worker
    assert "ports" not in worker  # replicas would fight over a host port


def test_health_checks_match_the_ports() -> None:
    services = _services()
    env = _docker_env()
    assert "pg_isready" in str(services["postgres"]["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    for name, setting in HTTP_PORTS.items():
        port = env[setting] if setting else "5555"
        service = services[name]
        assert [p for p in service["ports"] if str(p).endswith(f":{port}")], name
        test = service["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"], name  # no curl in python:3.11-slim
        assert f"http://127.0.0.1:{port}/" in test[3], name


def test_settings_point_at_the_compose_services() -> None:
    services = _services()
    env = _docker_env()
    database = urlsplit(env["ELU_DATABASE_URL"])
    assert database.hostname == "postgres"
    assert database.username == env["POSTGRES_USER"]
    assert database.password == env["POSTGRES_PASSWORD"]
    assert database.path == f"/{env['POSTGRES_DB']}"
    assert urlsplit(env["ELU_REDIS_URL"]).hostname == "redis"
    assert {"postgres", "redis"} <= set(services)
    assert env["ELU_HOST"] == "0.0.0.0"  # reachable from the other containers
    assert "ELU_WORKER_NAME" not in env  # one per worker process


@pytest.mark.parametrize("service", sorted(_elu_twins_commands()))
def test_command_exists(service: str) -> None:
    """`elu-twins <command> ... --help` of the installed package exits 0."""
    arguments = _elu_twins_commands()[service]
    assert ELU_TWINS.exists(), f"{ELU_TWINS} missing: pip install -e '.[dev]'"
    result = subprocess.run(
        [str(ELU_TWINS), *arguments, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_accepts_the_file() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        service_missing("docker-compose is not installed: apt-get install docker-compose")
    result = subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
