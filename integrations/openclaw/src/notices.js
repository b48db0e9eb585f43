// lull's notices ("queued", "starting now", "back online", approval prompts), long-polled from
// lull's relay and sent through OpenClaw's own channels, each acknowledged once sent. The ids
// sent are kept on disk, so a restarted gateway acknowledges a copy instead of sending it again.

import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { Unavailable } from "./lull.js";

/** How long a poll waits for notices, in seconds. */
export const POLL_WAIT_SECONDS = 30;
/** Notice ids kept as sent (lull's ids only grow; the newest are the ones that can come again). */
const SENT_KEPT = 1000;

/** A channel OpenClaw does not have: the notice can never be delivered here. */
export class UnknownChannel extends Error {}

/** Where the sent ids are kept: OpenClaw's state directory. */
export function sentPath(env = process.env) {
  const state = env.OPENCLAW_STATE_DIR || path.join(os.homedir(), ".openclaw");
  return path.join(state, "lull_sent_notices.json");
}

/** What identifies a notice as sent: its id, and a digest of its chat and text (a new lull store
 * numbers its notices from 0 again, and must not find them "already sent"). */
export function sentKey(notice) {
  const digest = createHash("sha256").update(`${notice.chat}\n${notice.markdown || notice.text || ""}`).digest("hex");
  return `${notice.id}:${digest.slice(0, 16)}`;
}

export class Notices {
  /**
   * @param {import("./lull.js").Lull} lull
   * @param {{consumer: string, send: (channel: string, to: string, text: string) => Promise<boolean>, file?: string}} options
   *   `send` resolves `true` once the channel took the message, `false` to try again later, and
   *   throws {@link UnknownChannel} for a channel this gateway does not have.
   */
  constructor(lull, { consumer, send, file = sentPath() }) {
    this.lull = lull;
    this.consumer = consumer;
    this.send = send;
    this.file = file;
    this.sent = this.load();
    /** [id, outcome] acknowledged by this poller, newest last (tests and status). */
    this.acknowledged = [];
  }

  load() {
    try {
      const kept = JSON.parse(readFileSync(this.file, "utf8"));
      return Array.isArray(kept.notices) ? kept.notices.map(String) : [];
    } catch {
      return [];
    }
  }

  remember(id) {
    this.sent.push(id);
    this.sent.splice(0, Math.max(0, this.sent.length - SENT_KEPT));
    try {
      mkdirSync(path.dirname(this.file), { recursive: true });
      const tmp = `${this.file}.tmp`;
      writeFileSync(tmp, JSON.stringify({ notices: this.sent }));
      renameSync(tmp, this.file);
    } catch (error) {
      this.lull.throttled.warn("sent-file", `lull: cannot record a sent notice in ${this.file}: ${error.message}`);
    }
  }

  /** One poll (ended early by `signal`); resolves how many notices were delivered and how long
   * to pause before the next. Rejects with `Unavailable`. */
  async pollOnce(waitSeconds = POLL_WAIT_SECONDS, signal = undefined) {
    const consumer = encodeURIComponent(this.consumer);
    const answer = await this.lull.call(
      "GET",
      `/v1/relay/notices?consumer=${consumer}&wait_seconds=${waitSeconds}`,
      undefined,
      (waitSeconds + 10) * 1000,
      signal,
    );
    if (answer.status !== 200) {
      this.lull.throttled.warn("poll", `lull refused a notice poll: ${answer.status} ${JSON.stringify(answer.body)}`);
      // 404: lull has no [relay] section; nothing changes until it restarts.
      return { delivered: 0, pause: answer.status === 404 ? 60_000 : 5_000 };
    }
    let delivered = 0;
    const heldBack = new Set();
    for (const notice of answer.body?.notices ?? []) {
      const id = String(notice.id);
      const key = sentKey(notice);
      if (heldBack.has(notice.chat)) continue; // an earlier notice of this chat waits: so does this
      if (this.sent.includes(key)) {
        await this.ack(id, "delivered");
        continue;
      }
      const outcome = await this.deliver(notice);
      if (outcome === null) {
        // Not sent now: the claim lapses and lull gives it out again, in order.
        heldBack.add(notice.chat);
        continue;
      }
      if (outcome === "delivered") {
        this.remember(key);
        delivered += 1;
      }
      await this.ack(id, outcome);
    }
    return { delivered, pause: 0 };
  }

  /** `delivered`, `undeliverable`, or `null` (try again later). */
  async deliver(notice) {
    const chat = String(notice.chat ?? "");
    const split = chat.indexOf(":");
    const [channel, to] = split < 0 ? [chat, ""] : [chat.slice(0, split), chat.slice(split + 1)];
    const text = notice.markdown || notice.text || "";
    try {
      return (await this.send(channel, to, text)) ? "delivered" : null;
    } catch (error) {
      if (error instanceof UnknownChannel) {
        this.lull.throttled.warn(`unknown:${channel}`, `lull notice ${notice.id} is for ${chat}, a channel this gateway does not run`);
        return "undeliverable";
      }
      this.lull.throttled.warn("send", `lull: could not send a notice to ${chat}: ${error.message}`);
      return null;
    }
  }

  async ack(id, outcome) {
    try {
      await this.lull.call("POST", `/v1/relay/notices/${encodeURIComponent(id)}/ack`, { consumer: this.consumer, outcome });
      this.acknowledged.push([id, outcome]);
      this.acknowledged.splice(0, Math.max(0, this.acknowledged.length - SENT_KEPT));
    } catch (error) {
      if (!(error instanceof Unavailable)) throw error;
    }
  }
}
