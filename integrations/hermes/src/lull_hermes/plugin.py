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
import threading
import time
from importlib import resources
from typing import Any

from . import background, busy_chat, relay
from .client import THROTTLED, Lull, Unavailable
from .gateway import gateway_runner
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


def session_env(name: str) -> str:
    """Hermes's session variable ``name`` of the current turn ('' outside a gateway turn)."""
    try:
        from gateway.session_context import get_session_env

        return get_session_env(name, "") or ""
    except Exception:  # noqa: BLE001
        return ""


def seconds_from_env(name: str, default: float) -> float:
    """A positive number of seconds from the environment; a bad value is a clear error (the
    plugin then does not load, and Hermes says why)."""
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0.0 < value <= 3600.0:
        raise ValueError(f"{name}={text!r} is not accepted: give seconds from 0 to 3600, e.g. 20")
    return value


class LullPlugin:
    """The plugin's state in one Hermes process."""

    def __init__(self, lull: Lull | None = None):
        self.lull = lull or Lull()
        self.source = os.environ.get("LULL_SOURCE") or "hermes"
        self.agent = os.environ.get("LULL_AGENT_NAME") or "hermes"
        self.tick = seconds_from_env("LULL_HEARTBEAT_SECONDS", 20.0)
        self.runs = Runs(self.lull, self.source)
        self.intercept_restart = (os.environ.get("LULL_INTERCEPT_RESTART") or "").lower() in ("1", "true", "yes")
        #: The `hermes:background` lease while Hermes has background work a restart would kill.
        self.background_lease: str | None = None
        #: That work, as last logged.
        self.background_work: list[str] = []
        #: Whether this plugin told lull the host drains.
        self.draining_reported = False
        #: Whether the gateway's log was told how `/maintenance` fares in busy chats.
        self.bypass_reported = False
        #: Why the plugin refused to work in this gateway (proxy mode), once it knows.
        self.refused: str | None = None
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
        """Heartbeats live turns' leases and the gateway's source, every tick whatever else
        comes; sends activity reports and relays answers taken off Hermes's loop."""
        next_tick = time.monotonic()
        while not self.stopping.is_set():
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self.tick
                self._run(self._tick)
            try:
                job = self.jobs.get(timeout=max(0.0, next_tick - time.monotonic()))
            except queue.Empty:
                continue
            if job is None:
                return
            self._run(lambda: self._job(job))

    def _run(self, work) -> None:
        try:
            work()
        except Unavailable:
            pass
        except Exception:  # noqa: BLE001 - the thread must outlive any surprise
            THROTTLED.warn("background", "lull plugin background work failed", exc_info=True)

    def _tick(self) -> None:
        runner = gateway_runner()
        if runner is not None and self.refused is None and relay.proxy_url():
            # The runner appears after plugins load when `hermes gateway run` starts: refuse now.
            self.refused = (
                "lull: this Hermes gateway runs in proxy mode (GATEWAY_PROXY_URL or gateway.proxy_url): "
                "its agents run elsewhere, so its turns cannot hold maintenance back here. The lull plugin "
                "does nothing in it; enable it on the Hermes that runs the agents."
            )
            log.error(self.refused)
        if self.refused is not None:
            self.stopping.set()
            return
        self.runs.tend()
        if runner is not None:
            relay.lift_orphaned_drain()
            if not self.bypass_reported:
                busy_chat.report()
                self.bypass_reported = True
        # Announced only once the gateway runs (its adapters connected), so `lull-hermes health`
        # does not take a starting gateway for a healthy one.
        if runner is not None and getattr(runner, "_running", True):
            self.lull.call("POST", "/v1/heartbeat", {"source": self.source})
            self._hold_background(runner)
            self._report_drain(runner)

    def _job(self, job: Any) -> None:
        if self.refused is not None:
            return
        if isinstance(job, tuple) and job[0] == "activity":
            _, gateway, event = job
            if authorized(gateway, event):
                self.lull.call("POST", "/v1/activity", {"source": self.source})
        elif isinstance(job, tuple) and job[0] == "busy command":
            # Hermes's own checks, as on its path in an idle chat: a sender it does not
            # authorize is dropped; one its slash-command policy refuses is told so.
            _, gateway, event, relayed = job
            if not authorized(gateway, event):
                return
            refusal = busy_chat.refusal(gateway, event)
            target = relay.answer if refusal is None else relay.say
            args = (self.lull, relayed) if refusal is None else (relayed, refusal)
            threading.Thread(target=target, args=args, daemon=True).start()
        elif isinstance(job, tuple) and job[0] == "say":
            _, event, text = job
            source = event.source
            platform = getattr(getattr(source, "platform", None), "value", None) or str(source.platform)
            threading.Thread(target=relay.send, args=(platform, str(source.chat_id), text), daemon=True).start()
        elif isinstance(job, relay.Relayed):
            # Its own thread: a relayed answer (up to 10 s for lull, 30 s to send) must not hold
            # back the ticks.
            threading.Thread(target=relay.answer, args=(self.lull, job), daemon=True).start()
        elif isinstance(job, threading.Event):
            # A marker: everything queued before it has been handled.
            job.set()

    def _hold_background(self, runner: Any) -> None:
        """Holds the `hermes:background` lease while Hermes has live background work that a
        restart would kill (:mod:`lull_hermes.background`: delegated agents, background
        processes and their watchers, background tasks other than Hermes's permanent ones)."""
        try:
            work = background.live_work(runner)
        except Exception:  # noqa: BLE001 - read from another thread, Hermes's state can trip
            # the read: keep what holds now, and look again next tick.
            return
        busy = bool(work)
        if work != self.background_work:
            log.info("lull: Hermes background work: %s", ", ".join(work) if work else "none")
            self.background_work = work
        body = {"session": "hermes:background", "source": self.source}
        if busy and self.background_lease is None:
            answer = self.lull.call("POST", "/v1/runs", body)
            if answer.status == 200:
                self.background_lease = answer.body["lease"]
        elif busy:
            answer = self.lull.call("POST", f"/v1/runs/{self.background_lease}/heartbeat", body)
            if answer.status == 410:
                self.background_lease = None
        elif self.background_lease is not None:
            self.lull.call("DELETE", f"/v1/runs/{self.background_lease}", {"source": self.source})
            self.background_lease = None

    def _report_drain(self, runner: Any) -> None:
        """When Hermes drains for its own reasons (a restart it was asked for, its drain marker),
        tells lull, renewing it each tick; and when it stops."""
        draining = bool(getattr(runner, "_draining", False) or getattr(runner, "_external_drain_active", False))
        if draining and relay.drained_by_lull():
            # `lull-hermes restart` drains it: lull is executing, not waiting on the host.
            draining = False
        if draining:
            ttl = max(10, int(self.tick * 3))
            answer = self.lull.call("POST", "/v1/drain", {"ttl_seconds": ttl})
            self.draining_reported = answer.status == 200
        elif self.draining_reported:
            self.lull.call("DELETE", "/v1/drain")
            self.draining_reported = False

    # -- hooks ---------------------------------------------------------------------------

    def pre_llm_call(self, turn_id: str = "", session_id: str = "", **_: Any) -> None:
        if self.refused is not None:
            return
        platform = session_env("HERMES_SESSION_PLATFORM")
        chat = session_env("HERMES_SESSION_CHAT_ID")
        session = f"{platform}:{chat}" if platform and chat else f"hermes:{session_id}"
        self.runs.begin(turn_id, session)

    def on_session_end(self, turn_id: str = "", **_: Any) -> None:
        if self.refused is not None:
            return
        self.runs.end(turn_id)

    def pre_gateway_dispatch(self, event: Any = None, gateway: Any = None, **_: Any) -> Any:
        """On Hermes's event loop: no I/O. Keeps the speaker for ``/maintenance``; takes an
        answer to one of lull's messages (``approve r7k2`` replying to it) and, with
        ``LULL_INTERCEPT_RESTART``, Hermes's own ``/restart`` and ``/update``, handing them to the
        plugin's thread; reports an authorized message for the agent as activity."""
        if event is None or getattr(event, "internal", False) or self.refused is not None:
            return None
        if relay.for_another_bot(event):
            # `/maintenance@other_bot …` in a group: Hermes's Telegram adapter removes only its own
            # bot's mention, and would run the command here too.
            return {"action": "skip", "reason": "/maintenance for another bot"}
        speaker = relay.Speaker.of(event)
        relay.SPEAKER.set(speaker)
        if speaker is None:
            if busy_chat.is_lulls(command_of(event)) and busy_chat.chat_is_busy(gateway, event):
                # Not relayed (lull needs to know who asks), and not left to interrupt the turn.
                self.jobs.put(("say", event, relay.NO_SPEAKER))
                return {"action": "skip", "reason": "lull cannot tell who sent /maintenance"}
            return None
        text = getattr(event, "text", "") or ""
        if relay.is_answer(text) and relay.replies_to_lull(event, speaker):
            self.jobs.put(relay.Relayed(speaker, text, reply_to_lull=True))
            return {"action": "skip"}
        if self.intercept_restart and (asked := relay.restart_asked(text)):
            self.jobs.put(relay.Relayed(speaker, f"/maintenance {asked}", reply_to_lull=False))
            return {"action": "skip"}
        if (typed := relay.maintenance_text(event)) is not None:
            if busy_chat.chat_is_busy(gateway, event):
                # Hermes would interrupt the chat's live turn further on (plugin commands are
                # not among its mid-turn commands): answered from the plugin's thread instead,
                # in the thread or topic Hermes would have answered in.
                reply_to, metadata = busy_chat.reply_route(event)
                relayed = relay.Relayed(speaker, typed, speaker.reply_to_lull, reply_to, metadata)
                self.jobs.put(("busy command", gateway, event, relayed))
                return {"action": "skip", "reason": "lull answers /maintenance in a chat whose turn is live"}
            if typed != text:
                # `/maintenance@bot restart` that Hermes's Telegram adapter made `/maintenancerestart`.
                return {"action": "rewrite", "text": typed}
            return None
        if not text.lstrip().startswith("/"):
            # Whether Hermes authorizes the sender is read from its files: checked off the loop.
            self.jobs.put(("activity", gateway, event))
        return None

    # -- the command and the tool ----------------------------------------------------------

    async def maintenance(self, raw_args: str) -> str | None:
        """``/maintenance …``: relayed with the speaker captured at dispatch."""
        if self.refused is not None:
            return self.refused
        speaker = relay.SPEAKER.get()
        if speaker is None:
            return "lull needs to know who is asking, and Hermes did not say: /maintenance works in a chat with the gateway."
        try:
            # The call is I/O: off the event loop.
            text = f"/maintenance {raw_args}".strip()
            return await asyncio.to_thread(relay.command, self.lull, speaker, text, speaker.reply_to_lull)
        except Exception:  # noqa: BLE001 - never raise into Hermes
            THROTTLED.warn("command", "relaying /maintenance failed", exc_info=True)
            return "lull could not handle this command; nothing was queued. Try again in a minute."

    def tool(self, args: dict[str, Any] | None = None, **_: Any) -> str:
        """The agent tool: answered by lull's ``POST /v1/tool`` as this gateway's agent, in the
        turn's chat."""
        if self.refused is not None:
            return json.dumps({"ok": False, "error": {"code": "unavailable", "message": self.refused}})
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


def command_of(event: Any) -> str | None:
    """The command name Hermes reads in a message (``None`` for none)."""
    try:
        return event.get_command()
    except Exception:  # noqa: BLE001
        return None


def authorized(gateway: Any, event: Any) -> bool:
    """Whether Hermes would answer this sender (its own check, which reads only its config)."""
    check = getattr(gateway, "_is_user_authorized", None)
    if check is None:
        return True
    try:
        return bool(check(event.source))
    except Exception:  # noqa: BLE001
        return False


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
    busy_chat.install()
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
