"""The Hermes plugin (entry point ``lull`` of group ``hermes_agent.plugins``).

``register(ctx)`` wires lull into Hermes:

- turns are runs (``pre_llm_call`` / ``on_session_end``, see :mod:`lull_hermes.runs`);
- inbound messages for the agent are activity; the gateway process announces itself as the
  activity source (``LULL_SOURCE``, default ``hermes``);
- ``/maintenance`` in every chat, relayed with its speaker (:mod:`lull_hermes.relay`);
- the agent tool ``gateway_maintenance``, answered in the agent's chat;
- lull's notices delivered through the gateway's own adapters.

Never in Hermes's way: hooks on Hermes's event loop only hand work to the plugin's own thread;
calls from the agent's thread are bounded; nothing raises into Hermes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import sys
import threading
from importlib import resources
from typing import Any

from . import relay
from .client import Lull, Unavailable
from .runs import Runs

log = logging.getLogger("lull_hermes")

#: The tool's name, as ``lull tool-schema`` prints it.
TOOL_NAME = "gateway_maintenance"
#: How long the tool may wait for lull (it runs in the agent's thread).
TOOL_TIMEOUT = 5.0


def tool_schema() -> dict[str, Any]:
    """The tool's OpenAI function-calling schema, shipped with the plugin: ``lull tool-schema``
    without ``agent`` (the plugin names the agent)."""
    text = resources.files("lull_hermes").joinpath("tool_schema.json").read_text()
    return json.loads(text)


def gateway_runner() -> Any | None:
    """The running gateway, when this process is the Hermes gateway (not the CLI, cron or a
    worker)."""
    module = sys.modules.get("gateway.run")
    ref = getattr(module, "_gateway_runner_ref", None) if module else None
    try:
        return ref() if ref else None
    except Exception:  # noqa: BLE001 - never raise into Hermes
        return None


def session_env(name: str) -> str:
    """Hermes's session variable ``name`` of the current turn ('' outside a gateway turn)."""
    try:
        from gateway.session_context import get_session_env

        return get_session_env(name, "") or ""
    except Exception:  # noqa: BLE001
        return ""


class LullPlugin:
    """The plugin's state in one Hermes process."""

    def __init__(self, lull: Lull | None = None):
        self.lull = lull or Lull()
        self.source = os.environ.get("LULL_SOURCE") or "hermes"
        self.agent = os.environ.get("LULL_AGENT_NAME") or "hermes"
        self.tick = float(os.environ.get("LULL_HEARTBEAT_SECONDS") or 20)
        self.runs = Runs(self.lull, self.source)
        self.jobs: queue.Queue = queue.Queue()
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.notices = relay.Notices(self.lull, self.stopping)

    def start(self) -> None:
        """Starts the plugin's own threads (daemons: they never keep Hermes from exiting)."""
        for target, name in ((self._background, "lull-background"), (self.notices.run, "lull-notices")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self.stopping.set()
        self.jobs.put(None)

    def _background(self) -> None:
        """Heartbeats live turns' leases and the gateway's source; sends activity reports."""
        while not self.stopping.is_set():
            try:
                job = self.jobs.get(timeout=self.tick)
            except queue.Empty:
                job = "tick"
            if job is None:
                return
            try:
                if job == "tick":
                    self.runs.tend()
                    if gateway_runner() is not None:
                        self.lull.call("POST", "/v1/heartbeat", {"source": self.source})
                elif job == "activity":
                    self.lull.call("POST", "/v1/activity", {"source": self.source})
            except Unavailable:
                pass
            except Exception:  # noqa: BLE001 - the thread must outlive any surprise
                log.exception("lull plugin background work failed")

    # -- hooks ---------------------------------------------------------------------------

    def pre_llm_call(self, turn_id: str = "", session_id: str = "", **_: Any) -> None:
        platform = session_env("HERMES_SESSION_PLATFORM")
        chat = session_env("HERMES_SESSION_CHAT_ID")
        session = f"{platform}:{chat}" if platform and chat else f"hermes:{session_id}"
        self.runs.begin(turn_id, session)

    def on_session_end(self, turn_id: str = "", **_: Any) -> None:
        self.runs.end(turn_id)

    def pre_gateway_dispatch(self, event: Any = None, **_: Any) -> None:
        """On Hermes's event loop: no I/O. Keeps the speaker for ``/maintenance`` and hands an
        activity report for any other message to the plugin's thread."""
        if event is None or getattr(event, "internal", False):
            return None
        speaker = relay.Speaker.of(event)
        relay.SPEAKER.set(speaker)
        if speaker is not None and not relay.is_maintenance(getattr(event, "text", "") or ""):
            self.jobs.put("activity")
        return None

    # -- the command and the tool ----------------------------------------------------------

    async def maintenance(self, raw_args: str) -> str | None:
        """``/maintenance …``: relayed with the speaker captured at dispatch."""
        speaker = relay.SPEAKER.get()
        if speaker is None:
            return "lull needs to know who is asking, and Hermes did not say: /maintenance works in a chat with the gateway."
        # The call is I/O: off the event loop.
        return await asyncio.to_thread(relay.command, self.lull, speaker, raw_args)

    def tool(self, args: dict[str, Any] | None = None, **_: Any) -> str:
        """The agent tool: answered by lull's ``POST /v1/tool`` as this gateway's agent, in the
        turn's chat."""
        call = dict(args or {})
        call.pop("agent", None)
        call.pop("chat", None)
        call["agent"] = self.agent
        platform = session_env("HERMES_SESSION_PLATFORM")
        chat = session_env("HERMES_SESSION_CHAT_ID")
        if platform and chat:
            call["chat"] = f"{platform}:{chat}"
        try:
            answer = self.lull.call("POST", "/v1/tool", call, timeout=TOOL_TIMEOUT)
        except Unavailable as error:
            return json.dumps(
                {
                    "ok": False,
                    "error": {
                        "code": "unavailable",
                        "message": f"lull is not reachable ({error}); nothing was queued. Try again later; do not restart the gateway yourself.",
                    },
                }
            )
        return json.dumps(answer.body)


_plugin: LullPlugin | None = None


def _safe(method):
    """A hook that never raises into Hermes."""

    def hook(**kwargs: Any) -> Any:
        try:
            return method(**kwargs)
        except Exception:  # noqa: BLE001
            log.exception("lull plugin hook failed")
            return None

    hook.__name__ = getattr(method, "__name__", "hook")
    return hook


def register(ctx: Any) -> None:
    """Called by Hermes's plugin manager."""
    global _plugin
    if gateway_runner() is not None and relay.proxy_url():
        raise RuntimeError(
            "lull: this Hermes gateway runs in proxy mode (GATEWAY_PROXY_URL or gateway.proxy_url): "
            "its agents run elsewhere, so its turns cannot hold maintenance back here. "
            "Enable the lull plugin on the Hermes that runs the agents instead."
        )
    if _plugin is not None:
        _plugin.stop()
    plugin = LullPlugin()
    _plugin = plugin
    ctx.register_hook("pre_llm_call", _safe(plugin.pre_llm_call))
    ctx.register_hook("on_session_end", _safe(plugin.on_session_end))
    ctx.register_hook("pre_gateway_dispatch", _safe(plugin.pre_gateway_dispatch))
    ctx.register_command(
        "maintenance",
        plugin.maintenance,
        description="Gateway maintenance through lull: status, restart, update, cancel, approve, …",
        args_hint="[status|restart|update|cancel|approve|reject|history|pause|resume|release]",
    )
    schema = tool_schema()["function"]
    ctx.register_tool(
        name=TOOL_NAME,
        toolset="lull",
        schema=schema,
        handler=plugin.tool,
        description=schema["description"],
    )
    plugin.start()


def current() -> LullPlugin | None:
    """The plugin of this process, once registered."""
    return _plugin
