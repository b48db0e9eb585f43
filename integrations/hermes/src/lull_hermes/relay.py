"""lull's relay through Hermes (docs/relay.md): ``/maintenance`` relayed with its speaker, and
lull's notices delivered through the gateway's own adapters.

Hermes calls a plugin command's handler before it sets its session variables, so the speaker is
taken where Hermes has it — the dispatch event's source, in ``pre_gateway_dispatch`` — and
carried to the handler in a context variable (the handler runs later in the same task).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import re
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .client import Lull, Unavailable

log = logging.getLogger("lull_hermes")

#: `lull relay-grammar`'s command pattern.
COMMAND = re.compile(r"^\s*/maintenance(?:@\S*)?(?:\s|$)", re.IGNORECASE)
#: How long a notice poll waits for lull.
POLL_WAIT_SECONDS = 30
#: Notice ids kept as sent (lull's ids only grow; the newest are the ones that can come again).
SENT_KEPT = 1000


def is_maintenance(text: str) -> bool:
    """Whether a message is a ``/maintenance`` command (not activity)."""
    return bool(COMMAND.match(text))


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


def command(lull: Lull, speaker: Speaker, raw_args: str) -> str | None:
    """Relays ``/maintenance raw_args`` from ``speaker``; returns the text to answer with."""
    if not speaker.message_id:
        return "lull could not tell this message apart from others (no message id); try again."
    body = {
        # Message ids are per chat on some platforms: the chat is part of the event id.
        "event_id": f"{speaker.platform}:{speaker.chat_id}:{speaker.message_id}",
        "user": f"{speaker.platform}:{speaker.user_id}",
        "display": speaker.user_name,
        "chat": f"{speaker.platform}:{speaker.chat_id}",
        "reply_to_lull": speaker.reply_to_lull,
        "text": f"/maintenance {raw_args}".strip(),
    }
    try:
        answer = lull.call("POST", "/v1/relay/commands", body, timeout=10.0)
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


class Notices:
    """Long-polls lull's notices and delivers them through the gateway's adapters; each is
    acknowledged once sent, and the ids sent are kept on disk so a restarted gateway drops a
    copy instead of sending it again."""

    def __init__(self, lull: Lull, stopping: threading.Event):
        self.lull = lull
        self.stopping = stopping
        self.consumer = f"hermes-{socket.gethostname()}-{os.getpid()}"
        self._sent: list[str] | None = None

    def _sent_path(self) -> Path:
        home = os.environ.get("HERMES_HOME") or str(Path.home() / ".hermes")
        return Path(home) / "lull_sent_notices.json"

    def _sent_ids(self) -> list[str]:
        if self._sent is None:
            try:
                self._sent = list(json.loads(self._sent_path().read_text()))
            except (OSError, ValueError):
                self._sent = []
        return self._sent

    def _remember(self, notice_id: str) -> None:
        sent = self._sent_ids()
        sent.append(notice_id)
        del sent[:-SENT_KEPT]
        path = self._sent_path()
        try:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(sent))
            os.replace(tmp, path)
        except OSError as error:
            log.warning("cannot record a sent lull notice in %s: %s", path, error)

    def run(self) -> None:
        """The notices thread: only in the gateway process, until the plugin stops."""
        from .plugin import gateway_runner

        while not self.stopping.is_set():
            if gateway_runner() is None:
                self.stopping.wait(1.0)
                continue
            try:
                self.poll_once(POLL_WAIT_SECONDS)
            except Unavailable:
                self.stopping.wait(5.0)
            except Exception:  # noqa: BLE001
                log.exception("delivering lull's notices failed")
                self.stopping.wait(5.0)

    def poll_once(self, wait: int) -> int:
        """One poll; returns how many notices were delivered."""
        answer = self.lull.call(
            "GET",
            f"/v1/relay/notices?consumer={self.consumer}&wait_seconds={wait}",
            timeout=wait + 10,
        )
        if answer.status != 200:
            log.warning("lull refused a notice poll: %s %s", answer.status, answer.body)
            self.stopping.wait(5.0)
            return 0
        delivered = 0
        for notice in answer.body.get("notices", []):
            if notice["id"] in self._sent_ids():
                self._ack(notice["id"], "delivered")
                continue
            outcome = deliver(notice)
            if outcome is None:
                # Not sent now: the claim lapses and lull gives it out again.
                continue
            if outcome == "delivered":
                self._remember(notice["id"])
                delivered += 1
            self._ack(notice["id"], outcome)
        return delivered

    def _ack(self, notice_id: str, outcome: str) -> None:
        self.lull.call(
            "POST",
            f"/v1/relay/notices/{notice_id}/ack",
            {"consumer": self.consumer, "outcome": outcome},
        )


def deliver(notice: dict[str, Any]) -> str | None:
    """Sends one notice through the running gateway's adapter for its platform: ``delivered``,
    ``undeliverable`` (no such platform here), or ``None`` (try again later)."""
    from .plugin import gateway_runner

    runner = gateway_runner()
    loop = getattr(runner, "_gateway_loop", None)
    platform_name, _, chat_id = notice["chat"].partition(":")
    try:
        from gateway.config import Platform

        platform = Platform(platform_name)
    except Exception:  # noqa: BLE001
        log.warning("lull notice %s is for %r, which this Hermes does not know", notice["id"], notice["chat"])
        return "undeliverable"
    adapter = getattr(runner, "adapters", {}).get(platform) if runner else None
    if adapter is None or loop is None:
        return None
    text = notice.get("markdown") or notice.get("text") or ""
    future = asyncio.run_coroutine_threadsafe(adapter.send(chat_id, text), loop)
    try:
        result = future.result(timeout=30)
    except Exception as error:  # noqa: BLE001
        log.warning("could not send lull notice %s to %s: %s", notice["id"], notice["chat"], error)
        return None
    return "delivered" if getattr(result, "success", False) else None
