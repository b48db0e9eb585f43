// The control API of lull, over its Unix socket (or TCP with a token): bounded calls that never
// throw into OpenClaw.
//
// Every call has a timeout. After a failure to reach lull, calls fail at once for 30 s (lull is
// down or restarting; OpenClaw must not wait on it turn after turn), and the failure is logged
// at most once a minute.

import http from "node:http";
import os from "node:os";
import path from "node:path";

/** How long calls fail fast after lull could not be reached, in ms. */
export const BACKOFF_MS = 30_000;
/** Least time between two log lines about the same trouble, in ms. */
export const LOG_EVERY_MS = 60_000;

/** `LULL_SOCKET`, else the profile's socket under `LULL_HOME` (`~/.lull`). */
export function defaultSocket(env = process.env) {
  if (env.LULL_SOCKET) return env.LULL_SOCKET;
  const home = env.LULL_HOME || path.join(os.homedir(), ".lull");
  return path.join(home, "profiles", env.LULL_PROFILE || "default", "control.sock");
}

/** Logs each kind of trouble at most once a minute. */
export class Throttled {
  constructor(logger) {
    this.logger = logger;
    this.last = new Map();
  }

  warn(key, message) {
    const now = Date.now();
    if (now - (this.last.get(key) ?? -LOG_EVERY_MS) < LOG_EVERY_MS) return;
    this.last.set(key, now);
    try {
      this.logger?.warn?.(message);
    } catch {
      // A logger that throws must not break the plugin.
    }
  }
}

/** lull could not be reached (or is being backed off from). */
export class Unavailable extends Error {}

/** A client of one lull profile. */
export class Lull {
  /**
   * @param {{socket?: string, url?: string, token?: string, logger?: object}} options
   *   `url` (`http://127.0.0.1:7878`) instead of the socket for lull's TCP API.
   */
  constructor({ socket, url, token, logger } = {}) {
    this.url = url ? new URL(url) : null;
    this.socket = this.url ? null : socket || defaultSocket();
    this.token = token || process.env.LULL_RELAY_TOKEN || null;
    this.throttled = new Throttled(logger);
    this.downUntil = 0;
  }

  /** Where lull is, for logs. */
  where() {
    return this.url ? this.url.href : this.socket;
  }

  /**
   * One call, bounded by `timeoutMs` (and ended early by `signal`). Resolves `{status, body}`;
   * rejects with {@link Unavailable} when lull cannot be reached, or while backing off after
   * that.
   */
  async call(method, route, body, timeoutMs = 2000, signal = undefined) {
    if (Date.now() < this.downUntil) {
      throw new Unavailable("backing off after lull could not be reached");
    }
    const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const headers = { "content-type": "application/json" };
    if (data) headers["content-length"] = String(data.length);
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const target = this.url
      ? { host: this.url.hostname, port: this.url.port || 80 }
      : { socketPath: this.socket };
    try {
      return await new Promise((resolve, reject) => {
        const request = http.request(
          { ...target, method, path: route, headers, timeout: timeoutMs, signal },
          (response) => {
            const chunks = [];
            response.on("data", (chunk) => chunks.push(chunk));
            response.on("end", () => {
              const raw = Buffer.concat(chunks).toString("utf8");
              let parsed = null;
              try {
                parsed = raw ? JSON.parse(raw) : null;
              } catch {
                parsed = raw;
              }
              resolve({ status: response.statusCode ?? 0, body: parsed });
            });
            response.on("error", reject);
          },
        );
        request.on("timeout", () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        request.on("error", reject);
        request.end(data ?? undefined);
      });
    } catch (error) {
      if (signal?.aborted) throw new Unavailable("stopped");
      this.downUntil = Date.now() + BACKOFF_MS;
      this.throttled.warn(
        "unreachable",
        `lull is not reachable on ${this.where()} (${error.message}); OpenClaw goes on as before, and lull waits until it hears from it again`,
      );
      throw new Unavailable(error.message);
    }
  }

  /** Forget a past failure (tests, and a deliberate retry). */
  resetBackoff() {
    this.downUntil = 0;
  }
}
