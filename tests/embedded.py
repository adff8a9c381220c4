"""Run `elu-twins up` as a real process on free ports, for tests that use it as a user would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Embedded:
    process: subprocess.Popen[str]
    data_dir: Path
    ports: dict[str, int]

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['PUBLIC_API']}"

    @property
    def private_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['PRIVATE_API']}"

    @property
    def operator_key(self) -> str:
        return (self.data_dir / "operator_key").read_text().strip()

    def env(self) -> dict[str, str]:
        return {f"ELU_{name}_PORT": str(port) for name, port in self.ports.items()} | {
            "ELU_DATA_DIR": str(self.data_dir)
        }


def embedded_env(data_dir: Path, ports: dict[str, int] | None = None) -> dict[str, str]:
    if ports is None:
        ports = {
            name: free_port() for name in ("PUBLIC_API", "PRIVATE_API", "CSMS_V16", "CSMS_V201")
        }
    return {f"ELU_{name}_PORT": str(port) for name, port in ports.items()} | {
        "ELU_DATA_DIR": str(data_dir)
    }


@contextmanager
def run_embedded(
    data_dir: Path,
    timeout: float = 120.0,
    ports: dict[str, int] | None = None,
    settings: dict[str, str] | None = None,
) -> Iterator[Embedded]:
    """Start `python -m elu_twins up` and wait until both APIs answer (on ``ports`` if given,
    with the ``ELU_`` ``settings`` given)."""
    env = embedded_env(data_dir, ports) | (settings or {})
    ports = {key[4:-5]: int(value) for key, value in env.items() if key.endswith("_PORT")}
    data_dir.mkdir(parents=True, exist_ok=True)
    log = (data_dir / "up.log").open("a")
    process = subprocess.Popen(
        [sys.executable, "-m", "elu_twins", "up"],
        env=os.environ | env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    embedded = Embedded(process, data_dir, ports)
    try:
        _wait_until_up(embedded, timeout)
        yield embedded
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait_until_up(embedded: Embedded, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if embedded.process.poll() is not None:
            raise RuntimeError(
                "elu-twins up exited:\n" + (embedded.data_dir / "up.log").read_text()
            )
        try:
            for url in (embedded.public_url, embedded.private_url):
                httpx.get(f"{url}/openapi.json", timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise TimeoutError(
        "elu-twins up did not answer in time:\n" + (embedded.data_dir / "up.log").read_text()
    )


def login(embedded: Embedded, username: str = "me") -> dict[str, str]:
    """Create the user (once) and answer the Authorization header of its token."""
    httpx.post(
        f"{embedded.private_url}/user/",
        headers={"X-Operator-Key": embedded.operator_key},
        json={"username": username, "password": "change-me-please"},
    )
    token = httpx.post(
        f"{embedded.public_url}/token", data={"username": username, "password": "change-me-please"}
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def run_csms(command: str, data_dir: Path) -> Iterator[str]:
    """Run a bundled test CSMS as its own process (`elu-twins csms-v16` or `csms-v201`);
    answers its HTTP base URL (the websocket URL is the same with ws://)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "elu_twins", command, "--port", str(port)],
        env=os.environ | {"ELU_DATA_DIR": str(data_dir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # a loaded machine starts slowly
        while True:
            try:
                httpx.get(f"{url}/api/settings", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)
