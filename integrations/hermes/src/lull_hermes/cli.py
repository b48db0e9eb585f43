"""``lull-hermes``: safe executor commands for ``lull.toml``, each for one Hermes profile.

- ``restart``: writes Hermes's drain marker (no new turns), waits, bounded, until no agent runs,
  then restarts the gateway through its service manager (systemd or launchd). Without one it
  fails with a clear message: it never runs a gateway in the foreground.
- ``update``: upgrades ``hermes-agent`` where it is installed (pip, uv or pipx); exit 3 when
  nothing changed, so lull restarts nothing.
- ``health``: waits, bounded, until a new gateway process is up and this plugin's activity
  source has announced itself to lull since that process started.

Exit statuses: 0 done, 1 failed (with the reason on stderr), 2 usage, 3 update: unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

EXIT_FAILED = 1
EXIT_UNCHANGED = 3
PACKAGE = "hermes-agent"


class Failed(Exception):
    """The command cannot do what it was asked; the message says why."""


def hermes_home(profile: str | None) -> Path:
    """The Hermes home of ``profile`` (``HERMES_HOME``, else the default profile's)."""
    if profile:
        from hermes_cli.profiles import get_profile_dir

        return get_profile_dir(profile)
    if os.environ.get("HERMES_HOME"):
        return Path(os.environ["HERMES_HOME"])
    from hermes_cli.profiles import get_profile_dir

    return get_profile_dir("default")


def _restart_record(home: Path) -> Path:
    return home / "lull_restart.json"


def _gateway_pid(home: Path) -> int | None:
    """The pid in the gateway's pid file, if that process is alive."""
    try:
        raw = (home / "gateway.pid").read_text().strip()
        pid = int(json.loads(raw)["pid"]) if raw.startswith("{") else int(raw)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


def _active_agents(home: Path) -> int:
    """Agents the gateway says are running (its runtime status); 0 when it says nothing."""
    try:
        from gateway.status import parse_active_agents, read_runtime_status

        status = read_runtime_status(home / "gateway_state.json") or {}
        return parse_active_agents(status.get("active_agents"))
    except Exception:  # noqa: BLE001 - no status file, or an older Hermes
        return 0


def _gateway_state(home: Path) -> str | None:
    """What the gateway's runtime status says it is doing (``running``, ``draining``, …)."""
    try:
        from gateway.status import read_runtime_status

        return (read_runtime_status(home / "gateway_state.json") or {}).get("gateway_state")
    except Exception:  # noqa: BLE001
        return None


def _service_command(home: Path) -> list[str]:
    """The command that restarts this profile's gateway through its service manager."""
    os.environ["HERMES_HOME"] = str(home)
    from hermes_cli import gateway as hermes_gateway

    scopes = hermes_gateway.get_installed_systemd_scopes()
    name = hermes_gateway.get_service_name()
    if "user" in scopes:
        # Hermes's own: it fills in XDG_RUNTIME_DIR and the D-Bus address lull's cleared
        # environment lacks.
        return [*hermes_gateway._systemctl_cmd(False), "restart", name]
    if "system" in scopes:
        return [*hermes_gateway._systemctl_cmd(True), "restart", name]
    if hermes_gateway.is_macos() and hermes_gateway.get_launchd_plist_path().exists():
        domain = hermes_gateway._launchd_domain()
        return ["launchctl", "kickstart", "-k", f"{domain}/{hermes_gateway.get_launchd_label()}"]
    raise Failed(
        f"no service manager runs the Hermes gateway of {home} (no systemd unit {name}.service, no launchd job): "
        "lull-hermes will not start a gateway in the foreground. Install the service with "
        "`hermes gateway install`, or give executor.restart your own restart command."
    )


def _record(home: Path, **fields) -> None:
    """Updates ``lull_restart.json``: who drains (``writer``, so a plugin can lift a drain whose
    writer was killed) and which gateway process is the old one (for ``health``)."""
    path = _restart_record(home)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        record = {}
    record.update(fields)
    path.write_text(json.dumps(record))


def _run(command: list[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, capture_output=True, text=True)
    except OSError as error:
        raise Failed(f"cannot run {command[0]}: {error}") from error


def restart(home: Path, drain_timeout: float) -> None:
    command = _service_command(home)
    from gateway.drain_control import clear_drain_request, write_drain_request

    _record(home, writer=os.getpid(), old_pid=None, at=time.time())
    write_drain_request(principal="lull", suppress_notification=True, home=home)
    try:
        deadline = time.monotonic() + drain_timeout
        if _gateway_pid(home) is not None:
            # The gateway notices the marker within a second; until it says it drains, a turn
            # may still begin, and its count of agents is not yet to be trusted.
            while _gateway_state(home) != "draining":
                if time.monotonic() >= deadline:
                    raise Failed(f"the gateway did not start draining within {drain_timeout:.0f} s; not restarting")
                time.sleep(0.2)
        while _gateway_pid(home) is not None and (running := _active_agents(home)) > 0:
            if time.monotonic() >= deadline:
                raise Failed(
                    f"{running} agent(s) still running after {drain_timeout:.0f} s of drain; not restarting "
                    "(lull asks again when the gateway is idle)"
                )
            time.sleep(1.0)
        _record(home, old_pid=_gateway_pid(home))
        done = _run(command)
        if done.returncode != 0:
            raise Failed(f"`{' '.join(command)}` failed ({done.returncode}): {done.stderr.strip()}")
    finally:
        clear_drain_request(home=home)


def _prefix(python: str) -> Path:
    """The environment ``python`` runs in (its ``sys.prefix``: a virtual environment's own
    directory, not the interpreter its symlink points to)."""
    done = subprocess.run([python, "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True)
    if done.returncode != 0:
        raise Failed(f"cannot run {python}: {done.stderr.strip()[-300:]}")
    return Path(done.stdout.strip())


def _installer(python: str) -> list[str]:
    """How ``hermes-agent`` is upgraded in the environment of ``python``."""
    prefix = _prefix(python)
    text = str(prefix)
    if "/pipx/venvs/" in text:
        return ["pipx", "upgrade", PACKAGE]
    if "/uv/tools/" in text:
        return ["uv", "tool", "upgrade", PACKAGE]
    config = prefix / "pyvenv.cfg"
    if config.exists() and "\nuv = " in "\n" + config.read_text():
        return ["uv", "pip", "install", "--python", python, "--upgrade", PACKAGE]
    return [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--upgrade", PACKAGE]


def _version(python: str) -> str:
    done = subprocess.run(
        [python, "-c", f"import importlib.metadata as m; print(m.version({PACKAGE!r}))"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise Failed(f"{PACKAGE} is not installed in the environment of {python}: {done.stderr.strip()[-300:]}")
    return done.stdout.strip()


def update(python: str, extra: list[str]) -> bool:
    """Upgrades ``hermes-agent``; ``True`` when its version changed."""
    if not Path(python).exists():
        raise Failed(f"{python} does not exist: give --python the interpreter Hermes runs with")
    before = _version(python)
    command = _installer(python) + extra
    done = _run(command)
    if done.returncode != 0:
        raise Failed(f"`{shlex.join(command)}` failed ({done.returncode}): {done.stderr.strip()[-600:]}")
    after = _version(python)
    print(f"{PACKAGE} {before} → {after}" if after != before else f"{PACKAGE} {before} is up to date")
    return after != before


def _source_seen(socket_path: Path | None, source: str) -> datetime | None:
    from .client import Lull, Unavailable

    try:
        answer = Lull(socket_path).call("GET", "/v1/status", timeout=5.0)
    except Unavailable:
        return None
    for entry in (answer.body or {}).get("sources", []):
        if entry.get("name") == source and entry.get("last_seen"):
            return datetime.fromisoformat(entry["last_seen"].replace("Z", "+00:00"))
    return None


def health(home: Path, socket_path: Path | None, source: str, timeout: float) -> None:
    """Waits until a new gateway is up and its plugin announced itself since it started."""
    try:
        old = json.loads(_restart_record(home).read_text()).get("old_pid")
    except (OSError, ValueError, AttributeError):
        old = None
    deadline = time.monotonic() + timeout
    reason = "not checked"
    while True:
        pid = _gateway_pid(home)
        if pid is None:
            reason = f"no gateway process is running for {home}"
        elif old is not None and pid == old:
            reason = f"the gateway process is still the old one (pid {pid})"
        elif _gateway_state(home) not in (None, "running"):
            reason = f"the gateway (pid {pid}) is {_gateway_state(home)}, not running yet"
        else:
            try:
                started = datetime.fromtimestamp((home / "gateway.pid").stat().st_mtime, timezone.utc)
            except OSError:
                started = datetime.now(timezone.utc)
            seen = _source_seen(socket_path, source)
            if seen is not None and seen >= started:
                print(f"gateway pid {pid} is up and announced itself to lull at {seen.isoformat()}")
                return
            reason = f"the gateway (pid {pid}) has not announced itself to lull as {source!r} since it started"
        if time.monotonic() >= deadline:
            raise Failed(f"unhealthy after {timeout:.0f} s: {reason}")
        time.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lull-hermes", description=__doc__.split("\n\n")[0])
    parser.add_argument("-p", "--profile", help="the Hermes profile (default: HERMES_HOME, else the default profile)")
    commands = parser.add_subparsers(dest="command", required=True)
    r = commands.add_parser("restart", help="drain, then restart the gateway through its service manager")
    r.add_argument("--drain-timeout", type=float, default=300, help="seconds to wait for running agents (300)")
    u = commands.add_parser("update", help="upgrade hermes-agent; exit 3 when nothing changed")
    u.add_argument("--python", default=sys.executable, help="the interpreter Hermes runs with (this one)")
    u.add_argument("--pip-arg", action="append", default=[], help="an extra installer argument (repeatable)")
    h = commands.add_parser("health", help="wait until the new gateway is up and announced itself to lull")
    h.add_argument("--timeout", type=float, default=120, help="seconds to wait (120)")
    h.add_argument("--lull-socket", type=Path, help="lull's control socket (default: LULL_SOCKET or ~/.lull)")
    h.add_argument("--source", default=os.environ.get("LULL_SOURCE") or "hermes", help="the plugin's source (hermes)")
    args = parser.parse_args(argv)
    # lull stops a command with SIGTERM first: end as on a failure, lifting a drain on the way.
    signal.signal(signal.SIGTERM, _terminated)
    try:
        if args.command == "update":
            return 0 if update(args.python, args.pip_arg) else EXIT_UNCHANGED
        home = hermes_home(args.profile)
        if args.command == "restart":
            restart(home, args.drain_timeout)
        else:
            health(home, args.lull_socket, args.source, args.timeout)
        return 0
    except Failed as error:
        print(f"lull-hermes {args.command}: {error}", file=sys.stderr)
        return EXIT_FAILED


def _terminated(signum, frame) -> None:
    raise Failed("stopped (SIGTERM)")


if __name__ == "__main__":
    sys.exit(main())
