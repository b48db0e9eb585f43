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

import asyncio
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


#: Work Hermes starts outside ``_background_tasks`` (a bare ``create_task`` on its loop): the
#: watcher of a background process started during a turn, which delivers its completion.
WORK_OUTSIDE_THE_SET = frozenset({"_run_process_watcher"})


def _copy(tasks: Any) -> list[Any]:
    """A copy of a set of tasks that Hermes's loop may change meanwhile (read from the plugin's
    thread): a copy that trips on a change is taken again."""
    for _ in range(5):
        try:
            return list(tasks)
        except RuntimeError:  # the set changed size while copied
            continue
    raise RuntimeError("the gateway's tasks kept changing while read")


def live_work(runner: Any) -> list[str]:
    """What background work the gateway has now that a restart would kill, by name (empty when
    none). A part that cannot be read counts as work (named so): lull then waits, and the log
    says why, rather than restart over work it could not see."""
    work = [
        f"task {task_name(task) or 'unnamed'}"
        for task in _copy(getattr(runner, "_background_tasks", None) or ())
        if not task.done() and task_name(task) not in PERMANENT_TASKS
    ]
    loop = getattr(runner, "_gateway_loop", None)
    if loop is not None:
        try:
            outside = [t for t in asyncio.all_tasks(loop) if not t.done() and task_name(t) in WORK_OUTSIDE_THE_SET]
        except Exception as error:  # noqa: BLE001
            work.append(f"unknown (the gateway's tasks could not be read: {error})")
        else:
            work.extend(f"task {task_name(task)}" for task in outside)
    try:
        from tools.async_delegation import active_count

        if (delegations := active_count()) > 0:
            work.append(f"{delegations} delegated agent(s)")
    except Exception as error:  # noqa: BLE001 - a Hermes that changed: not known to be idle
        work.append(f"unknown (delegations could not be read: {error})")
    try:
        from tools.process_registry import process_registry

        if process_registry.has_any_active():
            work.append("background processes")
        if process_registry.pending_watchers:
            work.append("background process watchers")
    except Exception as error:  # noqa: BLE001
        work.append(f"unknown (background processes could not be read: {error})")
    return work
