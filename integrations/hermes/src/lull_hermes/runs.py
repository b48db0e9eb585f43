"""Hermes's turns as lull's agent runs.

``pre_llm_call`` (in the agent's thread, at the start of a turn) begins a run lease keyed by the
turn's ``turn_id``; ``on_session_end`` (every turn's end, failed or interrupted too) ends it. A
lease is heartbeaten only while its turn provably lives: its thread is alive and still runs that
turn. A turn whose end is lost (an exception escaped, another mode skipped the end) is then no
longer heartbeaten and its lease expires after lull's lease TTL — never held up by a heartbeat
that outlives the turn. A begin that fails is retried in the background while the turn lives.
"""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass, field
from types import FrameType

from .client import THROTTLED, Lull, Unavailable

log = logging.getLogger("lull_hermes")

#: How long the agent's thread may wait for lull when a turn begins.
BEGIN_TIMEOUT = 0.25
#: The function whose frame is a Hermes turn (``agent/conversation_loop.py``).
TURN_FUNCTION = "run_conversation"


def turn_frame() -> FrameType | None:
    """The frame of the turn the calling code runs in: Hermes's ``run_conversation``."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == TURN_FUNCTION:
            return frame
        frame = frame.f_back
    return None


def session_is_gateway_turn(session: str) -> bool:
    """A turn of a chat (not a test's or a tool's direct call)."""
    return not session.startswith("hermes:")


def still_running(ident: int, frame: FrameType) -> bool:
    """Whether thread ``ident`` is still inside ``frame`` (the call has not returned)."""
    current = sys._current_frames().get(ident)
    while current is not None:
        if current is frame:
            return True
        current = current.f_back
    return False


@dataclass
class Turn:
    """One live turn: its thread, its session, and its lease once lull granted one."""

    turn_id: str
    session: str
    thread: threading.Thread
    #: The turn's ``run_conversation`` frame, when it was found: Hermes runs turns on a thread
    #: pool whose threads outlive them, and a turn can return without its end hook (early
    #: returns skip it), so a live thread proves nothing; a frame still on its stack does.
    frame: FrameType | None = None
    lease: str | None = None
    ended: bool = False
    #: A begin is in flight (the agent's thread, or a retry): no second one meanwhile.
    beginning: bool = False


@dataclass
class Runs:
    """The turns of this process and their leases. Thread-safe."""

    lull: Lull
    source: str
    _turns: dict[str, Turn] = field(default_factory=dict)
    #: The turn each thread runs now (a thread runs one turn at a time).
    _current: dict[int, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def begin(self, turn_id: str, session: str) -> None:
        """A turn began in the calling thread. Asks lull for a lease, waiting at most 250 ms."""
        if not turn_id:
            return
        thread = threading.current_thread()
        frame = turn_frame()
        if frame is None and session_is_gateway_turn(session):
            THROTTLED.warn(
                "frame",
                "lull: no %s frame around this turn (a Hermes this plugin does not know?): its lease is held while its thread lives",
                TURN_FUNCTION,
            )
        turn = Turn(turn_id=turn_id, session=session, thread=thread, frame=frame)
        with self._lock:
            self._turns[turn_id] = turn
            self._current[thread.ident or 0] = turn_id
        self._try_begin(turn, BEGIN_TIMEOUT)

    def _try_begin(self, turn: Turn, timeout: float) -> bool:
        with self._lock:
            if turn.beginning or turn.lease is not None:
                return False
            turn.beginning = True
        try:
            answer = self.lull.call(
                "POST",
                "/v1/runs",
                {"session": turn.session, "source": self.source},
                timeout=timeout,
            )
        except Unavailable:
            return False
        finally:
            with self._lock:
                turn.beginning = False
        if answer.status != 200:
            # 409 executing: maintenance is running; the turn goes on (Hermes is not held), and
            # the begin is tried again while it lives.
            return False
        with self._lock:
            if turn.ended:
                lease = answer.body.get("lease")
            else:
                turn.lease = answer.body.get("lease")
                lease = None
        if lease:
            # The turn ended while its begin was in flight: end the lease just granted.
            self._end_lease(lease, timeout)
        return True

    def end(self, turn_id: str) -> None:
        """A turn ended (completed, failed or interrupted). Ends its lease, waiting at most
        250 ms; a lease that could not be ended expires after lull's lease TTL."""
        with self._lock:
            turn = self._turns.pop(turn_id, None)
            if turn is None:
                return
            turn.ended = True
            ident = turn.thread.ident or 0
            if self._current.get(ident) == turn_id:
                del self._current[ident]
            lease = turn.lease
        if lease:
            self._end_lease(lease, BEGIN_TIMEOUT)

    def _end_lease(self, lease: str, timeout: float) -> None:
        try:
            self.lull.call("DELETE", f"/v1/runs/{lease}", {"source": self.source}, timeout=timeout)
        except Unavailable:
            pass

    def live(self) -> list[Turn]:
        """The turns that provably live: their thread still runs them (it is inside the turn's
        frame, or, where none was found, alive and not on to another turn). Turns that do not
        are forgotten (their lease, if any, expires on its own)."""
        with self._lock:
            alive = []
            for turn_id, turn in list(self._turns.items()):
                ident = turn.thread.ident or 0
                running = turn.thread.is_alive() and self._current.get(ident) == turn_id
                if running and turn.frame is not None:
                    running = still_running(ident, turn.frame)
                if running:
                    alive.append(turn)
                else:
                    log.info("turn %s no longer runs (its end was lost); letting its lease expire", turn_id)
                    del self._turns[turn_id]
                    if self._current.get(ident) == turn_id:
                        del self._current[ident]
            return alive

    def tend(self) -> None:
        """One round of the background thread: heartbeats the leases of live turns, and begins
        again those whose begin failed or whose lease lull forgot (410)."""
        for turn in self.live():
            if turn.lease is None:
                self._try_begin(turn, 2.0)
                continue
            try:
                answer = self.lull.call(
                    "POST",
                    f"/v1/runs/{turn.lease}/heartbeat",
                    {"session": turn.session, "source": self.source},
                )
            except Unavailable:
                continue
            if answer.status == 410:
                with self._lock:
                    turn.lease = None
                self._try_begin(turn, 2.0)

    def leases(self) -> dict[str, str | None]:
        """``turn_id`` → lease, for tests and status."""
        with self._lock:
            return {t: turn.lease for t, turn in self._turns.items()}
