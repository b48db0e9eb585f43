"""A fake Telegram Bot API on 127.0.0.1, enough for a real Hermes gateway (python-telegram-bot)
to run against it: ``getMe``, ``deleteWebhook``, ``setMyCommands``, long-polled ``getUpdates``,
``sendChatAction``, ``sendMessage`` and ``editMessageText`` (streamed answers), and ``true`` for
the rest. The test posts users' messages as updates and reads what the bot sent.

Requests are ``POST /bot<token>/<method>`` with form-encoded parameters (complex values JSON
encoded) or JSON, as python-telegram-bot sends them; a wrong token is refused with 401 as
Telegram does.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import loopback
from loopback import LoopbackServer

BOT = {
    "id": 7000001,
    "is_bot": True,
    "first_name": "Lull Test",
    "username": "lull_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": True,
    "supports_inline_queries": False,
    "can_connect_to_business": False,
    "has_main_web_app": False,
}
#: Longest a getUpdates long poll is held, whatever it asked (keeps the fake's stop prompt).
LONGEST_POLL = 2.0


@dataclass
class Sent:
    """A message the bot sent (or the last text it edited one to)."""

    chat_id: str
    message_id: int
    text: str
    reply_to: int | None = None
    edits: list[str] = field(default_factory=list)


class FakeTelegram(LoopbackServer):
    """The fake Bot API and what went through it. Thread-safe."""

    def __init__(self, token: str):
        self.token = token
        self.lock = threading.Condition()
        self.updates: list[dict[str, Any]] = []
        self.next_update = 1
        self.next_message = 100
        self.sent: list[Sent] = []
        self.calls: list[str] = []
        super().__init__(self._handler())

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    # -- what the test does ----------------------------------------------------------------

    def post_message(self, text: str, user: dict[str, Any], chat: dict[str, Any]) -> int:
        """A user's message arrives (the next getUpdates hands it out); returns its id."""
        with self.lock:
            message_id = self.next_message
            self.next_message += 1
            message: dict[str, Any] = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": chat,
                "from": user,
                "text": text,
            }
            if text.startswith("/"):
                command = text.split(maxsplit=1)[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
            self.updates.append({"update_id": self.next_update, "message": message})
            self.next_update += 1
            self.lock.notify_all()
            return message_id

    def texts(self, chat_id: int | str) -> list[str]:
        """What the bot has said in a chat, each message as it reads now."""
        with self.lock:
            return [s.text for s in self.sent if s.chat_id == str(chat_id)]

    def called(self, method: str) -> int:
        with self.lock:
            return sum(1 for call in self.calls if call.lower() == method.lower())

    # -- the Bot API -----------------------------------------------------------------------

    def _answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.calls.append(method)
        # Method names are case-insensitive to Telegram (teloxide sends `GetMe`).
        method = method.lower()
        if method == "getme":
            return 200, {"ok": True, "result": BOT}
        if method == "getupdates":
            return 200, {"ok": True, "result": self._updates(params)}
        if method == "sendmessage":
            return 200, {"ok": True, "result": self._send(params)}
        if method == "editmessagetext":
            return 200, {"ok": True, "result": self._edit(params)}
        if method == "getmycommands":
            return 200, {"ok": True, "result": []}
        if method == "getchat":
            return 200, {"ok": True, "result": {"id": int(params.get("chat_id", 0)), "type": "private"}}
        return 200, {"ok": True, "result": True}

    def _updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), LONGEST_POLL)
        deadline = time.monotonic() + wait
        with self.lock:
            # Confirmed updates are forgotten, as Telegram does.
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            while not self.updates and time.monotonic() < deadline:
                self.lock.wait(deadline - time.monotonic())
            return list(self.updates)

    def _send(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = str(params["chat_id"])
        reply = params.get("reply_parameters") or {}
        if isinstance(reply, str):
            reply = json.loads(reply)
        with self.lock:
            message_id = self.next_message
            self.next_message += 1
            self.sent.append(
                Sent(chat_id, message_id, str(params.get("text", "")), reply.get("message_id") or _int(params.get("reply_to_message_id")))
            )
            self.lock.notify_all()
        return _message(chat_id, message_id, str(params.get("text", "")))

    def _edit(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = str(params.get("chat_id"))
        message_id = int(params.get("message_id", 0))
        text = str(params.get("text", ""))
        with self.lock:
            for sent in self.sent:
                if sent.chat_id == chat_id and sent.message_id == message_id:
                    sent.edits.append(sent.text)
                    sent.text = text
            self.lock.notify_all()
        return _message(chat_id, message_id, text)

    def _handler(self):
        fake = self

        class Handler(loopback.Handler):
            def do_GET(self) -> None:
                self.do_POST()

            def do_POST(self) -> None:
                prefix = f"/bot{fake.token}/"
                if not self.path.startswith(prefix):
                    self.send_json({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
                    return
                method = self.path[len(prefix) :].split("?", 1)[0]
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    params = _params(self.headers.get("Content-Type") or "", raw)
                    status, body = fake._answer(method, params)
                except Exception as error:  # noqa: BLE001 - answered as Telegram would
                    status, body = 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {error}"}
                self.send_json(body, status)

        return Handler


def _params(content_type: str, raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    if "json" in content_type:
        return json.loads(raw)
    if "multipart" in content_type:
        raise ValueError("files are not supported by this fake")
    return {key: values[-1] for key, values in parse_qs(raw.decode()).items()}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _message(chat_id: str, message_id: int, text: str) -> dict[str, Any]:
    chat_type = "private" if not chat_id.startswith("-") else "supergroup"
    chat: dict[str, Any] = {"id": int(chat_id), "type": chat_type}
    if chat_type != "private":
        chat["title"] = "group"
    return {"message_id": message_id, "date": int(time.time()), "chat": chat, "from": BOT, "text": text}
