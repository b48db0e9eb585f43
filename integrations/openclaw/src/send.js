// Sending lull's messages through OpenClaw: a channel's own outbound adapter, or, for WebChat
// sessions (the Control UI, `chat.send`), an assistant note appended to the session with the
// gateway's `chat.inject`.

import { execFile } from "node:child_process";

import { UnknownChannel } from "./notices.js";

/** How long a send may take, in ms. */
const SEND_TIMEOUT_MS = 30_000;

/**
 * A `send(channel, to, text)` for {@link Notices}: resolves `true` once the channel took the
 * message, `false` to try again later; throws {@link UnknownChannel} for a channel this gateway
 * does not have. `sent` records the message ids of what lull sent, to know replies to it.
 */
export function sender(api, sent) {
  return async (channel, to, text) => {
    if (channel === "webchat") return inject(to, text);
    const adapter = await api.runtime?.channel?.outbound?.loadAdapter?.(channel);
    if (!adapter?.sendText) {
      // Configured but not connected yet: later. Not configured at all: never here.
      if (api.config?.channels?.[channel]) return false;
      throw new UnknownChannel(channel);
    }
    const result = await adapter.sendText({ cfg: api.config, to, text });
    if (result?.messageId !== undefined && result?.messageId !== null) {
      sent.add(`${channel}:${to}:${result.messageId}`);
    }
    return true;
  };
}

/** Appends `text` to WebChat session `sessionKey` through this gateway's own CLI. */
function inject(sessionKey, text) {
  const params = JSON.stringify({ sessionKey, message: text, label: "lull" });
  // The gateway's own node and entry point: the same OpenClaw, configured by the same
  // environment (OPENCLAW_CONFIG_PATH, OPENCLAW_GATEWAY_TOKEN).
  const args = [process.argv[1], "gateway", "call", "chat.inject", "--params", params, "--json"];
  return new Promise((resolve) => {
    execFile(process.execPath, args, { timeout: SEND_TIMEOUT_MS }, (error) => resolve(!error));
  });
}
