// A recording stand-in for the `api` OpenClaw passes to `register()`, for the plugin's unit
// tests: it keeps what the plugin registers, and lets a test fire hooks, lifecycle events and
// the service the way OpenClaw does (shapes from openclaw 2026.9.6's plugin-entry types). Its
// Telegram outbound adapter records what it sends.

export class FakeApi {
  constructor({ pluginConfig = {}, registrationMode = "full", channels = { telegram: {} } } = {}) {
    this.pluginConfig = pluginConfig;
    this.registrationMode = registrationMode;
    this.config = { channels };
    this.commands = [];
    this.tools = [];
    this.hooks = new Map();
    this.services = [];
    this.subscriptions = [];
    this.sent = [];
    this.warnings = [];
    this.logger = { info() {}, debug() {}, error: (m) => this.warnings.push(m), warn: (m) => this.warnings.push(m) };
    this.agent = { events: { registerAgentEventSubscription: (s) => this.subscriptions.push(s) } };
    const sent = this.sent;
    this.runtime = {
      channel: {
        outbound: {
          async loadAdapter(channel) {
            if (channel !== "telegram") return undefined;
            return {
              async sendText(ctx) {
                sent.push({ channel, to: ctx.to, text: ctx.text });
                return { channel, messageId: String(900 + sent.length) };
              },
            };
          },
        },
      },
    };
  }

  registerCommand(command) {
    this.commands.push(command);
  }

  registerTool(factory, options) {
    this.tools.push({ factory, options });
  }

  on(name, handler) {
    this.hooks.set(name, [...(this.hooks.get(name) ?? []), handler]);
  }

  registerService(service) {
    this.services.push(service);
  }

  /** Fires hook `name` as OpenClaw does; resolves the last handler's result. */
  async fire(name, event, ctx = {}) {
    let result;
    for (const handler of this.hooks.get(name) ?? []) result = await handler(event, ctx);
    return result;
  }

  /** Sends a lifecycle event of run `runId` to the subscriptions. */
  lifecycle(runId, phase, sessionKey) {
    for (const s of this.subscriptions) s.handle({ runId, seq: 1, stream: "lifecycle", ts: Date.now(), sessionKey, data: { phase } });
  }
}
