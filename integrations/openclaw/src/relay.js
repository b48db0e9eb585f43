// `/maintenance` in every OpenClaw channel, relayed to lull's relay (docs/relay.md) with who typed
// it and where, and answered with lull's reply; an answer to one of lull's prompts ("approve
// r7k2", as a reply to lull's message) is relayed the same way.

import { randomUUID } from "node:crypto";

import { Unavailable } from "./lull.js";

/** `lull relay-grammar`'s command and answer patterns. */
export const COMMAND = /^\s*\/maintenance(?:@\S*)?(?:\s|$)/i;
export const ANSWER = /^\s*(?:approve|reject|cancel)\s+[A-Za-z0-9][A-Za-z0-9-]*\s*$/i;
/** How long a relayed command may wait for lull, in ms. */
const COMMAND_TIMEOUT_MS = 10_000;
/** Message ids of lull's messages kept, to know a reply to one. */
const SENT_KEPT = 1000;

/** Whether a message is a `/maintenance` command (and so not activity). */
export function isMaintenance(text) {
  return COMMAND.test(String(text ?? ""));
}

/** Messages lull sent through this gateway (`channel:chat:message id`), newest last, bounded. */
export class SentMessages {
  constructor() {
    this.ids = new Set();
  }

  add(key) {
    this.ids.delete(key);
    this.ids.add(key);
    while (this.ids.size > SENT_KEPT) this.ids.delete(this.ids.values().next().value);
  }

  has(key) {
    return this.ids.has(key);
  }
}

/**
 * Relays `text` from `speaker` ({channel, user, display, chat, messageId}) and resolves the
 * text to answer with (`null` when lull has nothing to say).
 */
export async function relay(lull, speaker, text, replyToLull = false) {
  const body = {
    // Message ids are per chat on some channels: the chat is part of the event id. Where
    // OpenClaw gives no message id (a native command), each invocation is its own event.
    event_id: `${speaker.channel}:${speaker.chat}:${speaker.messageId || `invocation-${randomUUID()}`}`,
    user: `${speaker.channel}:${speaker.user}`,
    display: speaker.display || speaker.user,
    chat: `${speaker.channel}:${speaker.chat}`,
    reply_to_lull: replyToLull,
    text,
  };
  let answer;
  try {
    answer = await lull.call("POST", "/v1/relay/commands", body, COMMAND_TIMEOUT_MS);
  } catch (error) {
    if (!(error instanceof Unavailable)) throw error;
    return "lull is not reachable right now, so nothing was queued. Try again in a minute.";
  }
  if (answer.status === 409) return "lull is still handling this command; ask again in a moment.";
  if (answer.status !== 200 || typeof answer.body !== "object" || answer.body === null) {
    return `lull refused the command: ${answer.body?.error?.message ?? answer.status}`;
  }
  const reply = answer.body.reply;
  return reply ? reply.markdown || reply.text || null : null;
}
