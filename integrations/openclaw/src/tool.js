// The agent tool `gateway_maintenance`: lull's tool schema (without `agent`), called with the
// turn's chat so lull answers the agent's request where the agent talks.

import { readFileSync } from "node:fs";

import { Unavailable } from "./lull.js";

/** lull's tool schema, as `lull tool-schema` prints it (kept beside the plugin, tested equal). */
export const TOOL_SCHEMA = JSON.parse(readFileSync(new URL("../tool_schema.json", import.meta.url), "utf8"));

/** How long a tool call may wait for lull, in ms. */
const TOOL_TIMEOUT_MS = 10_000;

/** The text the model sees for a tool result (lull's JSON, or why lull could not answer). */
export async function callTool(lull, { agent, chat, params }) {
  const call = { ...(params && typeof params === "object" ? params : {}), agent };
  if (chat) call.chat = chat;
  try {
    const answer = await lull.call("POST", "/v1/tool", call, TOOL_TIMEOUT_MS);
    return answer.body && typeof answer.body === "object"
      ? answer.body
      : { ok: false, error: { code: "internal", message: `lull answered ${answer.status}` } };
  } catch (error) {
    if (!(error instanceof Unavailable)) throw error;
    return {
      ok: false,
      error: { code: "unavailable", message: "lull is not reachable right now, so nothing was queued; try again in a minute" },
    };
  }
}
