// OpenClaw's agent runs as lull's live runs.
//
// A run's lifecycle `start` (which may repeat within one run) begins a lease keyed by its
// `runId`; `end` or `error` ends it. Live leases are heartbeaten by the service; a lease lull
// forgot (410, it restarted) is begun again, and a begin that failed is tried again while the
// run lives. A run whose end never arrives is heartbeaten at most `maxRunMs` (then its lease
// expires after lull's lease TTL): a lost end must not hold maintenance for ever.
//
// Nothing here is awaited by OpenClaw: every call is bounded and its failure is only logged.

import { Unavailable } from "./lull.js";

/** lull's limit on a session name. */
const MAX_SESSION_CHARS = 200;

/** A session name lull accepts, from OpenClaw's session key. */
export function sessionName(sessionKey, runId) {
  const name = String(sessionKey || `openclaw:run:${runId}`).replace(/[\u0000-\u001f\u007f-\u009f]/g, " ");
  return [...name].slice(0, MAX_SESSION_CHARS).join("") || `openclaw:run:${runId}`;
}

export class Runs {
  /**
   * @param {import("./lull.js").Lull} lull
   * @param {{source: string, maxRunMs: number, now?: () => number}} options
   */
  constructor(lull, { source, maxRunMs, now = Date.now }) {
    this.lull = lull;
    this.source = source;
    this.maxRunMs = maxRunMs;
    this.now = now;
    /** runId → {session, lease, beginning, ended, since} */
    this.runs = new Map();
  }

  /** A run began (or said so again): begins its lease once. */
  async start(runId, sessionKey) {
    if (!runId) return;
    let run = this.runs.get(runId);
    if (!run) {
      run = { session: sessionName(sessionKey, runId), lease: null, beginning: null, ended: false, since: this.now() };
      this.runs.set(runId, run);
    }
    await this.begin(run, 1000);
  }

  async begin(run, timeoutMs) {
    if (run.lease || run.ended) return;
    if (run.beginning) return run.beginning;
    run.beginning = (async () => {
      try {
        const answer = await this.lull.call("POST", "/v1/runs", { session: run.session, source: this.source }, timeoutMs);
        // 409 executing: maintenance is running; the run goes on, and the begin is tried again.
        if (answer.status !== 200 || !answer.body?.lease) return;
        if (run.ended) {
          // The run ended while its begin was in flight: end the lease just granted.
          await this.endLease(answer.body.lease);
        } else {
          run.lease = answer.body.lease;
        }
      } catch (error) {
        if (!(error instanceof Unavailable)) throw error;
      } finally {
        run.beginning = null;
      }
    })();
    return run.beginning;
  }

  /** A run ended (done, failed or aborted): ends its lease. */
  async end(runId) {
    const run = this.runs.get(runId);
    if (!run) return;
    this.runs.delete(runId);
    run.ended = true;
    if (run.beginning) await run.beginning;
    if (run.lease) await this.endLease(run.lease);
  }

  /** Ends every open lease (the gateway is stopping). */
  async endAll() {
    await Promise.all([...this.runs.keys()].map((runId) => this.end(runId)));
  }

  async endLease(lease) {
    try {
      await this.lull.call("DELETE", `/v1/runs/${encodeURIComponent(lease)}`, { source: this.source }, 1000);
    } catch (error) {
      if (!(error instanceof Unavailable)) throw error;
    }
  }

  /** One round of the service: heartbeats live leases, begins again what is missing. */
  async tend() {
    for (const [runId, run] of [...this.runs]) {
      if (this.now() - run.since > this.maxRunMs) {
        // Its end was lost (or it truly runs this long): stop holding maintenance for it.
        this.runs.delete(runId);
        run.ended = true;
        this.lull.throttled.warn(
          `stale:${runId}`,
          `lull: run ${runId} (${run.session}) began over ${Math.round(this.maxRunMs / 60000)} min ago and never ended; no longer holding maintenance for it`,
        );
        continue;
      }
      if (!run.lease) {
        await this.begin(run, 2000);
        continue;
      }
      try {
        const answer = await this.lull.call(
          "POST",
          `/v1/runs/${encodeURIComponent(run.lease)}/heartbeat`,
          { session: run.session, source: this.source },
        );
        if (answer.status === 410) {
          run.lease = null;
          await this.begin(run, 2000);
        }
      } catch (error) {
        if (!(error instanceof Unavailable)) throw error;
      }
    }
  }

  /** runId → lease, for tests and status. */
  leases() {
    return Object.fromEntries([...this.runs].map(([runId, run]) => [runId, run.lease]));
  }
}
