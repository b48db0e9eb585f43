"""The whole cycle as a Hermes user lives it, in real processes: a real ``hermes gateway run``
with the lull plugin, against a fake Telegram Bot API and a mock model on 127.0.0.1; this build's
``lull serve`` with ``[relay]`` and the executors ``lull-hermes restart`` / ``lull-hermes
health``; a stand-in ``systemctl --user`` (``bin/systemctl``) as the gateway's service manager.

An admin's slow turn is a live run found through Hermes's real ``run_conversation``;
``/maintenance restart`` typed in that busy chat is answered without interrupting the turn; the
request waits on the live run; once the turn ends and the gateway was idle for the window, the
restart runs through ``lull-hermes``, a new gateway process comes up with the plugin, and "back
online" reaches the admin's chat once, through the restarted gateway. On the way:
``/maintenance@bot restart`` in a group, and the agent's ``gateway_maintenance`` call.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import Server, stop_process, wait_until

from fake_telegram import BOT, FakeTelegram
from mock_model import MockModel

HERE = Path(__file__).resolve().parent
PLUGIN_SRC = HERE.parents[1] / "src"
VENV_BIN = Path(sys.executable).parent
TOKEN = "7000001:AAE-end-to-end-test-token-not-real"
ADMIN = {"id": 111, "is_bot": False, "first_name": "Ada", "username": "ada"}
DM = {"id": 111, "type": "private", "first_name": "Ada", "username": "ada"}
GROUP = {"id": -100200, "type": "supergroup", "title": "ops"}
UNIT = "hermes-gateway"
#: Every wait is bounded; a slow machine gets this long for each step.
STEP = 90.0

LULL_CONFIG = """
[maintenance]
idle_seconds = 3
min_agent_idle_seconds = 1
lease_ttl_seconds = 15
source_ttl_seconds = 60
cooldown_seconds = 0
[executor]
restart = ["lull-hermes", "restart", "--drain-timeout", "60"]
health_command = ["lull-hermes", "health", "--timeout", "90"]
timeout_seconds = 150
pass_env = ["PYTHONPATH"]
[relay]
name = "hermes"
admins = ["telegram:111"]
agents = ["hermes"]
claim_seconds = 5
"""

HERMES_CONFIG = """
plugins:
  enabled: [lull]
model:
  provider: custom
  base_url: {model}
  default: mock
  api_key: test-key
  context_length: 128000
security:
  tirith_enabled: false
  allow_lazy_installs: false
platforms:
  telegram:
    enabled: true
    token: "{token}"
    extra:
      base_url: {bot}
      base_file_url: {file}
      # Never contacted (HERMES_TELEGRAM_DISABLE_FALLBACK_IPS): given so that Hermes does not
      # look them up over DNS-over-HTTPS, which would leave the machine. A private address is
      # ignored by Hermes, so this is one of Telegram's own.
      fallback_ips: [149.154.167.220]
telegram:
  allow_from: [111]
  require_mention: false
"""


class World:
    """The temporary machine: a home, lull, the gateway's service, the fakes."""

    def __init__(self) -> None:
        # Short: lull's socket path has at most 107 bytes.
        self.home = Path(tempfile.mkdtemp(prefix="lhe", dir="/tmp"))
        self.hermes_home = self.home / ".hermes"
        self.telegram = FakeTelegram(TOKEN).start()
        self.model = MockModel().start()
        self.path = f"{HERE / 'bin'}:{VENV_BIN}:/usr/local/bin:/usr/bin:/bin"
        self.lull: Server | None = None

    def env(self) -> dict[str, str]:
        return {"HOME": str(self.home), "PATH": self.path, "LANG": "C.UTF-8", "PYTHONPATH": str(PLUGIN_SRC)}

    def write_files(self) -> None:
        profile = self.home / ".lull" / "profiles" / "default"
        profile.mkdir(parents=True)
        (profile / "lull.toml").write_text(LULL_CONFIG)
        self.hermes_home.mkdir()
        (self.hermes_home / "config.yaml").write_text(
            HERMES_CONFIG.format(
                model=self.model.base_url,
                token=TOKEN,
                bot=self.telegram.base_url,
                file=f"http://127.0.0.1:{self.telegram.port}/file/bot",
            )
        )
        environment = {
            "PYTHONPATH": str(PLUGIN_SRC),
            "PATH": f"{VENV_BIN}:/usr/bin:/bin",
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_ALLOWED_USERS": "111",
            "HERMES_TELEGRAM_DISABLE_FALLBACK_IPS": "1",
            "TIRITH_ENABLED": "false",
            "HERMES_DISABLE_LAZY_INSTALLS": "1",
            "LULL_HEARTBEAT_SECONDS": "1",
            "PYTHONUNBUFFERED": "1",
        }
        units = self.home / ".config" / "systemd" / "user"
        units.mkdir(parents=True)
        (units / f"{UNIT}.service").write_text(
            "[Unit]\nDescription=Hermes gateway (end-to-end test)\n\n[Service]\n"
            f"ExecStart={VENV_BIN / 'hermes'} gateway run -v\n"
            f"WorkingDirectory={self.home}\n"
            + "".join(f'Environment="{k}={v}"\n' for k, v in environment.items())
            + "Restart=on-failure\n\n[Install]\nWantedBy=default.target\n"
        )

    def start_lull(self) -> Server:
        binary = os.environ.get("LULL_BIN")
        if not binary:
            pytest.fail("LULL_BIN is not set: run these tests through `scripts/test` (cargo test)")
        log = open(self.home / "lull.log", "ab")
        env = {**self.env(), "RUST_LOG": "info"}
        process = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=log)
        server = Server(self.home / ".lull", process)
        wait_until("lull serve to answer", lambda: process.poll() is None and server.answers(), STEP)
        self.lull = server
        return server

    def systemctl(self, *args: str) -> None:
        done = subprocess.run(["systemctl", "--user", *args], env=self.env(), capture_output=True, text=True, timeout=STEP)
        assert done.returncode == 0, done.stderr

    def gateway_pid(self) -> int | None:
        try:
            raw = (self.hermes_home / "gateway.pid").read_text().strip()
            return int(json.loads(raw)["pid"]) if raw.startswith("{") else int(raw)
        except (OSError, ValueError, KeyError):
            return None

    def gateway_log(self) -> str:
        try:
            return (self.home / ".local" / "state" / "fake-systemd" / f"{UNIT}.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        try:
            self.systemctl("stop", UNIT)
        except Exception:  # noqa: BLE001 - best effort; the pid below is killed anyway
            pass
        if self.lull is not None:
            stop_process(self.lull.process)
        self.telegram.stop()
        self.model.stop()
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture
def world():
    world = World()
    world.write_files()
    try:
        yield world
    finally:
        if os.environ.get("LULL_E2E_KEEP"):
            # For a look afterwards: the gateway and lull go on running; stop them by hand.
            print(f"kept {world.home}")
        else:
            world.stop()


def explain(world: World) -> str:
    """What to read when a step fails."""
    status = json.dumps(world.lull.status(), indent=1) if world.lull and world.lull.answers() else "lull down"
    return (
        f"\n--- lull status ---\n{status}\n--- sent ---\n{world.telegram.sent}\n"
        f"--- gateway log (end) ---\n{world.gateway_log()[-6000:]}\n"
        f"--- lull log (end) ---\n{(world.home / 'lull.log').read_text(errors='replace')[-4000:]}"
    )


def step(world: World, what: str, condition, limit: float = STEP) -> float:
    """Waits (bounded) for ``condition``; returns when it held (monotonic seconds)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out waiting for {what}{explain(world)}")
        time.sleep(0.05)
    return time.monotonic()


def request_of(world: World) -> dict:
    status = world.lull.status()
    requests = status["open"] + ([status["running"]] if status.get("running") else [])
    return requests[0] if requests else {}


def test_a_restart_queued_in_a_busy_chat_waits_for_the_turn_then_restarts_the_gateway(world):
    lull = world.start_lull()
    world.systemctl("start", UNIT)
    first_pid = step(world, "the gateway's pid file", lambda: world.gateway_pid() is not None) and world.gateway_pid()
    step(world, "the plugin to announce the gateway", lambda: any(s["name"] == "hermes" for s in lull.status()["sources"]))
    assert world.telegram.called("getMe") >= 1 and world.telegram.called("getUpdates") >= 1
    assert "DNS-over-HTTPS" not in world.gateway_log(), "the gateway must not look anything up outside"

    # An admin's message starts a slow turn: a live run for the admin's chat.
    world.telegram.post_message("SLOW: please run the long job", ADMIN, DM)
    step(world, "the model to be asked", world.model.holding.is_set)
    live = lambda: [r["session"] for r in lull.status()["live_runs"]]  # noqa: E731
    step(world, "the turn's live run", lambda: "telegram:111" in live())
    # Found through Hermes's real run_conversation frame, not the thread fallback.
    assert "no run_conversation frame" not in world.gateway_log(), explain(world)
    # The plugin checked this Hermes and says, in the gateway's log, that the guard lets it by.
    assert "/maintenance passes Hermes's busy-chat guard" in world.gateway_log(), explain(world)

    # `/maintenance restart` typed in that busy chat: answered with the short id, the turn goes on.
    world.telegram.post_message("/maintenance restart installed jq", ADMIN, DM)
    step(world, "the answer in the busy chat", lambda: any("Queued restart" in t for t in world.telegram.texts(111)))
    request = request_of(world)
    short_id = request["short_id"]
    assert any(f"Queued restart {short_id}" in t or f"Queued restart `{short_id}`" in t for t in world.telegram.texts(111))
    assert request["state"] == "queued" and request["reason"] == "installed jq", request
    assert len([t for t in world.telegram.texts(111) if "Queued restart" in t]) == 1, world.telegram.texts(111)
    # The turn was not interrupted: Hermes says so when it interrupts, and would hand the
    # command to the model as the chat's next prompt.
    assert not any("Interrupting" in t for t in world.telegram.texts(111)), world.telegram.texts(111)
    assert not any("/maintenance" in p for p in world.model.prompts), world.model.prompts
    assert "telegram:111" in live()
    blockers = {b["kind"]: b for b in lull.status()["blockers"]}
    assert "telegram:111" in blockers["live_runs"]["sessions"], blockers
    assert "hermes:background" not in live(), "Hermes's permanent watchers are no background work"

    # The same command as `/maintenance@bot restart` in a group.
    world.telegram.post_message(f"/maintenance@{BOT['username']} restart jq for the group", ADMIN, GROUP)
    step(world, "the answer in the group", lambda: any(short_id in t for t in world.telegram.texts(GROUP["id"])))
    assert not any("Unknown command" in t for t in world.telegram.texts(GROUP["id"])), world.telegram.texts(GROUP["id"])
    assert any("Joined restart" in t for t in world.telegram.texts(GROUP["id"])), world.telegram.texts(GROUP["id"])
    # One requester asking twice (lull keeps the chat of the first ask).
    admin = [r for r in request_of(world)["requested_by"] if r["user_id"] == "telegram:111"]
    assert len(admin) == 1 and admin[0]["count"] == 2, request_of(world)["requested_by"]
    chats = lambda: {(r["user_id"], r["chat"]) for r in request_of(world)["requested_by"]}  # noqa: E731

    # The agent's tool call, answered by the mock model with gateway_maintenance, in the group.
    world.telegram.post_message("TOOL: you installed jq, ask for a restart", ADMIN, GROUP)
    step(world, "the agent's ask", lambda: ("hermes", "telegram:-100200") in chats())
    step(world, "the tool's result back at the model", lambda: bool(world.model.tool_results))
    assert json.loads(world.model.tool_results[-1])["ok"] is True, world.model.tool_results
    agent = next(r for r in request_of(world)["requested_by"] if r["user_id"] == "hermes")
    assert agent["role"] == "agent", agent

    # Still waiting on the admin's live turn.
    step(world, "the group's turn to end", lambda: live() == ["telegram:111"])
    assert request_of(world)["state"] == "queued"

    # The turn ends: after the idle window, the restart runs through lull-hermes. (lull's boot
    # grace is over first, so that the figures below are the cycle's own.)
    kinds = lambda: {b["kind"] for b in lull.status()["blockers"]}  # noqa: E731
    step(world, "lull's boot grace to end", lambda: "boot_grace" not in kinds())
    world.model.release.set()
    turn_end = step(world, "the turn's end", lambda: "telegram:111" not in live())
    step(world, "the turn's answer", lambda: any("Finished the slow job" in t for t in world.telegram.texts(111)))
    restart_start = step(world, "the restart to start", lambda: request_of(world).get("state") in ("running", None))
    step(world, "a new gateway process", lambda: world.gateway_pid() not in (None, first_pid))
    back = lambda: [t for t in world.telegram.texts(111) if t.startswith("Back online")]  # noqa: E731
    back_online = step(world, "back online in the admin's chat", lambda: bool(back()), 180)
    assert not any("/maintenance" in p for p in world.model.prompts), world.model.prompts
    finished = lull.status()["last_finished"]
    assert finished and finished["short_id"] == short_id and finished["state"] == "succeeded", finished
    assert short_id in back()[0], back()
    # The restarted gateway runs the plugin: its source announced since it started.
    new_pid = world.gateway_pid()
    assert new_pid != first_pid
    # Once: wait until every notice of the request was taken, then count.
    step(world, "the notices to be acknowledged", lambda: lull.call("GET", "/v1/relay/notices?consumer=probe&wait_seconds=0")[1]["notices"] == [])
    assert len(back()) == 1, world.telegram.texts(111)
    print(
        f"\ncycle: turn end → restart start {restart_start - turn_end:.1f} s "
        f"(idle window 3 s); restart start → back online {back_online - restart_start:.1f} s; "
        f"gateway pid {first_pid} → {new_pid}"
    )
