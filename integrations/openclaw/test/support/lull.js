// This build's `lull serve` (LULL_BIN) in a temporary home, with the relay this plugin speaks
// to, for the plugin's tests. Every wait is bounded.

import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/** Waits until `condition()` resolves truthy (polling), at most `ms`; returns its value. */
export async function waitFor(what, condition, ms = 60_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The relay of these tests: admins and agents as OpenClaw's ids. */
export const RELAY = `[relay]\nname = "openclaw"\nadmins = ["telegram:42", "webchat:cli"]\nagents = ["openclaw"]\n`;

export class LullServer {
  /** Starts `lull serve` with `executor` (TOML lines of `[executor]`) and the relay. */
  static async start(executor = `restart = ["true"]\n`) {
    const server = new LullServer();
    const home = path.join(server.dir, "lull");
    mkdirSync(path.join(home, "profiles/default"), { recursive: true });
    writeFileSync(
      path.join(home, "profiles/default/lull.toml"),
      `[maintenance]\nlease_ttl_seconds = 30\ncooldown_seconds = 0\nmax_executions_per_hour = 1000\n[executor]\n${executor}${RELAY}`,
    );
    server.home = home;
    server.socket = path.join(home, "profiles/default/control.sock");
    server.child = spawn(server.bin, ["serve"], { env: { ...process.env, LULL_HOME: home }, stdio: ["ignore", "pipe", "pipe"] });
    server.output = "";
    server.child.stdout.on("data", (d) => (server.output += d));
    server.child.stderr.on("data", (d) => (server.output += d));
    await waitFor("lull serve", () => existsSync(server.socket));
    return server;
  }

  constructor() {
    if (!process.env.LULL_BIN) throw new Error("LULL_BIN must name the lull binary (the Rust test sets it)");
    this.bin = process.env.LULL_BIN;
    this.dir = mkdtempSync(path.join(os.tmpdir(), "lull-openclaw-unit-"));
  }

  /** `lull ARGS` against this server. */
  run(args) {
    return new Promise((resolve, reject) => {
      execFile(this.bin, args, { env: { ...process.env, LULL_HOME: this.home }, timeout: 30_000 }, (error, stdout, stderr) =>
        error ? reject(new Error(`lull ${args.join(" ")}: ${error.message}\n${stderr}`)) : resolve(stdout),
      );
    });
  }

  async status() {
    return JSON.parse(await this.run(["status", "--json"]));
  }

  async close() {
    if (this.child.exitCode !== null) return;
    this.child.kill("SIGTERM");
    await Promise.race([new Promise((resolve) => this.child.once("exit", resolve)), new Promise((resolve) => setTimeout(resolve, 15_000))]);
  }
}
