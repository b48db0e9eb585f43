// End to end in the real OpenClaw gateway (Node 24, openclaw from the npm registry; see
// scripts/test): a slow turn holds a queued restart as a live run, its end lets it run;
// `/maintenance` through `chat.send` is answered in the chat; the mock model's tool call reaches
// lull with the turn's chat; lull's notices reach the chat.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { World, waitFor } from "../support/world.js";

let world;

before(async () => {
  world = await World.open();
});

after(async () => {
  await world?.close();
});

/** Runs `body`, adding every process's output to a failure. */
async function explained(body) {
  try {
    await body();
  } catch (error) {
    error.message += `\n${world.logs()}`;
    throw error;
  }
}

test("the gateway is a source in lull, and /maintenance status is answered in the chat", () =>
  explained(async () => {
    await waitFor("the source openclaw", async () => (await world.status()).sources.some((s) => s.name === "openclaw"));
    // A session exists once it had a turn.
    await world.send("ops", "hello");
    await world.waitForLine("ops", /^assistant: ok$/);
    await world.send("ops", "/maintenance status");
    await world.waitForLine("ops", /^assistant: .*Queue/);
  }));

test("a slow turn holds a queued restart, and its end lets it run; the notices reach the chat", () =>
  explained(async () => {
    await world.send("main", "hold this turn");
    const live = await waitFor("the turn as a live run", async () =>
      (await world.status()).live_runs.find((run) => run.session === "agent:main:main"),
    );
    assert.ok(live.since);
    await world.send("ops", "/maintenance restart --idle 0 installed jq");
    await world.waitForLine("ops", /^assistant: Queued restart/);
    const held = await world.status();
    assert.equal(held.open.length, 1, JSON.stringify(held.open));
    assert.equal(held.open[0].requested_by[0].user_id, "webchat:cli");
    assert.ok(held.blockers.some((b) => b.kind === "live_runs"), JSON.stringify(held.blockers));
    assert.equal(world.restarts(), 0, "restarted over a live turn");

    await world.release();
    await waitFor("the restart to run", () => world.restarts() === 1);
    const done = await waitFor("the restart to finish", async () => {
      const status = await world.status();
      return status.last_finished?.state === "succeeded" && status;
    });
    assert.equal(done.live_runs.length, 0);
    await world.waitForLine("ops", /starting now/);
    await world.waitForLine("ops", /Back online: restart/);
  }));

test("the model's tool call reaches lull with the turn's chat", () =>
  explained(async () => {
    await world.send("main", "please use the tool");
    await world.waitForLine("main", /^assistant: The maintenance request is queued\.$/);
    const status = await world.status();
    assert.equal(status.open.length, 1, JSON.stringify(status.open));
    const asker = status.open[0].requested_by[0];
    assert.equal(asker.user_id, "openclaw");
    assert.equal(asker.chat, "webchat:agent:main:main");
    assert.equal(status.open[0].reason, "installed jq");
  }));
