#!/usr/bin/env node
// lull-openclaw: the commands lull's [executor] runs for an OpenClaw gateway (docs/openclaw.md).
//
//   lull-openclaw restart   `openclaw gateway restart --safe --json`; "scheduled" (or
//                           "coalesced" into one already scheduled) is followed until the
//                           gateway went down and is ready again; "deferred" (scheduled, but
//                           OpenClaw waits for active work it sees) is followed the same way
//                           until --timeout, and not success before: past it, exit 75 saying
//                           that the restart is still pending in OpenClaw
//   lull-openclaw update    `openclaw update --yes --no-restart --json`, then the restart above;
//                           exit 3 when nothing changed (lull's unchanged_exit_code)
//   lull-openclaw health    exit 0 once the gateway's /readyz answers 200 (within --timeout)
//
// Options: --timeout SECONDS (default 240, below lull's own timeout_seconds), --openclaw PATH
// (default: `openclaw` on PATH, or OPENCLAW_BIN), --port PORT (the gateway's; default
// OPENCLAW_GATEWAY_PORT, else 18789).

import { execFile } from "node:child_process";

/** Exit statuses lull reads. */
const UNCHANGED = 3;
const DEFERRED = 75;
/** How often the gateway's readiness is probed while it restarts. */
const PROBE_EVERY_MS = 100;
/** How long a scheduled restart may take to begin (OpenClaw restarts "momentarily"). */
const DOWN_WITHIN_MS = 60_000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether the gateway on `port` answers /readyz with 200. */
async function ready(port) {
  try {
    const answer = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
    return answer.status === 200;
  } catch {
    return false;
  }
}

/** Waits until `ready(port)` is `want`, at most until `deadline`; whether it came. */
async function until(port, want, deadline) {
  while (Date.now() < deadline) {
    if ((await ready(port)) === want) return true;
    await sleep(PROBE_EVERY_MS);
  }
  return false;
}

function option(args, name, fallback) {
  const at = args.indexOf(name);
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1] : fallback;
}

/** Runs `openclaw ARGS`; resolves {code, json, stdout, stderr}. */
function openclaw(bin, args, timeoutMs) {
  return new Promise((resolve) => {
    execFile(bin, args, { timeout: timeoutMs, maxBuffer: 8 << 20 }, (error, stdout, stderr) => {
      let json = null;
      try {
        json = JSON.parse(stdout);
      } catch {
        // Not JSON: reported with its text below.
      }
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, json, stdout, stderr });
    });
  });
}

/** Ends with `code` (1 for any failure of OpenClaw's own: its statuses are not lull's). */
function fail(code, message) {
  process.stderr.write(`lull-openclaw: ${message}\n`);
  process.exit(code);
}

async function restart(bin, port, deadline) {
  const answer = await openclaw(bin, ["gateway", "restart", "--safe", "--json"], Math.min(60_000, Math.max(1000, deadline - Date.now())));
  const result = answer.json?.result;
  if (answer.code !== 0 || !["scheduled", "coalesced", "deferred"].includes(result)) {
    fail(1, `openclaw gateway restart --safe failed (${answer.code}): ${(answer.stderr || answer.stdout).trim().slice(-2000)}`);
  }
  process.stdout.write(`OpenClaw restart ${result}: ${answer.json?.message ?? ""}\n`);
  // Done only once it happened: the gateway went down, and is ready again. A deferred restart is
  // scheduled too, behind the active work OpenClaw sees: followed until the timeout.
  const delay = Number(answer.json?.restart?.delayMs ?? 0);
  const downBy = result === "deferred" ? deadline : Math.min(deadline, Date.now() + delay + DOWN_WITHIN_MS);
  if (!(await until(port, false, downBy))) {
    if (result === "deferred") {
      const why = answer.json?.preflight?.summary ?? answer.json?.message ?? "active work";
      fail(DEFERRED, `OpenClaw deferred the restart and had not restarted by the timeout (${why}); it is still pending in OpenClaw, which restarts once that work drains`);
    }
    fail(1, `OpenClaw scheduled a restart, but the gateway on port ${port} did not go down`);
  }
  if (!(await until(port, true, deadline))) fail(1, `the gateway on port ${port} did not come back before the timeout`);
  process.stdout.write("OpenClaw is back\n");
}

async function update(bin, port, deadline) {
  const answer = await openclaw(bin, ["update", "--yes", "--no-restart", "--json"], Math.max(1000, deadline - Date.now()));
  const result = answer.json;
  if (answer.code !== 0 || result?.status === "error") {
    // Never OpenClaw's own status: its 3 would read as lull's "unchanged".
    fail(1, `openclaw update failed: ${result?.reason ?? (answer.stderr || answer.stdout).trim().slice(-2000)}`);
  }
  const before = result?.before?.version;
  const after = result?.after?.version;
  if (result?.status === "skipped" || (before && before === after)) {
    process.stdout.write(`OpenClaw is already current (${after ?? before ?? result?.reason ?? "unchanged"})\n`);
    process.exit(UNCHANGED);
  }
  process.stdout.write(`OpenClaw updated ${before ?? "?"} → ${after ?? "?"}\n`);
  await restart(bin, port, deadline);
}

async function main() {
  const args = process.argv.slice(2);
  const bin = option(args, "--openclaw", process.env.OPENCLAW_BIN || "openclaw");
  const timeout = Number(option(args, "--timeout", "240"));
  if (!Number.isFinite(timeout) || timeout <= 0) fail(2, `--timeout takes a number of seconds, not ${option(args, "--timeout")}`);
  const port = Number(option(args, "--port", process.env.OPENCLAW_GATEWAY_PORT || "18789"));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) fail(2, `--port takes a port number, not ${option(args, "--port")}`);
  const deadline = Date.now() + timeout * 1000;
  switch (args[0]) {
    case "restart":
      return restart(bin, port, deadline);
    case "update":
      return update(bin, port, deadline);
    case "health":
      if (!(await until(port, true, deadline))) fail(1, `the gateway on port ${port} is not ready (GET /readyz)`);
      return;
    default:
      fail(2, "usage: lull-openclaw restart|update|health [--timeout SECONDS] [--openclaw PATH] [--port PORT]");
  }
}

main().catch((error) => fail(1, error?.stack ?? String(error)));
