// Runs with a clock the test moves: a run whose end never came stops holding maintenance after
// `maxRunMs`, and a lease lull forgot (410) is begun again.

import assert from "node:assert/strict";
import { test } from "node:test";

import { Runs, sessionName } from "../../src/runs.js";

/** A lull that answers from a script and records the calls. */
function scripted(answers) {
  const calls = [];
  return {
    calls,
    throttled: { warn() {} },
    async call(method, route, body) {
      calls.push(`${method} ${route.replace(/[0-9a-f]{8,}/, "LEASE")}`);
      const answer = answers[`${method} ${route.split("/").slice(0, 4).join("/")}`] ?? { status: 200, body: {} };
      return typeof answer === "function" ? answer(body) : answer;
    },
  };
}

test("a run whose end is lost is no longer heartbeaten after maxRunMs", async () => {
  let now = 0;
  const lull = scripted({ "POST /v1/runs": { status: 200, body: { lease: "aaaaaaaaaa" } } });
  const runs = new Runs(lull, { source: "s", maxRunMs: 60_000, now: () => now });
  await runs.start("r1", "agent:main:a");
  await runs.tend();
  assert.deepEqual(lull.calls, ["POST /v1/runs", "POST /v1/runs/LEASE/heartbeat"]);
  now = 61_000;
  await runs.tend();
  assert.deepEqual(runs.leases(), {}, "forgotten: its lease expires on lull's TTL");
  assert.equal(lull.calls.length, 2);
});

test("a lease lull forgot is begun again, and a start while maintenance runs is retried", async () => {
  let begins = 0;
  const lull = scripted({
    "POST /v1/runs": () => (++begins === 1 ? { status: 409, body: { error: { code: "executing" } } } : { status: 200, body: { lease: `bbbbbbbbb${begins}` } }),
    "POST /v1/runs/bbbbbbbbb2": { status: 410, body: {} },
  });
  const runs = new Runs(lull, { source: "s", maxRunMs: 60_000 });
  await runs.start("r1", "agent:main:a");
  assert.deepEqual(runs.leases(), { r1: null }, "maintenance was running: no lease yet");
  await runs.tend();
  assert.deepEqual(runs.leases(), { r1: "bbbbbbbbb2" });
  await runs.tend();
  assert.deepEqual(runs.leases(), { r1: "bbbbbbbbb3" }, "begun again after 410");
});

test("session names are what lull accepts", () => {
  assert.equal(sessionName("agent:main:a\nb", "r"), "agent:main:a b");
  assert.equal([...sessionName("x".repeat(300), "r")].length, 200);
  assert.equal(sessionName(undefined, "r7"), "openclaw:run:r7");
});
