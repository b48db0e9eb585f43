"""A mock OpenAI-compatible model on 127.0.0.1 (``POST /v1/chat/completions``, streamed or not,
and ``GET /v1/models``), whose answers the test scripts by the words of the last user message:

- ``SLOW``: the answer waits until the test releases it (a turn that stays live);
- ``TOOL``: the first answer calls ``gateway_maintenance`` with ``{"action": "queue_restart",
  "reason": ...}``; once the tool's result is in the conversation, a text answer;
- anything else (Hermes's own side calls too): a short text answer at once.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import loopback
from loopback import LoopbackServer

#: What the tool call asks, and what the agent answers once it has the result.
TOOL_REASON = "installed jq for the user"
#: Longest a SLOW answer is held when the test never releases it.
HELD_AT_MOST = 120.0


class MockModel(LoopbackServer):
    """The mock model and what it was asked. Thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.release = threading.Event()
        #: Set when a SLOW answer is being held (the turn is live at the model).
        self.holding = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self.tool_results: list[str] = []
        #: The last user message of every request, in order.
        self.prompts: list[str] = []
        super().__init__(self._handler())

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        self.release.set()
        super().stop()

    def _reply(self, body: dict[str, Any]) -> dict[str, Any]:
        """The assistant message for a request: ``{"content": …}`` or ``{"tool_call": …}``."""
        with self.lock:
            self.requests.append(body)
        messages = body.get("messages") or []
        last_user = next((m for m in reversed(messages) if m.get("role") == "user"), {})
        text = _text(last_user.get("content"))
        with self.lock:
            self.prompts.append(text)
        tools = [t.get("function", {}).get("name") for t in body.get("tools") or []]
        if "SLOW" in text:
            self.holding.set()
            self.release.wait(HELD_AT_MOST)
            return {"content": "Finished the slow job."}
        if "TOOL" in text and "gateway_maintenance" in tools:
            answered = [m for m in messages if m.get("role") == "tool"]
            if answered:
                with self.lock:
                    self.tool_results.append(_text(answered[-1].get("content")))
                return {"content": "I asked lull for a restart."}
            call = {"action": "queue_restart", "reason": TOOL_REASON}
            return {"tool_call": {"id": f"call_{int(time.time() * 1000)}", "name": "gateway_maintenance", "arguments": json.dumps(call)}}
        return {"content": "ok"}

    def _handler(self):
        model = self

        class Handler(loopback.Handler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self.send_json({"object": "list", "data": [{"id": "mock", "object": "model", "owned_by": "test", "context_length": 128000}]})
                else:
                    self.send_json({"error": {"message": "not found"}}, 404)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self.send_json({"error": {"message": f"no route {self.path}"}}, 404)
                    return
                reply = model._reply(body)
                if body.get("stream"):
                    self._stream(body, reply)
                else:
                    self.send_json(_completion(body, reply))

            def _stream(self, body: dict[str, Any], reply: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                for chunk in _chunks(body, reply):
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        return Handler


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _usage() -> dict[str, int]:
    return {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}


def _completion(body: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.get("content")}
    finish = "stop"
    if call := reply.get("tool_call"):
        message["content"] = None
        message["tool_calls"] = [
            {"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": call["arguments"]}}
        ]
        finish = "tool_calls"
    return {
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "mock"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": _usage(),
    }


def _chunks(body: dict[str, Any], reply: dict[str, Any]) -> list[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-mock",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", "mock"),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    if call := reply.get("tool_call"):
        tool = {"index": 0, "id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": call["arguments"]}}
        chunks = [chunk({"role": "assistant", "content": None, "tool_calls": [tool]}), chunk({}, "tool_calls")]
    else:
        chunks = [chunk({"role": "assistant", "content": reply["content"]}), chunk({}, "stop")]
    last = chunks[-1]
    last["usage"] = _usage()
    return chunks
