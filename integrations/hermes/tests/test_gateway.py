"""``/maintenance``, the tool and the notices through a real Hermes ``GatewayRunner`` with a fake
platform adapter: the gateway's own message handling, its own session variables, its own
adapter sending."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from conftest import wait_until


@pytest.fixture
def gateway(plugin, monkeypatch, tmp_path):
    """A Hermes gateway runner for Telegram whose adapter records what it sends, its event loop
    running in a thread (as the gateway's does), with the plugin loaded."""
    yield from make_gateway(monkeypatch, tmp_path)


@pytest.fixture
def bare_gateway(hermes_home, monkeypatch, tmp_path):
    """The same gateway without the plugin's own threads (a test drives its parts)."""
    yield from make_gateway(monkeypatch, tmp_path)


def make_gateway(monkeypatch, tmp_path):
    monkeypatch.setenv("GATEWAY_ALLOW_ALL_USERS", "true")
    from gateway.config import GatewayConfig, Platform, PlatformConfig
    from gateway.platforms.base import BasePlatformAdapter, SendResult
    from gateway.run import GatewayRunner

    class FakeTelegram(BasePlatformAdapter):
        def __init__(self):
            super().__init__(PlatformConfig(enabled=True), Platform.TELEGRAM)
            self.sent: list[tuple[str, str]] = []

        async def connect(self, *, is_reconnect: bool = False) -> bool:
            return True

        async def disconnect(self) -> None:
            return None

        async def send(self, chat_id, content, reply_to=None, metadata=None) -> SendResult:
            self.sent.append((str(chat_id), content))
            return SendResult(success=True, message_id=str(len(self.sent)))

        async def get_chat_info(self, chat_id) -> dict:
            return {"name": str(chat_id), "type": "group"}

    config = GatewayConfig(
        platforms={Platform.TELEGRAM: PlatformConfig(enabled=True)},
        sessions_dir=tmp_path / "sessions",
    )
    runner = GatewayRunner(config=config)
    adapter = FakeTelegram()
    runner.adapters[Platform.TELEGRAM] = adapter
    adapter.set_message_handler(runner._handle_message)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner._gateway_loop = loop
    runner._running = True  # as once `start()` connected the adapters
    yield runner, adapter, loop
    runner._running = False  # no supervised task is started again

    async def cancel_all():
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def message(text: str, user: str, chat: str = "-100", message_id: str = "1"):
    from gateway.config import Platform
    from gateway.platforms.base import MessageEvent, MessageType
    from gateway.session import SessionSource

    return MessageEvent(
        text=text,
        message_type=MessageType.COMMAND if text.startswith("/") else MessageType.TEXT,
        source=SessionSource(
            platform=Platform.TELEGRAM,
            chat_id=chat,
            chat_type="group",
            user_id=user,
            user_name=f"user{user}",
        ),
        message_id=message_id,
    )


def handle(gateway, event) -> str | None:
    runner, _, loop = gateway
    return asyncio.run_coroutine_threadsafe(runner._handle_message(event), loop).result(30)


def test_maintenance_from_an_admin_queues_and_a_stranger_is_refused(gateway, lull):
    reply = handle(gateway, message("/maintenance restart new tool", user="1", message_id="10"))
    assert reply and "Queued restart" in reply, reply
    request = lull.status()["open"][0]
    requester = request["requested_by"][0]
    assert (requester["platform"], requester["user_id"], requester["chat"]) == (
        "relay:hermes",
        "telegram:1",
        "telegram:-100",
    )
    # The same message delivered again is the same command: answered alike, applied once.
    again = handle(gateway, message("/maintenance restart new tool", user="1", message_id="10"))
    assert again == reply
    assert lull.status()["open"][0]["requested_by"][0]["count"] == 1
    refused = handle(gateway, message("/maintenance restart", user="99", message_id="11"))
    assert refused and "not allowed" in refused, refused
    assert len(lull.status()["open"][0]["requested_by"]) == 1


def test_the_tool_is_answered_in_the_agents_chat(gateway, plugin, lull):
    from gateway.session_context import clear_session_vars, set_session_vars

    tokens = set_session_vars(platform="telegram", chat_id="-7", user_id="1")
    try:
        answer = json.loads(plugin.tool({"action": "queue_restart", "reason": "installed jq"}))
    finally:
        clear_session_vars(tokens)
    assert answer["ok"] is True, answer
    requester = answer["request"]["requested_by"][0]
    assert (requester["platform"], requester["user_id"], requester["chat"]) == (
        "relay:hermes",
        "hermes",
        "telegram:-7",
    )


def test_a_notice_is_delivered_through_the_gateway_once(gateway, plugin, lull, hermes_home):
    from lull_hermes.relay import Notices

    _, adapter, _ = gateway
    handle(gateway, message("/maintenance restart", user="1", message_id="20"))
    # The queued notice goes to the notify chat, through the gateway's own adapter.
    wait_until("the notice", lambda: any(chat == "555" for chat, _ in adapter.sent))
    sent = [text for chat, text in adapter.sent if chat == "555"]
    assert len(sent) == 1 and "queued restart" in sent[0], adapter.sent
    # A restarted gateway (another consumer, the same home) does not send it again.
    again = Notices(plugin.lull, threading.Event())
    assert again.poll_once(0) == 0
    assert [chat for chat, _ in adapter.sent].count("555") == 1


def test_a_notice_sent_before_a_restart_but_not_acknowledged_is_not_sent_again(bare_gateway, lull):
    """The gateway died between sending a notice and acknowledging it: lull gives it out again,
    and the restarted gateway acknowledges it without sending it twice."""
    from lull_hermes.client import Lull
    from lull_hermes.relay import Notices, sent_key

    _, adapter, _ = bare_gateway
    client = Lull(lull.socket)
    status, _ = lull.call(
        "POST",
        "/v1/relay/commands",
        {"event_id": "e60", "user": "telegram:1", "chat": "telegram:-100", "text": "/maintenance restart"},
    )
    assert status == 200
    before = Notices(client, threading.Event())
    before.consumer += "-old"
    answer = client.call("GET", f"/v1/relay/notices?consumer={before.consumer}&wait_seconds=5", timeout=15)
    notice = answer.body["notices"][0]
    before._remember(sent_key(notice))  # sent; then the process died before acknowledging it
    restarted = Notices(client, threading.Event())
    restarted.consumer += "-new"
    # Once the old claim lapses the notice comes to the new process, which only acknowledges it.
    def acknowledged() -> bool:
        restarted.poll_once(0)
        return (notice["id"], "delivered") in restarted.acknowledged

    wait_until("the notice to be acknowledged", acknowledged)
    assert adapter.sent == [], "not sent again"
    assert pending(lull) == []


def pending(lull) -> list:
    status, body = lull.call("GET", "/v1/relay/notices?consumer=probe&wait_seconds=0")
    return body["notices"]


def test_in_proxy_mode_a_running_gateway_refuses_as_soon_as_it_knows(gateway, plugin, lull, monkeypatch):
    monkeypatch.setenv("GATEWAY_PROXY_URL", "http://127.0.0.1:9/")
    wait_until("the refusal", lambda: plugin.refused is not None)
    assert "proxy mode" in plugin.refused
    # From then on it does nothing: no command, no answer taken from the agent, no tool.
    reply = handle(gateway, message("/maintenance status", user="1", message_id="70"))
    assert "proxy mode" in reply
    answer = message("approve r7k2", user="1", message_id="71")
    answer.reply_to_is_own_message = True
    from hermes_cli import plugins

    assert plugins.invoke_hook("pre_gateway_dispatch", event=answer, gateway=gateway[0]) == []
    assert json.loads(plugin.tool({"action": "status"}))["ok"] is False


def sent_to(adapter, chat: str) -> list[str]:
    return [text for to, text in adapter.sent if to == chat]


def test_an_answer_replying_to_lulls_prompt_counts_and_is_kept_from_the_agent(gateway, plugin, lull):
    from gateway.session_context import clear_session_vars, set_session_vars
    from hermes_cli import plugins

    _, adapter, _ = gateway
    tokens = set_session_vars(platform="telegram", chat_id="-7", user_id="7")
    try:
        asked = json.loads(plugin.tool({"action": "queue_restart", "reason": "jq"}))
    finally:
        clear_session_vars(tokens)
    short_id = asked["request"]["short_id"]
    assert asked["request"]["state"] == "awaiting_approval", asked
    # The prompt reaches the notify chat through the gateway's adapter; its message id is known.
    wait_until("the prompt", lambda: any("approve" in t for t in sent_to(adapter, "555")))
    prompt_id = str(len(adapter.sent))
    # Not a reply to lull: Hermes's, not lull's (the hook leaves it alone).
    plain = message(f"approve {short_id}", user="1", chat="555", message_id="30")
    assert plugins.invoke_hook("pre_gateway_dispatch", event=plain, gateway=gateway[0]) == []
    # A reply to the prompt: taken off Hermes's path and relayed as an answer.
    answer = message(f"approve {short_id}", user="1", chat="555", message_id="31")
    answer.reply_to_message_id = prompt_id
    assert handle(gateway, answer) is None, "the agent never sees it"
    wait_until("the approval", lambda: lull.status()["open"][0]["state"] == "queued")
    wait_until("the answer", lambda: any(t.startswith("Approved") for t in sent_to(adapter, "555")))
    # The agent's request is answered in the agent's chat.
    wait_until("the agent's chat told", lambda: any("was approved" in t for t in sent_to(adapter, "-7")))


def test_with_intercept_restart_hermes_restart_becomes_a_queued_request(gateway, plugin, lull):
    plugin.intercept_restart = True
    assert handle(gateway, message("/restart", user="1", chat="-100", message_id="40")) is None
    wait_until("the request", lambda: lull.status()["open"] != [])
    request = lull.status()["open"][0]
    assert (request["kind"], request["requested_by"][0]["user_id"]) == ("restart", "telegram:1")


def on_loop(gateway, make):
    """Runs ``make()`` on the gateway's event loop (where Hermes creates its tasks)."""
    _, _, loop = gateway

    async def call():
        return make()

    return asyncio.run_coroutine_threadsafe(call(), loop).result(10)


def ticks(plugin, lull, count: int = 2) -> None:
    """Waits until the plugin's thread has ticked ``count`` more times (each tick announces the
    source)."""
    for _ in range(count):
        before = [s["last_seen"] for s in lull.status()["sources"] if s["name"] == plugin.source]
        wait_until("a tick", lambda: [s["last_seen"] for s in lull.status()["sources"] if s["name"] == plugin.source] != before)


def test_hermes_permanent_watchers_are_no_background_work_but_other_tasks_are(gateway, plugin, lull):
    """The gateway's own supervised watchers and loop heartbeat, started by its real
    ``_spawn_supervised`` as ``start()`` does, live as long as the gateway: they never hold
    maintenance back. A task that is not one of them (a resumed turn, a process watcher) does,
    until it ends."""
    from gateway.shutdown_watchdog import loop_heartbeat_forever

    runner = gateway[0]
    # Named here, not taken from background.PERMANENT_TASKS: the gateway's own methods, started
    # as its start() does, are the evidence, whatever the plugin's list says.
    watchers = [
        "_session_expiry_watcher",
        "_kanban_notifier_watcher",
        "_kanban_dispatcher_watcher",
        "_platform_reconnect_watcher",
        "_handoff_watcher",
        "_async_delegation_watcher",
        "_drain_control_watcher",
    ]

    def start_watchers():
        for name in watchers:
            runner._spawn_supervised(getattr(runner, name), name)
        heartbeat = asyncio.get_running_loop().create_task(loop_heartbeat_forever(interval_s=1.0, start_time=0.0))
        runner._background_tasks.add(heartbeat)
        heartbeat.add_done_callback(runner._background_tasks.discard)

    on_loop(gateway, start_watchers)
    running = lambda: {t.get_coro().__name__ for t in list(runner._background_tasks) if not t.done()}  # noqa: E731
    assert set(watchers) <= running(), running()
    # Hermes's own check says busy forever: the reason lull cannot use it.
    assert runner._scale_to_zero_has_live_background_work()
    sessions = lambda: [r["session"] for r in lull.status()["live_runs"]]  # noqa: E731
    ticks(plugin, lull)
    assert "hermes:background" not in sessions()
    assert set(watchers) <= running(), "the watchers still run: they were judged, not gone"
    work = on_loop(gateway, lambda: runner._spawn_supervised(lambda: asyncio.sleep(3600), "resumed turn", restart=False))
    wait_until("the background lease", lambda: sessions() == ["hermes:background"])
    on_loop(gateway, work.cancel)
    wait_until("its end", lambda: sessions() == [])


def test_hermes_draining_is_reported(gateway, plugin, lull):
    runner = gateway[0]
    runner._draining = True
    wait_until("the drain", lambda: lull.status()["host_draining"])
    runner._draining = False
    wait_until("the drain's end", lambda: not lull.status()["host_draining"])


class LiveAgent:
    """What Hermes keeps for a chat whose turn runs; records an interruption."""

    def __init__(self) -> None:
        self.interrupted: list[str] = []

    def interrupt(self, *args, **kwargs) -> None:
        self.interrupted.append(str(args))


def make_busy(gateway, chat: str, user: str) -> LiveAgent:
    """Puts a chat in the state Hermes's adapter and runner keep while its turn runs: the
    adapter's session guard with its owner task alive, and the runner's running agent."""
    runner, adapter, _ = gateway
    agent = LiveAgent()
    source = message("hello", user=user, chat=chat).source
    key = runner._session_key_for_source(source)

    def install():
        adapter._active_sessions[key] = asyncio.Event()
        adapter._session_tasks[key] = asyncio.get_running_loop().create_task(asyncio.sleep(3600))
        runner._running_agents[key] = agent

    on_loop(gateway, install)
    return agent


def test_maintenance_in_a_chat_whose_turn_is_live_is_answered_without_interrupting_it(gateway, lull):
    """Hermes's busy-chat guard lets only built-in commands through; a plugin command would be
    a new prompt that interrupts the turn. lull's command passes the guard and is answered in
    the chat by the plugin, the turn untouched."""
    from lull_hermes import busy_chat

    runner, adapter, loop = gateway
    assert busy_chat.not_installed is None, busy_chat.not_installed
    # As the runner wires its adapters.
    adapter.set_busy_session_handler(runner._handle_active_session_busy_message)
    agent = make_busy(gateway, chat="-100", user="1")
    event = message("/maintenance restart installed jq", user="1", chat="-100", message_id="80")
    asyncio.run_coroutine_threadsafe(adapter.handle_message(event), loop).result(30)
    wait_until("the answer", lambda: any("Queued restart" in t for t in sent_to(adapter, "-100")))
    assert len([t for t in sent_to(adapter, "-100") if "Queued restart" in t]) == 1, adapter.sent
    assert agent.interrupted == []
    assert not any("Interrupting" in t for t in sent_to(adapter, "-100")), adapter.sent
    assert adapter._pending_messages == {}, "not queued as the turn's next prompt"
    assert lull.status()["open"][0]["requested_by"][0]["chat"] == "telegram:-100"
    # Another plugin's or an unknown command is still Hermes's to judge.
    from hermes_cli.commands import should_bypass_active_session

    assert should_bypass_active_session("maintenance") and should_bypass_active_session("maintenancerestart")
    assert not should_bypass_active_session("maintenancex") and not should_bypass_active_session("nosuchcommand")
    assert should_bypass_active_session("stop")


def test_the_bypass_changes_nothing_in_a_hermes_whose_guard_differs(monkeypatch, caplog):
    from gateway.platforms import base
    from hermes_cli import commands
    from lull_hermes import busy_chat

    monkeypatch.setattr(busy_chat, "not_installed", busy_chat.not_installed)  # restored after
    original = commands.should_bypass_active_session
    monkeypatch.setattr(commands, "should_bypass_active_session", getattr(original, "__wrapped__", original))
    unpatched = commands.should_bypass_active_session

    async def handle_message(self, event):  # a Hermes that no longer asks the function
        return None

    monkeypatch.setattr(base.BasePlatformAdapter, "handle_message", handle_message)
    with caplog.at_level("WARNING", logger="lull_hermes"):
        assert busy_chat.install() is False
    assert commands.should_bypass_active_session is unpatched
    assert "no longer imports should_bypass_active_session" in caplog.text
    assert "left to Hermes unchanged" in caplog.text


def test_maintenance_with_the_bots_mention_in_a_telegram_group_is_lulls_command(gateway, lull):
    """Hermes's Telegram adapter makes `/maintenance@bot restart jq` `/maintenancerestart jq`
    (it removes the mention and the space after it); the platform's message still has what was
    typed."""
    from types import SimpleNamespace

    event = message("/maintenancerestart jq", user="1", chat="-100", message_id="90")
    event.raw_message = SimpleNamespace(text="/maintenance@lull_test_bot restart jq")
    reply = handle(gateway, event)
    assert reply and "Queued restart" in reply, reply
    assert lull.status()["open"][0]["reason"] == "jq"
    # In a busy chat too: through the guard, answered by the plugin.
    runner, adapter, loop = gateway
    adapter.set_busy_session_handler(runner._handle_active_session_busy_message)
    agent = make_busy(gateway, chat="-100", user="1")
    event = message("/maintenancestatus", user="1", chat="-100", message_id="91")
    event.raw_message = SimpleNamespace(text="/maintenance@lull_test_bot status")
    asyncio.run_coroutine_threadsafe(adapter.handle_message(event), loop).result(30)
    is_status = lambda t: "is waiting (asked" in t  # noqa: E731 - only the status reply says so
    wait_until("the status", lambda: any(is_status(t) for t in sent_to(adapter, "-100")))
    assert len([t for t in sent_to(adapter, "-100") if is_status(t)]) == 1, adapter.sent
    assert agent.interrupted == [] and adapter._pending_messages == {}


def test_maintenance_for_another_bot_in_a_telegram_group_is_not_run_here(gateway, lull):
    """Hermes's Telegram adapter removes only its own bot's mention: `/maintenance@other_bot`
    is for another gateway, and Hermes would otherwise run it here too."""
    assert handle(gateway, message("/maintenance@other_bot restart", user="1", chat="-100", message_id="95")) is None
    assert lull.status()["open"] == []


def test_only_authorized_messages_for_the_agent_are_activity(gateway, plugin, lull, monkeypatch):
    from hermes_cli import plugins

    monkeypatch.setenv("GATEWAY_ALLOW_ALL_USERS", "false")
    monkeypatch.setenv("TELEGRAM_ALLOWED_USERS", "1")
    runner = gateway[0]
    before = lull.status()["idle_since"]
    for event in (message("hello", user="99", message_id="50"), message("/help", user="1", message_id="51")):
        plugins.invoke_hook("pre_gateway_dispatch", event=event, gateway=runner)
    handled = threading.Event()
    plugin.jobs.put(handled)  # behind whatever the hook queued
    assert handled.wait(10)
    assert lull.status()["idle_since"] == before
    plugins.invoke_hook("pre_gateway_dispatch", event=message("hello", user="1", message_id="52"), gateway=runner)
    wait_until("the activity", lambda: lull.status()["idle_since"] != before)


def test_in_proxy_mode_the_plugin_refuses_to_load_and_says_why(gateway, monkeypatch):
    from hermes_cli import plugins

    monkeypatch.setenv("GATEWAY_PROXY_URL", "http://127.0.0.1:9/")
    plugins._plugin_manager = None
    plugins.discover_plugins(force=True)
    errors = [
        str(getattr(p, "error", "") or "")
        for p in getattr(plugins.get_plugin_manager(), "_plugins", {}).values()
    ]
    assert any("proxy mode" in e for e in errors), errors
    plugins._plugin_manager = None


def test_a_drain_left_by_a_killed_lull_hermes_restart_is_lifted(gateway, plugin, hermes_home):
    import subprocess

    from gateway.drain_control import read_drain_request, write_drain_request

    gone = subprocess.Popen(["true"])
    gone.wait()
    (hermes_home / "lull_restart.json").write_text(json.dumps({"writer": gone.pid}))
    write_drain_request(principal="lull", home=hermes_home)
    wait_until("the drain to be lifted", lambda: read_drain_request(home=hermes_home) is None)


def test_a_notice_waits_for_a_configured_adapter_and_is_undeliverable_on_a_platform_not_run(gateway):
    from gateway.config import Platform
    from lull_hermes.relay import deliver

    runner, adapter, _ = gateway
    runner.adapters.pop(Platform.TELEGRAM)  # reconnecting: configured, not connected
    try:
        assert deliver({"id": "1", "chat": "telegram:555", "text": "hi"}) is None
    finally:
        runner.adapters[Platform.TELEGRAM] = adapter
    assert deliver({"id": "2", "chat": "discord:9", "text": "hi"}) == "undeliverable"
    assert deliver({"id": "3", "chat": "nosuchplatform:9", "text": "hi"}) == "undeliverable"
    assert adapter.sent == []
