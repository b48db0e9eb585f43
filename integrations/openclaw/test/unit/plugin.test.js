// The plugin against this build's `lull serve` (LULL_BIN), registered into a recording fake of
// OpenClaw's `api`: what it registers in each mode, runs as leases, activity, `/maintenance`
// typed and as a command, answers to lull's prompts, the tool, notices, and lull being away.
// Runs on any Node >= 20 (Debian's included).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import path from "node:path";

import { FakeApi } from "../support/fake-api.js";
import { LullServer, waitFor } from "../support/lull.js";

let lull;
let loaded = 0;

before(async () => {
  lull = await LullServer.start();
  // The plugin keeps the notices it sent in OpenClaw's state directory: this test's own.
  process.env.OPENCLAW_STATE_DIR = path.join(lull.dir, "openclaw");
});

after(async () => {
  await lull?.close();
});

/** A fresh copy of the plugin (its state is per process), registered into a fake api. */
async function plugin(options = {}) {
  loaded += 1;
  const module = await import(`../../index.js?copy=${loaded}`);
  const api = new FakeApi({
    pluginConfig: { socket: lull.socket, heartbeatSeconds: 1, ...(options.pluginConfig ?? {}) },
    registrationMode: options.registrationMode ?? "full",
  });
  module.default.register(api);
  return api;
}

const liveSessions = async () => (await lull.status()).live_runs.map((run) => run.session);

test("discovery registers the command and the tool only; full adds the hooks and the service", async () => {
  const discovery = await plugin({ registrationMode: "discovery" });
  assert.deepEqual(discovery.commands.map((c) => c.name), ["maintenance"]);
  assert.ok(discovery.commands[0].description, "OpenClaw requires a description");
  assert.deepEqual(discovery.tools.map((t) => t.options.name), ["gateway_maintenance"]);
  assert.equal(discovery.hooks.size, 0);
  assert.equal(discovery.services.length, 0);
  const full = await plugin();
  assert.deepEqual([...full.hooks.keys()].sort(), ["before_agent_run", "before_dispatch", "gateway_stop", "message_received"]);
  assert.equal(full.services.length, 1);
  assert.equal(full.subscriptions[0].streams[0], "lifecycle");
});

test("a run is a lease from its first start to its end, begun once however often start repeats", async () => {
  const api = await plugin();
  api.lifecycle("run-1", "start", "agent:main:telegram:dm:42");
  api.lifecycle("run-1", "start", "agent:main:telegram:dm:42");
  await waitFor("the lease", async () => (await liveSessions()).includes("agent:main:telegram:dm:42"));
  assert.equal((await liveSessions()).length, 1);
  api.lifecycle("run-1", "end");
  await waitFor("the lease's end", async () => (await liveSessions()).length === 0);
  // An error ends it too; a run announced by before_agent_run is the same run at its start.
  await api.fire("before_agent_run", { prompt: "hi", messages: [] }, { runId: "run-2", sessionKey: "agent:main:x" });
  api.lifecycle("run-2", "start", "agent:main:x");
  await waitFor("the lease", async () => (await liveSessions()).includes("agent:main:x"));
  assert.equal((await liveSessions()).length, 1);
  api.lifecycle("run-2", "error");
  await waitFor("the lease's end", async () => (await liveSessions()).length === 0);
});

test("the service heartbeats the source and live leases, and gateway_stop ends open leases", async () => {
  const api = await plugin({ pluginConfig: { source: "openclaw-unit" } });
  await api.services[0].start({});
  try {
    await waitFor("the source", async () => (await lull.status()).sources.some((s) => s.name === "openclaw-unit"));
    api.lifecycle("run-3", "start", "agent:main:y");
    await waitFor("the lease", async () => (await liveSessions()).includes("agent:main:y"));
    // A plugin reload stops the plugins, not the runs.
    await api.fire("gateway_stop", { reason: "plugin replacement" }, {});
    assert.deepEqual(await liveSessions(), ["agent:main:y"]);
    await api.fire("gateway_stop", { reason: "test" }, {});
    assert.equal((await liveSessions()).length, 0);
  } finally {
    await api.services[0].stop({});
  }
});

test("a message is activity, a /maintenance one is not", async () => {
  const api = await plugin({ pluginConfig: { source: "openclaw-activity" } });
  await api.fire("message_received", { from: "42", content: "/maintenance status" }, { channelId: "telegram" });
  await api.fire("message_received", { from: "42", content: "hello" }, { channelId: "telegram" });
  await waitFor("the activity", async () => (await lull.status()).sources.some((s) => s.name === "openclaw-activity"));
});

test("/maintenance typed in a chat is relayed once per message and answered; other text is left alone", async () => {
  const api = await plugin();
  const event = { content: "/maintenance restart installed jq", channel: "telegram", senderId: "42", messageId: "7001" };
  const ctx = { channelId: "telegram", conversationId: "-100", senderId: "42", messageId: "7001" };
  const first = await api.fire("before_dispatch", event, ctx);
  assert.equal(first.handled, true);
  assert.match(first.text, /Queued restart `(r\w+)`/);
  const again = await api.fire("before_dispatch", event, ctx);
  assert.equal(again.handled, true, "a redelivered message is answered, not applied twice");
  const open = (await lull.status()).open;
  assert.equal(open.length, 1);
  assert.equal(open[0].requested_by[0].user_id, "telegram:42");
  assert.equal(open[0].requested_by[0].chat, "telegram:-100");
  assert.equal(open[0].requested_by[0].count, 1, "applied once");
  assert.equal(await api.fire("before_dispatch", { content: "hello", channel: "telegram" }, ctx), undefined);
  // An answer that does not reply to one of lull's messages is the agent's business.
  assert.equal(await api.fire("before_dispatch", { content: `cancel ${open[0].short_id}`, channel: "telegram" }, ctx), undefined);
  // The native command form.
  const status = await api.commands[0].handler({ channel: "telegram", senderId: "42", to: "-100", args: "status" });
  assert.match(status.text, /restart `r\w+`/);
  await lull.run(["cancel", open[0].short_id]);
});

test("notices go out through the channel's adapter, once, and a reply to one answers it", async () => {
  const api = await plugin();
  await api.services[0].start({});
  try {
    // A request queued from a chat: its notices go back there.
    await api.fire(
      "before_dispatch",
      { content: "/maintenance restart --idle 1h notice test", channel: "telegram", senderId: "42", messageId: "7101" },
      { conversationId: "-100", senderId: "42", messageId: "7101" },
    );
    const open = (await lull.status()).open[0];
    // An admin elsewhere cancels it: the requester's chat hears of it.
    await lull.run(["cancel", open.short_id]);
    const mine = () => api.sent.filter((s) => s.text.includes(`${open.short_id}\` was cancelled`));
    const notice = await waitFor("the notice", () => mine()[0]);
    assert.equal(notice.to, "-100");
    // Once sent and acknowledged, it is not sent again.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(mine().length, 1, JSON.stringify(api.sent));
    // "cancel r…" as a reply to lull's message is relayed as an answer to it.
    const messageId = String(900 + api.sent.indexOf(notice) + 1);
    const answer = await api.fire(
      "before_dispatch",
      { content: `cancel ${open.short_id}`, channel: "telegram", senderId: "42", messageId: "7102", replyToId: messageId },
      { conversationId: "-100", senderId: "42", messageId: "7102" },
    );
    assert.equal(answer.handled, true);
    assert.match(answer.text, /already|cancelled|nothing/i, answer.text);
  } finally {
    await api.services[0].stop({});
  }
});

test("a native command whose target carries its channel is the same chat and sender", async () => {
  const api = await plugin();
  const reply = await api.commands[0].handler({ channel: "telegram", senderId: "telegram:42", to: "telegram:-300", args: "restart --idle 1h" });
  assert.match(reply.text, /Queued restart/);
  const asker = (await lull.status()).open[0].requested_by[0];
  assert.deepEqual([asker.user_id, asker.chat], ["telegram:42", "telegram:-300"]);
  await lull.run(["cancel", (await lull.status()).open[0].short_id]);
});

test("the tool queues with the agent's name and the turn's chat", async () => {
  const api = await plugin();
  const tool = api.tools[0].factory({ sessionKey: "agent:main:telegram:group:-100", deliveryContext: { channel: "telegram", to: "-100" } });
  assert.equal(tool.name, "gateway_maintenance");
  assert.equal(tool.parameters.properties.agent, undefined, "the agent is the plugin's, not the model's");
  const result = await tool.execute("call-1", { action: "queue_restart", reason: "installed jq" });
  assert.equal(result.details.ok, true, JSON.stringify(result.details));
  const open = (await lull.status()).open;
  assert.equal(open[0].requested_by[0].user_id, "openclaw");
  assert.equal(open[0].requested_by[0].chat, "telegram:-100");
  await lull.run(["cancel", open[0].short_id]);
});

test("with lull away nothing throws: the command says so, the tool says so, runs go on", async () => {
  const api = await plugin({ pluginConfig: { socket: path.join(lull.dir, "nowhere.sock") } });
  const reply = await api.commands[0].handler({ channel: "telegram", senderId: "42", to: "-100", args: "restart" });
  assert.match(reply.text, /not reachable/);
  const tool = api.tools[0].factory({});
  const result = await tool.execute("call-2", { action: "status" });
  assert.equal(result.details.error.code, "unavailable");
  api.lifecycle("run-9", "start", "agent:main:z");
  api.lifecycle("run-9", "end");
  await api.services[0].start({});
  await api.services[0].stop({});
  assert.ok(api.warnings.some((w) => /not reachable/.test(w)), api.warnings.join("\n"));
});
