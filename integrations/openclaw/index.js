// lull for OpenClaw: the gateway's agent runs hold maintenance back, its users type
// `/maintenance`, its agents get the `gateway_maintenance` tool, and lull's notices are sent
// through its channels (docs/openclaw.md).
//
// `register()` runs more than once per process (OpenClaw's registration modes): the plugin's
// state lives at module level, and its side effects start only from the service's `start`.
// Nothing here throws into OpenClaw, and every call to lull is bounded.

import os from "node:os";

import { Lull, Unavailable } from "./src/lull.js";
import { Notices } from "./src/notices.js";
import { SentMessages, ANSWER, isMaintenance, relay } from "./src/relay.js";
import { Runs } from "./src/runs.js";
import { sender } from "./src/send.js";
import { TOOL_SCHEMA, callTool } from "./src/tool.js";

const TOOL_NAME = "gateway_maintenance";

/** The plugin's settings (`plugins.entries.lull.config`), with their defaults. */
export function settingsOf(config = {}) {
  return {
    socket: config.socket,
    url: config.url,
    token: config.token,
    source: config.source || "openclaw",
    agent: config.agent || "openclaw",
    heartbeatMs: (config.heartbeatSeconds ?? 20) * 1000,
    maxRunMs: (config.maxRunMinutes ?? 240) * 60_000,
  };
}

/** The state every registration of this process shares. */
let shared = null;

function state(api) {
  if (shared) {
    // The latest full registration's api is the one in effect (its config, its runtime); an
    // earlier one may be a metadata-only registration whose runtime cannot be used.
    if (!api.registrationMode || api.registrationMode === "full") shared.api = api;
    return shared;
  }
  const settings = settingsOf(api.pluginConfig ?? {});
  const lull = client(settings, api.logger);
  const sent = new SentMessages();
  shared = {
    api,
    settings,
    lull,
    sent,
    runs: new Runs(lull, { source: settings.source, maxRunMs: settings.maxRunMs }),
    notices: null,
    stopping: null,
  };
  const current = shared;
  current.notices = new Notices(lull, {
    consumer: `openclaw-${os.hostname()}-${process.pid}`,
    send: sender(() => current.api, sent),
  });
  return shared;
}

/** The client of lull the settings name; a `url` that is not an `http:` URL is logged and the
 * socket used instead (a bad setting must not keep OpenClaw from loading the plugin). */
function client(settings, logger) {
  let url = settings.url;
  if (url) {
    try {
      if (new URL(url).protocol !== "http:") throw new Error("only http: is spoken");
    } catch (error) {
      logger?.warn?.(`lull plugin: url ${JSON.stringify(url)} is not an http:// URL (${error.message}); using the socket`);
      url = undefined;
    }
  }
  return new Lull({ socket: settings.socket, url, token: settings.token, logger });
}

/** Runs `work` without letting it throw into OpenClaw. */
function quietly(s, what, work) {
  Promise.resolve()
    .then(work)
    .catch((error) => s.lull.throttled.warn(what, `lull plugin: ${what} failed: ${error?.message ?? error}`));
}

/** Waits `ms`, or less if `signal` aborts (its listener removed either way: the loops pause
 * every few seconds for the gateway's whole life). */
function pause(ms, signal) {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

async function heartbeats(s, signal) {
  while (!signal.aborted) {
    try {
      await s.lull.call("POST", "/v1/heartbeat", { source: s.settings.source });
      await s.runs.tend();
    } catch (error) {
      if (!(error instanceof Unavailable)) {
        s.lull.throttled.warn("tick", `lull plugin: heartbeat failed: ${error?.message ?? error}`);
      }
    }
    await pause(s.settings.heartbeatMs, signal);
  }
}

async function deliverNotices(s, signal) {
  while (!signal.aborted) {
    let wait = 0;
    try {
      wait = (await s.notices.pollOnce(undefined, signal)).pause;
    } catch (error) {
      if (!(error instanceof Unavailable)) {
        s.lull.throttled.warn("notices", `lull plugin: delivering notices failed: ${error?.message ?? error}`);
      }
      wait = 5000;
    }
    if (wait) await pause(wait, signal);
  }
}

export default {
  id: "lull",
  name: "lull",
  description: "Restarts and updates that wait until no agent run is live (lull)",
  register(api) {
    const s = state(api);

    api.registerCommand({
      name: "maintenance",
      description: "Queue a restart or update for when the gateway is idle, or see why it waits",
      acceptsArgs: true,
      async handler(ctx) {
        // Some channels' native commands say `to` as `<channel>:<id>`: the chat is the id.
        const bare = (id) => (id && id.startsWith(`${ctx.channel}:`) ? id.slice(ctx.channel.length + 1) : id);
        const chat = bare(ctx.to) || bare(ctx.from) || ctx.sessionKey || "unknown";
        const speaker = { channel: ctx.channel, user: bare(ctx.senderId) || bare(ctx.from) || "unknown", display: ctx.senderId, chat };
        const text = `/maintenance ${ctx.args ?? ""}`.trim();
        try {
          return { text: (await relay(s.lull, speaker, text)) ?? "" };
        } catch (error) {
          return { text: `lull: ${error?.message ?? error}` };
        }
      },
    });

    api.registerTool(
      (ctx) => ({
        name: TOOL_NAME,
        label: "Gateway maintenance",
        description: TOOL_SCHEMA.function.description,
        parameters: TOOL_SCHEMA.function.parameters,
        async execute(_toolCallId, params) {
          const channel = ctx.deliveryContext?.channel || ctx.messageChannel;
          const to = ctx.deliveryContext?.to || (channel === "webchat" ? ctx.sessionKey : undefined);
          const chat = channel && to ? `${channel}:${to}` : undefined;
          const result = await callTool(s.lull, { agent: s.settings.agent, chat, params });
          return { content: [{ type: "text", text: JSON.stringify(result) }], details: result };
        },
      }),
      { name: TOOL_NAME },
    );

    if (api.registrationMode && api.registrationMode !== "full") return;

    // `api.agent.events` since 2026.9; the flat form before it.
    const subscribe =
      api.agent?.events?.registerAgentEventSubscription?.bind(api.agent.events) ?? api.registerAgentEventSubscription?.bind(api);
    subscribe?.({
      id: "lull-runs",
      description: "agent runs as lull's live runs",
      streams: ["lifecycle"],
      handle(event) {
        const phase = event?.data?.phase;
        if (phase === "start") quietly(s, "a run's start", () => s.runs.start(event.runId, event.sessionKey));
        if (phase === "end" || phase === "error") quietly(s, "a run's end", () => s.runs.end(event.runId));
      },
    });

    // The earliest signals of a turn: the message that starts it (activity), and the run
    // being prepared (a lease, before lifecycle `start` comes seconds later).
    api.on("message_received", (event) => {
      if (isMaintenance(event?.content)) return;
      quietly(s, "an activity report", () => s.lull.call("POST", "/v1/activity", { source: s.settings.source }));
    });
    api.on("before_agent_run", (_event, ctx) => {
      if (ctx?.runId) quietly(s, "a run's start", () => s.runs.start(ctx.runId, ctx.sessionKey));
    });

    // `/maintenance` typed as a message (with its message id, so lull applies it once), and an
    // answer to one of lull's prompts given as a reply to it.
    api.on("before_dispatch", async (event, ctx) => {
      const text = String(event?.content ?? event?.body ?? "");
      const channel = event?.channel || ctx?.channelId || "unknown";
      const chat = ctx?.conversationId || event?.sessionKey || ctx?.sessionKey || "unknown";
      const replyTo = event?.replyToId ?? ctx?.replyToId;
      const answersLull = replyTo !== undefined && s.sent.has(`${channel}:${chat}:${replyTo}`) && ANSWER.test(text);
      if (!isMaintenance(text) && !answersLull) return undefined;
      const speaker = {
        channel,
        user: event?.senderId || ctx?.senderId || "unknown",
        display: event?.senderId || ctx?.senderId,
        chat,
        messageId: event?.messageId || ctx?.messageId,
      };
      try {
        const reply = await relay(s.lull, speaker, text, answersLull);
        return { handled: true, text: reply ?? undefined };
      } catch (error) {
        return { handled: true, text: `lull: ${error?.message ?? error}` };
      }
    });

    api.on("gateway_stop", async (event) => {
      // A plugin reload stops the gateway's plugins, not its runs: their leases stay.
      if (event?.reason === "plugin replacement") return;
      try {
        await s.runs.endAll();
      } catch {
        // Ended or not, the leases expire on lull's TTL.
      }
    });

    api.registerService({
      id: "lull",
      start() {
        if (s.stopping) return;
        s.stopping = new AbortController();
        const { signal } = s.stopping;
        quietly(s, "heartbeats", () => heartbeats(s, signal));
        quietly(s, "notices", () => deliverNotices(s, signal));
      },
      stop() {
        // The runs stay: a gateway that stops ends them through gateway_stop, a plugin reload
        // keeps them (heartbeats resume on the next start, or the leases expire on lull's TTL).
        s.stopping?.abort();
        s.stopping = null;
      },
    });
  },
};
