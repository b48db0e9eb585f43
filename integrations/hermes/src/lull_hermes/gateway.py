"""The running Hermes gateway, as the plugin and the relay both need it.

A module of its own so that :mod:`lull_hermes.relay` can reach the gateway (its adapters, its
event loop) without importing :mod:`lull_hermes.plugin`, which imports the relay: imports within
the package then point one way only.
"""

from __future__ import annotations

import sys
from typing import Any


def gateway_runner() -> Any | None:
    """The running gateway, when this process is the Hermes gateway (not the CLI, cron or a
    worker)."""
    # Read from sys.modules, never imported: outside the gateway, gateway.run is not loaded and
    # importing it would pull in the whole gateway for nothing.
    module = sys.modules.get("gateway.run")
    ref = getattr(module, "_gateway_runner_ref", None) if module else None
    try:
        return ref() if ref else None
    except Exception:  # noqa: BLE001 - never raise into Hermes
        return None
