// Sending lull's messages through OpenClaw: a channel's own outbound adapter; where none loads
// for a configured channel, OpenClaw's `openclaw message send`; and for WebChat sessions (the
// Control UI, `chat.send`), an assistant note appended to the session with the gateway's
// `chat.inject`.

import { execFile } from "node:child_process";

import { UnknownChannel } from "./notices.js";

/** How long a send may take, in ms. */
const SEND_TIMEOUT_MS = 30_000;

/**
 * A `send(channel, to, text)` for {@link Notices}: resolves `true` once the channel took the
 * message, `false` to try again later (also when it took longer than 30 s); throws
 * {@link UnknownChannel} for a channel this gateway does not have. `currentApi()` is the
 * registration in effect (its config and runtime); `sent` records the message ids of what lull
 * sent, to know replies to it.
 */
export function sender(currentApi, sent) {
  return (channel, to, text) => within(SEND_TIMEOUT_MS, (signal) => send(currentApi(), sent, channel, to, text, signal));
}

async function send(api, sent, channel, to, text, signal) {
  if (channel === "webchat") return inject(to, text);
  const adapter = await api.runtime?.channel?.outbound?.loadAdapter?.(channel);
  if (!adapter?.sendText) {
    // Not configured at all: never here. Configured: OpenClaw's own CLI (false: later).
    if (!api.config?.channels?.[channel]) throw new UnknownChannel(channel);
    return openclaw(["message", "send", "--channel", channel, "--target", to, "--message", text, "--json"]);
  }
  const result = await adapter.sendText({ cfg: api.config, to, text, signal });
  if (result?.outcome === "not_sent") return false;
  if (result?.messageId !== undefined && result?.messageId !== null) {
    sent.add(`${channel}:${to}:${result.messageId}`);
  }
  return true;
}

/** `work(signal)`, or `false` once `ms` passed (the signal then aborts it). */
function within(ms, work) {
  const controller = new AbortController();
  let timer;
  const late = new Promise((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve(false);
    }, ms);
  });
  return Promise.race([work(controller.signal), late]).finally(() => clearTimeout(timer));
}

/** Appends `text` to WebChat session `sessionKey` through this gateway's own CLI. */
function inject(sessionKey, text) {
  const params = JSON.stringify({ sessionKey, message: text, label: "lull" });
  return openclaw(["gateway", "call", "chat.inject", "--params", params, "--json"]);
}

/** Runs this gateway's own CLI (its node and entry point: the same OpenClaw, configured by the
 * same environment); resolves whether it succeeded. */
function openclaw(args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [process.argv[1], ...args], { timeout: SEND_TIMEOUT_MS }, (error) => resolve(!error));
  });
}
