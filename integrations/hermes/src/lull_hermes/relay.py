"""lull's relay through Hermes (docs/relay.md): ``/maintenance`` relayed with its speaker, and
lull's notices delivered through the gateway's own adapters.

Hermes calls a plugin command's handler before it sets its session variables, so the speaker is
taken where Hermes has it — the dispatch event's source, in ``pre_gateway_dispatch`` — and
carried to the handler in a context variable (the handler runs later in the same task).
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import logging
import os
import re
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .client import THROTTLED, Lull, Unavailable
from .gateway import gateway_runner

log = logging.getLogger("lull_hermes")

#: `lull relay-grammar`'s command and answer patterns.
COMMAND = re.compile(r"^\s*/maintenance(?:@\S*)?(?:\s|$)", re.IGNORECASE)
ANSWER = re.compile(r"^\s*(?:approve|reject|cancel)\s+[A-Za-z0-9][A-Za-z0-9-]*\s*$", re.IGNORECASE)
#: Hermes's own restart and update commands (taken with LULL_INTERCEPT_RESTART).
RESTART = re.compile(r"^\s*/(restart|update)(?:@\S*)?(?:\s+(.*))?$", re.IGNORECASE | re.DOTALL)
#: How long a relayed command may wait for lull (off the event loop).
COMMAND_TIMEOUT = 10.0
#: How long a notice poll waits for lull.
POLL_WAIT_SECONDS = 30
#: Notice ids kept as sent (lull's ids only grow; the newest are the ones that can come again).
SENT_KEPT = 1000


def is_maintenance(text: str) -> bool:
    """Whether a message is a ``/maintenance`` command (not activity)."""
    return bool(COMMAND.match(text))


#: A command's name with the bot's mention Telegram groups add (``/maintenance@my_bot``).
MENTIONED = re.compile(r"^(\s*/maintenance)@\S*", re.IGNORECASE)


def maintenance_text(event: Any) -> str | None:
    """The ``/maintenance`` command a message carries, as its speaker typed it (without a bot
    mention), or ``None`` when it carries none.

    Hermes's Telegram adapter removes ``@bot`` and the space after it before the plugin sees the
    text, so ``/maintenance@bot restart jq`` arrives as ``/maintenancerestart jq``: the platform's
    own message (``raw_message``) still has what was typed."""
    text = getattr(event, "text", "") or ""
    if is_maintenance(text):
        return MENTIONED.sub(r"\1", text, count=1)
    if not text.lstrip().lower().startswith("/maintenance"):
        return None
    raw = getattr(getattr(event, "raw_message", None), "text", None)
    if isinstance(raw, str) and is_maintenance(raw):
        return MENTIONED.sub(r"\1", raw, count=1)
    return None


def is_answer(text: str) -> bool:
    """Whether a message is an answer to one of lull's prompts (``approve r7k2``)."""
    return bool(ANSWER.match(text))


def restart_asked(text: str) -> str | None:
    """``restart …`` or ``update …`` when the text is Hermes's ``/restart`` or ``/update``."""
    match = RESTART.match(text)
    if not match:
        return None
    return f"{match.group(1).lower()} {match.group(2) or ''}".strip()


class SentMessages:
    """Messages lull sent through this gateway (``platform:chat:message id``), newest last and
    bounded, so that a reply to one of them is known as a reply to lull whatever the platform's
    adapter says. Shared by the plugin's threads and Hermes's loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: dict[str, None] = {}

    def add(self, key: str) -> None:
        with self._lock:
            self._ids.pop(key, None)
            self._ids[key] = None
            while len(self._ids) > SENT_KEPT:
                del self._ids[next(iter(self._ids))]

    def update(self, keys) -> None:
        for key in keys:
            self.add(key)

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._ids

    def newest(self) -> list[str]:
        with self._lock:
            return list(self._ids)


SENT_MESSAGES = SentMessages()


def drained_by_lull() -> bool:
    """Whether Hermes's drain marker is `lull-hermes restart`'s own."""
    try:
        from gateway.drain_control import read_drain_request

        return (read_drain_request() or {}).get("principal") == "lull"
    except Exception:  # noqa: BLE001
        return False


def lift_orphaned_drain() -> bool:
    """Lifts `lull-hermes restart`'s drain marker when the process that wrote it is gone
    (killed at lull's timeout, say): left behind, it would keep the gateway refusing every new
    turn. ``True`` if it lifted one."""
    if not drained_by_lull():
        return False
    try:
        from gateway.drain_control import clear_drain_request
        from hermes_constants import get_hermes_home

        record = json.loads((Path(get_hermes_home()) / "lull_restart.json").read_text())
        writer = int(record["writer"])
    except Exception:  # noqa: BLE001 - no record: not ours to judge
        return False
    try:
        os.kill(writer, 0)
        return False
    except ProcessLookupError:
        pass
    except PermissionError:
        return False
    clear_drain_request()
    log.warning("lifted a drain left by lull-hermes restart (pid %s is gone)", writer)
    return True


def replies_to_lull(event: Any, speaker: "Speaker") -> bool:
    """Whether the message replies to one of lull's messages: one this plugin sent, or (where the
    platform says whose message it replies to) one of the bot's own."""
    reply_to = getattr(event, "reply_to_message_id", None)
    if reply_to is not None and f"{speaker.platform}:{speaker.chat_id}:{reply_to}" in SENT_MESSAGES:
        return True
    return bool(getattr(event, "reply_to_is_own_message", False))


@dataclass(frozen=True)
class Relayed:
    """A message taken off Hermes's loop, to relay and answer from the plugin's thread."""

    speaker: "Speaker"
    text: str
    reply_to_lull: bool
    #: The message the answer replies to, and its thread or topic (Hermes's own routing).
    reply_to: str | None = None
    metadata: dict[str, Any] | None = None


#: The answer to ``/maintenance`` from a sender the platform does not name.
NO_SPEAKER = "lull needs to know who is asking, and Hermes did not say: /maintenance works from a user's own account."


def answer(lull: Lull, job: Relayed) -> None:
    """Relays ``job`` and sends lull's reply into its chat through the gateway's adapter."""
    reply = command(lull, job.speaker, job.text, job.reply_to_lull)
    if reply:
        say(job, reply)


def say(job: Relayed, text: str) -> None:
    """Sends ``text`` as the answer to ``job``'s message."""
    send(job.speaker.platform, job.speaker.chat_id, text, job.reply_to, job.metadata)


def for_another_bot(event: Any) -> bool:
    """``/maintenance@other_bot …`` in Telegram: Hermes's Telegram adapter removes its own
    bot's mention before the plugin sees the text, so a mention left is another bot's."""
    source = getattr(event, "source", None)
    platform = getattr(getattr(source, "platform", None), "value", None)
    return platform == "telegram" and bool(MENTIONED.match(getattr(event, "text", "") or ""))


@dataclass(frozen=True)
class Speaker:
    """Who typed a message, and where, as Hermes's dispatch event says."""

    platform: str
    user_id: str
    user_name: str
    chat_id: str
    message_id: str
    reply_to_lull: bool

    @classmethod
    def of(cls, event: Any) -> "Speaker | None":
        source = getattr(event, "source", None)
        user_id = getattr(source, "user_id", None)
        chat_id = getattr(source, "chat_id", None)
        if source is None or not user_id or chat_id is None:
            return None
        platform = getattr(getattr(source, "platform", None), "value", None) or str(source.platform)
        return cls(
            platform=platform,
            user_id=str(user_id),
            user_name=str(getattr(source, "user_name", "") or user_id),
            chat_id=str(chat_id),
            message_id=str(getattr(event, "message_id", "") or ""),
            reply_to_lull=bool(getattr(event, "reply_to_is_own_message", False)),
        )


#: The speaker of the message being dispatched in this task.
SPEAKER: contextvars.ContextVar[Speaker | None] = contextvars.ContextVar("lull_speaker", default=None)


def command(lull: Lull, speaker: Speaker, text: str, reply_to_lull: bool) -> str | None:
    """Relays ``text`` (a ``/maintenance`` command, or an answer to one of lull's messages)
    from ``speaker``; returns the text to answer with."""
    if not speaker.message_id:
        return "lull could not tell this message apart from others (no message id); try again."
    body = {
        # Message ids are per chat on some platforms: the chat is part of the event id.
        "event_id": f"{speaker.platform}:{speaker.chat_id}:{speaker.message_id}",
        "user": f"{speaker.platform}:{speaker.user_id}",
        "display": speaker.user_name,
        "chat": f"{speaker.platform}:{speaker.chat_id}",
        "reply_to_lull": reply_to_lull,
        "text": text,
    }
    try:
        answer = lull.call("POST", "/v1/relay/commands", body, timeout=COMMAND_TIMEOUT)
    except Unavailable:
        return "lull is not reachable right now, so nothing was queued. Try again in a minute."
    if answer.status == 409:
        return "lull is still handling this command; ask again in a moment."
    if answer.status != 200 or not isinstance(answer.body, dict):
        message = (answer.body or {}).get("error", {}).get("message") if isinstance(answer.body, dict) else None
        return f"lull refused the command: {message or answer.status}"
    reply = answer.body.get("reply")
    if not reply:
        return None
    return reply.get("markdown") or reply.get("text")


def proxy_url() -> str:
    """The gateway's proxy URL, if it runs in proxy mode (its agents run elsewhere)."""
    if os.environ.get("GATEWAY_PROXY_URL"):
        return os.environ["GATEWAY_PROXY_URL"]
    try:
        from gateway import run

        runner = run._gateway_runner_ref()
        return (runner._get_proxy_url() or "") if runner else ""
    except Exception:  # noqa: BLE001
        return ""


def sent_key(notice: dict[str, Any]) -> str:
    """What identifies a notice as sent: its id and a digest of its chat and text. A new lull
    store numbers its notices from 0 again, and its notices must not be taken as sent."""
    text = notice.get("markdown") or notice.get("text") or ""
    digest = hashlib.sha256(f"{notice.get('chat')}\n{text}".encode()).hexdigest()[:16]
    return f"{notice['id']}:{digest}"


class Notices:
    """Long-polls lull's notices and delivers them through the gateway's adapters; each is
    acknowledged once sent, and the ids sent are kept on disk so a restarted gateway drops a
    copy instead of sending it again."""

    def __init__(self, lull: Lull, stopping: threading.Event):
        self.lull = lull
        self.stopping = stopping
        self.consumer = f"hermes-{socket.gethostname()}-{os.getpid()}"
        self._sent: list[str] | None = None
        #: Notices this poller acknowledged, and how (newest last; for status and tests).
        self.acknowledged: list[tuple[str, str]] = []
        # Loaded now: a reply to a prompt sent before a restart is still a reply to lull.
        self._sent_ids()

    def _sent_path(self) -> Path:
        home = os.environ.get("HERMES_HOME") or str(Path.home() / ".hermes")
        return Path(home) / "lull_sent_notices.json"

    def _sent_ids(self) -> list[str]:
        if self._sent is None:
            try:
                kept = json.loads(self._sent_path().read_text())
                self._sent = list(kept.get("notices", []))
                SENT_MESSAGES.update(kept.get("messages", []))
            except (OSError, ValueError, AttributeError):
                self._sent = []
        return self._sent

    def _remember(self, notice_id: str) -> None:
        sent = self._sent_ids()
        sent.append(notice_id)
        del sent[:-SENT_KEPT]
        messages = SENT_MESSAGES.newest()
        path = self._sent_path()
        try:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"notices": sent, "messages": messages}))
            os.replace(tmp, path)
        except OSError as error:
            log.warning("cannot record a sent lull notice in %s: %s", path, error)

    def run(self) -> None:
        """The notices thread: only in the gateway process, until the plugin stops."""
        while not self.stopping.is_set():
            runner = gateway_runner()
            if runner is None or not getattr(runner, "_running", True):
                self.stopping.wait(1.0)
                continue
            try:
                self.poll_once(POLL_WAIT_SECONDS)
            except Unavailable:
                self.stopping.wait(5.0)
            except Exception:  # noqa: BLE001
                THROTTLED.warn("notices", "delivering lull's notices failed", exc_info=True)
                self.stopping.wait(5.0)

    def poll_once(self, wait: int) -> int:
        """One poll; returns how many notices were delivered."""
        answer = self.lull.call(
            "GET",
            f"/v1/relay/notices?consumer={self.consumer}&wait_seconds={wait}",
            timeout=wait + 10,
        )
        if answer.status != 200:
            THROTTLED.warn("poll", "lull refused a notice poll: %s %s", answer.status, answer.body)
            # 404: lull has no [relay] section; nothing will change until it is restarted.
            self.stopping.wait(60.0 if answer.status == 404 else 5.0)
            return 0
        delivered = 0
        held_back: set[str] = set()
        for notice in answer.body.get("notices", []):
            if notice["chat"] in held_back:
                # An earlier notice of this chat was not sent: this one waits behind it.
                continue
            if sent_key(notice) in self._sent_ids():
                self._ack(notice["id"], "delivered")
                continue
            outcome = deliver(notice)
            if outcome is None:
                # Not sent now: the claim lapses and lull gives it out again, in order.
                held_back.add(notice["chat"])
                continue
            if outcome == "delivered":
                self._remember(sent_key(notice))
                delivered += 1
            self._ack(notice["id"], outcome)
        return delivered

    def _ack(self, notice_id: str, outcome: str) -> None:
        self.lull.call(
            "POST",
            f"/v1/relay/notices/{notice_id}/ack",
            {"consumer": self.consumer, "outcome": outcome},
        )
        self.acknowledged.append((notice_id, outcome))
        del self.acknowledged[:-SENT_KEPT]


class UnknownPlatform(Exception):
    """A chat on a platform this Hermes does not have."""


def send(
    platform_name: str,
    chat_id: str,
    text: str,
    reply_to: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> bool:
    """Sends ``text`` through the running gateway's adapter for ``platform_name``, on the
    gateway's event loop (replying to ``reply_to``, in the thread ``metadata`` names, when
    given); ``True`` once the platform took it. Called from the plugin's threads."""
    runner = gateway_runner()
    loop = getattr(runner, "_gateway_loop", None)
    try:
        from gateway.config import Platform

        platform = Platform(platform_name)
    except Exception as error:  # noqa: BLE001
        raise UnknownPlatform(platform_name) from error
    if runner is None or loop is None:
        return False
    adapter = getattr(runner, "adapters", {}).get(platform)
    if adapter is None:
        configured = getattr(getattr(runner, "config", None), "platforms", {}) or {}
        if platform not in configured or not getattr(configured[platform], "enabled", True):
            # A platform Hermes knows but this gateway does not run: never deliverable here.
            raise UnknownPlatform(platform_name)
        # Configured but not connected (starting, or reconnecting): later.
        return False
    routing = {k: v for k, v in (("reply_to", reply_to), ("metadata", metadata)) if v}
    future = asyncio.run_coroutine_threadsafe(adapter.send(chat_id, text, **routing), loop)
    try:
        result = future.result(timeout=30)
    except Exception as error:  # noqa: BLE001
        # Cancelled, so it cannot land after lull gave the notice out again.
        future.cancel()
        THROTTLED.warn("send", "could not send lull's message to %s:%s: %s", platform_name, chat_id, error)
        return False
    if getattr(result, "success", False):
        if getattr(result, "message_id", None) is not None:
            SENT_MESSAGES.add(f"{platform_name}:{chat_id}:{result.message_id}")
        return True
    return False


def deliver(notice: dict[str, Any]) -> str | None:
    """Sends one notice: ``delivered``, ``undeliverable`` (a platform this Hermes does not
    have), or ``None`` (try again later)."""
    platform_name, _, chat_id = notice["chat"].partition(":")
    text = notice.get("markdown") or notice.get("text") or ""
    try:
        return "delivered" if send(platform_name, chat_id, text) else None
    except UnknownPlatform:
        THROTTLED.warn("unknown", "lull notice %s is for %r, a platform this gateway does not run", notice["id"], notice["chat"])
        return "undeliverable"
