"""Fixtures: a real ``lull serve`` on a temporary home, and a temporary Hermes home whose plugin
manager loads the installed ``lull`` plugin through its entry point.

``LULL_BIN`` names the lull binary (the Rust test that runs these sets it).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

RELAY_CONFIG = """
[maintenance]
lease_ttl_seconds = {lease_ttl}
agent_requests = "approve"
[executor]
restart = ["true"]
[relay]
name = "hermes"
admins = ["telegram:1"]
agents = ["hermes"]
notify_chats = ["telegram:555"]
claim_seconds = 5
"""


def wait_until(what: str, condition, limit: float = 30.0) -> None:
    """Waits (bounded) for ``condition``."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


class Server:
    """A running ``lull serve`` and a way to call it."""

    def __init__(self, home: Path, process: subprocess.Popen):
        self.home = home
        self.process = process
        self.socket = home / "profiles" / "default" / "control.sock"

    def call(self, method: str, path: str, body=None):
        connection = http.client.HTTPConnection("lull", timeout=30)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(30)
        sock.connect(str(self.socket))
        connection.sock = sock
        data = None if body is None else json.dumps(body).encode()
        connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        raw = response.read()
        connection.close()
        return response.status, (json.loads(raw) if raw else None)

    def status(self) -> dict:
        return self.call("GET", "/v1/status")[1]

    def answers(self) -> bool:
        try:
            return self.call("GET", "/v1/status")[0] == 200
        except OSError:
            return False

    def log(self) -> str:
        return (self.home / "serve.log").read_text(errors="replace")[-8000:]


def start_lull(lease_ttl: int = 90) -> Server:
    binary = os.environ.get("LULL_BIN")
    if not binary:
        pytest.fail("LULL_BIN is not set: run these tests through `scripts/test` (cargo test)")
    # Short: a Unix socket path has at most 107 bytes.
    home = Path(tempfile.mkdtemp(prefix="lh", dir="/tmp"))
    profile = home / "profiles" / "default"
    profile.mkdir(parents=True)
    (profile / "lull.toml").write_text(RELAY_CONFIG.format(lease_ttl=lease_ttl))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LULL_")}
    env.update(LULL_HOME=str(home), RUST_LOG="info")
    log = open(home / "serve.log", "ab")
    process = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=log)
    server = Server(home, process)
    deadline = time.monotonic() + 30
    while not server.answers():
        assert process.poll() is None, f"lull serve exited: {server.log()}"
        assert time.monotonic() < deadline, "lull serve was not ready within 30 s"
        time.sleep(0.02)
    return server


def stop_process(process: subprocess.Popen) -> None:
    """Stops a process as a service manager would: SIGTERM, then SIGKILL after 30 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stop_lull(server: Server) -> None:
    stop_process(server.process)
    shutil.rmtree(server.home, ignore_errors=True)


@pytest.fixture
def lull():
    server = start_lull()
    yield server
    stop_lull(server)


@pytest.fixture
def hermes_home(tmp_path, monkeypatch):
    """A Hermes home with the lull plugin enabled, and the plugin pointed at ``lull``'s socket
    by the test (``LULL_SOCKET``)."""
    home = tmp_path / "hermes"
    home.mkdir()
    (home / "config.yaml").write_text("plugins:\n  enabled: [lull]\n")
    monkeypatch.setenv("HERMES_HOME", str(home))
    monkeypatch.setenv("LULL_HEARTBEAT_SECONDS", "0.2")
    return home


@pytest.fixture
def plugin(hermes_home, lull, monkeypatch):
    """The plugin as Hermes's plugin manager loads it, talking to ``lull``."""
    monkeypatch.setenv("LULL_SOCKET", str(lull.socket))
    from hermes_cli import plugins

    plugins._plugin_manager = None
    plugins.discover_plugins(force=True)
    loaded = plugins.get_plugin_manager()
    from lull_hermes import plugin as lull_plugin

    instance = lull_plugin.current()
    assert instance is not None, f"the lull plugin was not loaded: {loaded!r}"
    yield instance
    instance.stop()
    plugins._plugin_manager = None
