"""Whether a Hermes gateway has background work that a restart would kill.

Hermes's own scale-to-zero check (``GatewayRunner._scale_to_zero_has_live_background_work``)
cannot be used: it counts every unfinished task in ``_background_tasks``, and a running 0.19
gateway keeps its permanent watchers there (session expiry, kanban, reconnects, hand-offs,
delegation and drain watchers, the loop heartbeat) for its whole life, so it is always true and
held every restart forever. This module counts what is real work: delegated agents in flight,
background processes and their pending watchers, and tasks in ``_background_tasks`` that are
not one of Hermes's permanent ones (a process watcher, a resumed turn, anything new).

An unknown task counts as work: a Hermes that adds a permanent watcher makes lull wait (and the
plugin's log names the task), never restart over live work.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("lull_hermes")

#: The coroutine functions of Hermes 0.19's permanent gateway tasks, which live as long as the
#: gateway and are no work of anyone's. By name, not qualified name: some are defined on mixins
#: (``GatewayKanbanWatchersMixin``) that move between versions. ``_respawn`` is the
#: supervisor's wait before it starts one of them again.
PERMANENT_TASKS = frozenset(
    {
        "_session_expiry_watcher",
        "_kanban_notifier_watcher",
        "_kanban_dispatcher_watcher",
        "_platform_reconnect_watcher",
        "_handoff_watcher",
        "_async_delegation_watcher",
        "_scale_to_zero_watcher",
        "_drain_control_watcher",
        "_run_secondary_profile_reconnect",
        "_respawn",
        "loop_heartbeat_forever",
    }
)


def task_name(task: Any) -> str:
    """The name of the coroutine function a task runs ('' when it cannot be told)."""
    try:
        coro = task.get_coro()
    except Exception:  # noqa: BLE001
        return ""
    return str(getattr(coro, "__name__", "") or "")


def _unfinished_tasks(runner: Any) -> list[Any]:
    """The runner's unfinished background tasks. Read from the plugin's thread while Hermes's
    loop may change the set: a copy that trips on a change is taken again."""
    tasks = getattr(runner, "_background_tasks", None) or ()
    for _ in range(5):
        try:
            return [task for task in list(tasks) if not task.done()]
        except RuntimeError:  # the set changed size while copied
            continue
    raise RuntimeError("the gateway's background tasks kept changing while read")


def live_work(runner: Any) -> list[str]:
    """What background work the gateway has now that a restart would kill, by name (empty when
    none). Raises when Hermes's state could not be read (the caller keeps what it holds)."""
    work = [
        f"task {task_name(task) or 'unnamed'}"
        for task in _unfinished_tasks(runner)
        if task_name(task) not in PERMANENT_TASKS
    ]
    try:
        from tools.async_delegation import active_count

        if (delegations := active_count()) > 0:
            work.append(f"{delegations} delegated agent(s)")
    except ImportError:
        pass
    try:
        from tools.process_registry import process_registry

        if process_registry.has_any_active():
            work.append("background processes")
        if process_registry.pending_watchers:
            work.append("background process watchers")
    except ImportError:
        pass
    return work
