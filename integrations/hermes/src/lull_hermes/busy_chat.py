"""``/maintenance`` in a chat whose turn is live, without interrupting that turn.

Hermes 0.19's platform adapters guard a chat with a live turn (``BasePlatformAdapter.
handle_message``): only commands that ``hermes_cli.commands.should_bypass_active_session``
resolves — built-in commands, looked up in ``_COMMAND_LOOKUP`` — reach the gateway at once;
anything else, a plugin's command included, is taken as a new prompt for the busy chat and
interrupts the live turn ("Interrupting current task"). The command that exists to protect live
turns would cut one.

So, once at load, and only when the installed Hermes looks as described:

- ``should_bypass_active_session`` also answers yes for ``maintenance`` (and the forms a
  Telegram group mention leaves, ``/maintenance@bot restart`` → ``maintenancerestart``): only
  lull's command, everything else as Hermes decides;
- the gateway then hands the message to its handler at once; there, the plugin's
  ``pre_gateway_dispatch`` sees that the chat has a live turn (Hermes would otherwise interrupt
  it further on, as plugin commands are not among its mid-turn commands) and takes the command
  off Hermes's path, relaying it from the plugin's thread and answering in the chat.

When Hermes's internals differ, nothing is changed and the log says so: ``/maintenance`` then
works in idle chats only. The upstream change that makes this unnecessary: let
``should_bypass_active_session`` (and the running-agent dispatch in ``gateway/run.py``) resolve
plugin commands too, as ``is_gateway_known_command`` already does.
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Any

log = logging.getLogger("lull_hermes")

#: lull's command as Hermes names it.
COMMAND = "maintenance"
#: lull's verbs, for the name Hermes's Telegram adapter makes of ``/maintenance@bot restart``
#: (it removes the mention and the space after it).
VERBS = ("help", "status", "restart", "update", "cancel", "approve", "reject", "history", "pause", "resume", "release")

#: Why the bypass is not installed (``None`` once it is).
not_installed: str | None = "not tried"


def is_lulls(command: str | None) -> bool:
    """Whether a command name Hermes extracted is lull's."""
    if not command:
        return False
    name = command.lower()
    return name == COMMAND or (name.startswith(COMMAND) and name[len(COMMAND) :] in VERBS)


def install() -> bool:
    """Lets ``/maintenance`` through Hermes's busy-chat guard; ``True`` when it is (or already
    was) installed. Never raises."""
    global not_installed
    try:
        from gateway.platforms import base
        from hermes_cli import commands
    except Exception as error:  # noqa: BLE001
        return _refuse(f"Hermes's gateway cannot be imported ({error})")
    original = getattr(commands, "should_bypass_active_session", None)
    if getattr(original, "lull_bypass", False):
        return True
    if not callable(original):
        return _refuse("hermes_cli.commands.should_bypass_active_session is missing")
    try:
        guard = inspect.getsource(base.BasePlatformAdapter.handle_message)
    except Exception as error:  # noqa: BLE001
        return _refuse(f"the busy-chat guard cannot be read ({error})")
    # The guard imports the function from its module at each call: replacing the module's
    # attribute reaches it. A Hermes that binds it otherwise would not see the change.
    if "from hermes_cli.commands import should_bypass_active_session" not in guard:
        return _refuse("BasePlatformAdapter.handle_message no longer imports should_bypass_active_session")

    @functools.wraps(original)  # keeps Hermes's own as __wrapped__
    def should_bypass_active_session(command_name: str | None) -> bool:
        return is_lulls(command_name) or original(command_name)

    should_bypass_active_session.lull_bypass = True  # type: ignore[attr-defined]
    commands.should_bypass_active_session = should_bypass_active_session
    not_installed = None
    return True


def _refuse(why: str) -> bool:
    global not_installed
    not_installed = why
    report()
    return False


def report() -> None:
    """Logs whether the bypass is installed. The plugin calls it again once the gateway runs:
    plugins load before Hermes's gateway sets up its log, which would lose a line logged then."""
    if not_installed is None:
        log.info("lull: /maintenance passes Hermes's busy-chat guard, so it never interrupts a live turn")
    else:
        log.warning(
            "lull: %s; /maintenance in a chat whose turn is live would interrupt that turn, so it is "
            "left to Hermes unchanged: use it in an idle chat, or `lull` on the host",
            not_installed,
        )


def chat_is_busy(gateway: Any, event: Any) -> bool:
    """Whether the chat of ``event`` has a live turn in the gateway (Hermes's own record of
    running agents, a turn still being set up included). No I/O: called on Hermes's loop."""
    try:
        key = gateway._session_key_for_source(event.source)
        return key in gateway._running_agents
    except Exception:  # noqa: BLE001 - an older or newer Hermes: not known to be busy
        return False


def reply_route(event: Any) -> tuple[str | None, dict | None]:
    """Where Hermes would answer ``event`` (the message to reply to, and the thread or topic),
    by its own helpers; ``(None, None)`` when they cannot be used. No I/O."""
    try:
        from gateway.platforms.base import _reply_anchor_for_event, _thread_metadata_for_source

        anchor = _reply_anchor_for_event(event)
        return (str(anchor) if anchor else None), _thread_metadata_for_source(event.source, anchor)
    except Exception:  # noqa: BLE001
        return None, None


def refusal(gateway: Any, event: Any) -> str | None:
    """Hermes's slash-command policy's refusal of ``/maintenance`` for this sender (``None``
    when it allows it, or has none): the check Hermes makes on its own path in an idle chat.
    Reads Hermes's config: off the event loop."""
    check = getattr(gateway, "_check_slash_access", None)
    if check is None:
        return None
    try:
        denied = check(event.source, COMMAND)
    except Exception:  # noqa: BLE001
        return None
    return str(denied) if denied else None
