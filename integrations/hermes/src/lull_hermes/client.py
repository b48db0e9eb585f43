"""The control API of lull over its Unix socket: bounded calls that never raise into Hermes.

Every call has a timeout. After a failure to reach lull, calls fail at once for 30 s (lull is
down or restarting; Hermes must not wait on it turn after turn), and the failure is logged at
most once a minute.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("lull_hermes")

#: How long calls fail fast after lull could not be reached.
BACKOFF_SECONDS = 30.0
#: Least time between two log lines about lull being unreachable.
LOG_EVERY_SECONDS = 60.0


def default_socket() -> Path:
    """``LULL_SOCKET``, else the profile's socket under ``LULL_HOME`` (``~/.lull``)."""
    if os.environ.get("LULL_SOCKET"):
        return Path(os.environ["LULL_SOCKET"])
    home = Path(os.environ.get("LULL_HOME") or Path.home() / ".lull")
    profile = os.environ.get("LULL_PROFILE") or "default"
    return home / "profiles" / profile / "control.sock"


class Throttled:
    """Logs each kind of trouble at most once a minute."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}

    def warn(self, key: str, message: str, *args: Any, exc_info: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(key, -LOG_EVERY_SECONDS) < LOG_EVERY_SECONDS:
                return
            self._last[key] = now
        log.warning(message, *args, exc_info=exc_info)


#: The plugin's one throttle for its log lines.
THROTTLED = Throttled()


class Unavailable(Exception):
    """lull could not be reached (or is being backed off from)."""


@dataclass
class Answer:
    """An HTTP answer of lull: status and JSON body."""

    status: int
    body: Any


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float):
        super().__init__("lull", timeout=timeout)
        self._path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class Lull:
    """A client of one lull profile. Thread-safe."""

    def __init__(self, path: Path | None = None, token: str | None = None):
        self.path = path or default_socket()
        self.token = token if token is not None else os.environ.get("LULL_RELAY_TOKEN") or None
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._last_log = -LOG_EVERY_SECONDS

    def call(self, method: str, path: str, body: Any = None, timeout: float = 2.0) -> Answer:
        """One call, bounded by ``timeout`` seconds. Raises :class:`Unavailable` when lull cannot
        be reached, or while backing off after that."""
        now = time.monotonic()
        with self._lock:
            if now < self._down_until:
                raise Unavailable("backing off after lull could not be reached")
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body).encode()
        connection = _UnixConnection(self.path, timeout)
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as error:
            self._failed(error)
            raise Unavailable(str(error)) from error
        finally:
            connection.close()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return Answer(response.status, parsed)

    def _failed(self, error: Exception) -> None:
        now = time.monotonic()
        with self._lock:
            self._down_until = now + BACKOFF_SECONDS
            should_log = now - self._last_log >= LOG_EVERY_SECONDS
            if should_log:
                self._last_log = now
        if should_log:
            log.warning(
                "lull is not reachable on %s (%s); Hermes goes on as before, and lull waits until it hears from it again",
                self.path,
                error,
            )

    def reset_backoff(self) -> None:
        """Forget a past failure (tests, and a deliberate retry)."""
        with self._lock:
            self._down_until = 0.0
