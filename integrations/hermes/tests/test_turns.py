"""Hermes's turns as lull's runs, through Hermes's own plugin manager and hook calls."""

from __future__ import annotations

import threading
import time

from conftest import start_lull, stop_lull, wait_until
from hermes_cli import plugins


def live_sessions(lull) -> list[str]:
    return [run["session"] for run in lull.status()["live_runs"]]


def in_thread(target):
    """Runs ``target`` in a thread that stays alive until told; returns (thread, finish)."""
    finish = threading.Event()

    def body():
        target()
        finish.wait(30)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, finish


def test_the_plugin_is_loaded_by_hermes_and_registers_its_hooks_command_and_tool(plugin):
    manager = plugins.get_plugin_manager()
    for hook in ("pre_llm_call", "on_session_end", "pre_gateway_dispatch"):
        assert manager._hooks.get(hook), f"{hook} registered"
    assert plugins.get_plugin_command_handler("maintenance") is not None
    from tools.registry import registry

    assert "gateway_maintenance" in registry.get_all_tool_names()


def test_a_turn_holds_a_queued_restart_and_its_end_lets_it_go(plugin, lull):
    status, body = lull.call("POST", "/v1/requests", {"kind": "restart", "reason": "new tool"})
    assert status == 201, body
    thread, finish = in_thread(
        lambda: plugins.invoke_hook("pre_llm_call", turn_id="s1:s1:aaaa", session_id="s1", platform="telegram")
    )
    wait_until("the turn's run", lambda: live_sessions(lull) == ["hermes:s1"])
    blockers = [b["kind"] for b in lull.status()["blockers"]]
    assert "live_runs" in blockers, blockers
    plugins.invoke_hook("on_session_end", turn_id="s1:s1:aaaa", completed=False, interrupted=True)
    wait_until("the run to end", lambda: live_sessions(lull) == [])
    finish.set()
    thread.join(5)


def test_a_live_turn_is_heartbeaten_and_one_whose_end_was_lost_expires():
    lull = start_lull(lease_ttl=1)
    try:
        import os

        os.environ["LULL_SOCKET"] = str(lull.socket)
        from lull_hermes.client import Lull
        from lull_hermes.runs import Runs

        runs = Runs(Lull(lull.socket), "hermes")
        live, finish = in_thread(lambda: runs.begin("t-live", "telegram:1"))
        lost = threading.Thread(target=lambda: runs.begin("t-lost", "telegram:2"))
        lost.start()
        lost.join()  # its thread is gone, and its end never came
        wait_until("both runs", lambda: sorted(live_sessions(lull)) == ["telegram:1", "telegram:2"])
        # Tended for three lease TTLs: the live turn stays, the lost one expires.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            runs.tend()
            time.sleep(0.2)
        assert live_sessions(lull) == ["telegram:1"]
        assert list(runs.leases()) == ["t-live"]
        finish.set()
        live.join(5)
    finally:
        os.environ.pop("LULL_SOCKET", None)
        stop_lull(lull)


def test_a_turn_that_returned_without_its_end_on_a_pool_thread_expires():
    """Hermes runs turns on a thread pool whose threads outlive them, and early returns skip the
    end hook: the turn's frame, not its thread, says whether it lives."""
    from concurrent.futures import ThreadPoolExecutor

    lull = start_lull(lease_ttl=1)
    try:
        from lull_hermes.client import Lull
        from lull_hermes.runs import Runs

        runs = Runs(Lull(lull.socket), "hermes")
        release = threading.Event()

        def run_conversation(turn_id, session, wait):
            runs.begin(turn_id, session)
            if wait:
                release.wait(30)
            # Returns without on_session_end, as Hermes's early returns do.

        with ThreadPoolExecutor(max_workers=2) as pool:
            pool.submit(run_conversation, "t-returned", "telegram:3", False).result()
            live = pool.submit(run_conversation, "t-running", "telegram:4", True)
            wait_until("both runs", lambda: sorted(live_sessions(lull)) == ["telegram:3", "telegram:4"])
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                runs.tend()
                time.sleep(0.2)
            assert live_sessions(lull) == ["telegram:4"], "the returned turn's lease expired"
            release.set()
            live.result(5)
    finally:
        stop_lull(lull)


class _Source:
    platform = type("P", (), {"value": "telegram"})()
    user_id, user_name, chat_id = "1", "alice", "-100"


class _Event:
    source, message_id, internal = _Source(), "9", False

    def __init__(self, text):
        self.text = text


def test_with_lull_down_every_hook_returns_at_once_and_raises_nothing(hermes_home, monkeypatch, tmp_path):
    monkeypatch.setenv("LULL_SOCKET", str(tmp_path / "nobody.sock"))
    plugins._plugin_manager = None
    plugins.discover_plugins(force=True)
    from lull_hermes import plugin as lull_plugin

    try:
        for hook, kwargs in (
            ("pre_llm_call", {"turn_id": "x:x:1", "session_id": "x"}),
            ("on_session_end", {"turn_id": "x:x:1"}),
            ("pre_gateway_dispatch", {"event": _Event("hello")}),
            ("pre_gateway_dispatch", {"event": _Event("/maintenance status")}),
        ):
            started = time.monotonic()
            plugins.invoke_hook(hook, **kwargs)
            assert time.monotonic() - started < 0.25, hook
        started = time.monotonic()
        answer = lull_plugin.current().tool({"action": "status"})
        assert time.monotonic() - started < 0.25
        assert '"unavailable"' in answer
    finally:
        lull_plugin.current().stop()
        plugins._plugin_manager = None


def test_with_lull_hanging_hooks_stay_bounded_and_hermes_loop_is_never_blocked(hermes_home, monkeypatch, tmp_path):
    """A lull that accepts but never answers: the agent's thread waits at most 250 ms per call,
    and Hermes's event loop keeps turning while `/maintenance` waits."""
    import asyncio
    import socket as sockets

    from lull_hermes import relay

    path = tmp_path / "hung.sock"
    hung = sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM)
    hung.bind(str(path))
    hung.listen(64)
    monkeypatch.setenv("LULL_SOCKET", str(path))
    monkeypatch.setattr(relay, "COMMAND_TIMEOUT", 1.0)
    plugins._plugin_manager = None
    plugins.discover_plugins(force=True)
    from lull_hermes import plugin as lull_plugin

    try:
        started = time.monotonic()
        plugins.invoke_hook("pre_llm_call", turn_id="h:h:1", session_id="h")
        plugins.invoke_hook("on_session_end", turn_id="h:h:1")
        # Two bounded calls (begin, then its end was not needed: no lease was granted).
        assert time.monotonic() - started < 0.6

        async def scenario():
            gaps = []

            async def ticker():
                last = time.monotonic()
                while True:
                    await asyncio.sleep(0.01)
                    now = time.monotonic()
                    gaps.append(now - last)
                    last = now

            ticking = asyncio.create_task(ticker())
            await asyncio.sleep(0.05)  # the ticker runs: from here on every stall is measured
            # Past the 30 s back-off the first timeout started: this call waits on lull.
            lull_plugin.current().lull.reset_backoff()
            plugins.invoke_hook("pre_gateway_dispatch", event=_Event("hello"))
            plugins.invoke_hook("pre_gateway_dispatch", event=_Event("/maintenance status"))
            handler = plugins.get_plugin_command_handler("maintenance")
            reply = await handler("status")
            ticking.cancel()
            return reply, max(gaps)

        started = time.monotonic()
        reply, worst_gap = asyncio.run(scenario())
        assert time.monotonic() - started >= 0.9, "the command waited on the hung lull"
        assert "not reachable" in reply, reply
        assert worst_gap < 0.2, f"the event loop stalled for {worst_gap:.3f} s"
    finally:
        lull_plugin.current().stop()
        plugins._plugin_manager = None
        hung.close()


def test_a_bad_setting_keeps_the_plugin_from_loading_with_a_clear_reason(hermes_home, monkeypatch):
    monkeypatch.setenv("LULL_HEARTBEAT_SECONDS", "soon")
    plugins._plugin_manager = None
    plugins.discover_plugins(force=True)
    errors = [str(p.error or "") for p in plugins.get_plugin_manager()._plugins.values()]
    assert any("LULL_HEARTBEAT_SECONDS='soon' is not accepted" in e for e in errors), errors
    plugins._plugin_manager = None
