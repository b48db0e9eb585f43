"""``lull-hermes restart | update | health``: the executors lull runs for a Hermes profile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

LULL_HERMES = [sys.executable, "-m", "lull_hermes.cli"]


def run(args, env=None, timeout=120):
    return subprocess.run(LULL_HERMES + args, capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture
def home(tmp_path):
    """A Hermes home, and a user home whose systemd units and PATH the test controls."""
    hermes = tmp_path / "hermes"
    hermes.mkdir()
    user = tmp_path / "user"
    user.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = dict(os.environ, HERMES_HOME=str(hermes), HOME=str(user), PATH=f"{bin_dir}:{os.environ['PATH']}")
    return hermes, user, bin_dir, env


def fake_systemd(hermes: Path, user: Path, bin_dir: Path, env: dict) -> Path:
    """A user unit for the profile's gateway, and a `systemctl` that records how it was called
    and whether Hermes's drain marker was there then."""
    name = subprocess.run(
        [sys.executable, "-c", "from hermes_cli.gateway import get_service_name; print(get_service_name())"],
        capture_output=True, text=True, env=env, check=True,
    ).stdout.strip()
    unit = user / ".config/systemd/user" / f"{name}.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/bin/true\n")
    log = hermes.parent / "systemctl.log"
    script = bin_dir / "systemctl"
    script.write_text(
        f"#!/bin/sh\necho \"$* marker=$(test -f {hermes}/.drain_request.json && echo yes || echo no)\" >> {log}\n"
    )
    script.chmod(0o755)
    return log


def test_restart_without_a_service_manager_fails_clearly_and_leaves_no_drain(home):
    hermes, _, _, env = home
    done = run(["restart"], env)
    assert done.returncode == 1, done
    assert "no service manager" in done.stderr and "foreground" in done.stderr, done.stderr
    assert not (hermes / ".drain_request.json").exists()


def test_restart_drains_waits_for_running_agents_then_restarts_through_systemd(home):
    hermes, user, bin_dir, env = home
    log = fake_systemd(hermes, user, bin_dir, env)
    state = hermes / "gateway_state.json"
    gateway = subprocess.Popen(["sleep", "60"])
    try:
        (hermes / "gateway.pid").write_text(json.dumps({"pid": gateway.pid}))
        # A gateway that never says it drains: no restart, and the drain is lifted.
        state.write_text(json.dumps({"gateway_state": "running", "active_agents": 0}))
        done = run(["restart", "--drain-timeout", "1"], env)
        assert done.returncode == 1 and "did not start draining" in done.stderr, done
        # Draining, but agents still running past the drain timeout: no restart either.
        state.write_text(json.dumps({"gateway_state": "draining", "active_agents": 2}))
        done = run(["restart", "--drain-timeout", "1"], env)
        assert done.returncode == 1 and "still running" in done.stderr, done
        assert not log.exists()
        assert not (hermes / ".drain_request.json").exists()
        # Once they are done: restarted through the service manager, drained while it was asked.
        state.write_text(json.dumps({"gateway_state": "draining", "active_agents": 0}))
        done = run(["restart"], env)
        assert done.returncode == 0, done
        called = log.read_text().split()
        assert called[:2] == ["--user", "restart"] and called[-1] == "marker=yes", called
        assert not (hermes / ".drain_request.json").exists()
        assert json.loads((hermes / "lull_restart.json").read_text())["old_pid"] == gateway.pid
    finally:
        gateway.kill()
        gateway.wait()


def wheel(directory: Path, version: str) -> None:
    """A wheel of a `hermes-agent` with nothing in it but its version."""
    name = f"hermes_agent-{version}"
    with zipfile.ZipFile(directory / f"{name}-py3-none-any.whl", "w") as whl:
        whl.writestr(f"{name}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: hermes-agent\nVersion: {version}\n")
        whl.writestr(f"{name}.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        whl.writestr(f"{name}.dist-info/RECORD", "")


def test_update_exits_3_when_nothing_changed_and_0_when_it_did(tmp_path):
    index = tmp_path / "index"
    index.mkdir()
    wheel(index, "0.19.0")
    env_dir = tmp_path / "hermes-env"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    python = str(env_dir / "bin/python")
    local = ["--pip-arg=--no-index", f"--pip-arg=--find-links={index}"]
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-index", f"--find-links={index}", "hermes-agent"], check=True)
    unchanged = run(["update", "--python", python, *local])
    assert unchanged.returncode == 3, unchanged
    assert "0.19.0 is up to date" in unchanged.stdout
    wheel(index, "0.19.1")
    updated = run(["update", "--python", python, *local])
    assert updated.returncode == 0, updated
    assert "0.19.0 → 0.19.1" in updated.stdout
    missing = run(["update", "--python", str(tmp_path / "nowhere/python")])
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_health_waits_for_a_new_gateway_that_announced_itself(home, lull):
    hermes, _, _, env = home
    args = ["health", "--timeout", "1", "--lull-socket", str(lull.socket)]
    down = run(args, env)
    assert down.returncode == 1 and "no gateway process" in down.stderr, down
    gateway = subprocess.Popen(["sleep", "60"])
    try:
        (hermes / "gateway.pid").write_text(json.dumps({"pid": gateway.pid}))
        silent = run(args, env)
        assert silent.returncode == 1 and "has not announced itself" in silent.stderr, silent
        assert lull.call("POST", "/v1/heartbeat", {"source": "hermes"})[0] == 200
        up = run(args, env)
        assert up.returncode == 0, up
        # The process from before a restart does not count as the new one.
        (hermes / "lull_restart.json").write_text(json.dumps({"old_pid": gateway.pid}))
        old = run(args, env)
        assert old.returncode == 1 and "still the old one" in old.stderr, old
    finally:
        gateway.kill()
        gateway.wait()


def test_a_restart_stopped_with_sigterm_mid_drain_lifts_the_drain(home):
    import signal
    import time

    hermes, user, bin_dir, env = home
    fake_systemd(hermes, user, bin_dir, env)
    gateway = subprocess.Popen(["sleep", "60"])
    try:
        (hermes / "gateway.pid").write_text(json.dumps({"pid": gateway.pid}))
        (hermes / "gateway_state.json").write_text(json.dumps({"gateway_state": "running"}))
        restart = subprocess.Popen(LULL_HERMES + ["restart", "--drain-timeout", "60"], env=env, stderr=subprocess.PIPE, text=True)
        marker = hermes / ".drain_request.json"
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert time.monotonic() < deadline, "the drain marker was written"
            time.sleep(0.02)
        restart.send_signal(signal.SIGTERM)
        assert restart.wait(30) == 1
        assert "stopped (SIGTERM)" in restart.stderr.read()
        assert not marker.exists()
    finally:
        gateway.kill()
        gateway.wait()
