// An OpenAI-compatible chat-completions model on 127.0.0.1 for OpenClaw's end-to-end test:
// streamed answers (SSE), scripted by the last user message.
//
// - "hold …": the answer waits until `POST /release` (a slow turn, ended when the test says);
// - "use the tool …": a `tool_call` of lull's gateway_maintenance (through OpenClaw's Tool
//   Search), then, once the tool's result comes back, a closing answer;
// - anything else: "ok".
//
// Prints `listening <port>` once ready (`node mock-model.js [port]`). `GET /requests` answers how
// many completions it served; with MOCK_MODEL_LOG set, each request body is appended to that
// file (to see what OpenClaw sends a model).

import http from "node:http";

let held = [];
let served = 0;

/** The last thing the user typed, and its index (OpenClaw adds user messages of internal
 * context after it). */
function lastUser(messages) {
  for (let i = messages.length - 1; i >= 0; i -= 1) {
    const m = messages[i];
    if (m.role !== "user") continue;
    const text = typeof m.content === "string" ? m.content : (m.content ?? []).map((c) => c.text ?? "").join(" ");
    if (!text.includes("OPENCLAW_INTERNAL_CONTEXT")) return { text, index: i };
  }
  return { text: "", index: -1 };
}

function stream(response, delta, finish) {
  response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  const chunk = (d, f) =>
    `data: ${JSON.stringify({ id: "mock", object: "chat.completion.chunk", created: 0, model: "mock-1", choices: [{ index: 0, delta: d, finish_reason: f }] })}\n\n`;
  response.write(chunk({ role: "assistant", ...delta }, null));
  response.write(chunk({}, finish));
  response.end("data: [DONE]\n\n");
}

const server = http.createServer((request, response) => {
  const chunks = [];
  request.on("data", (c) => chunks.push(c));
  request.on("end", () => {
    if (request.url === "/release" && request.method === "POST") {
      const waiting = held;
      held = [];
      for (const release of waiting) release();
      response.end(JSON.stringify({ released: waiting.length }));
      return;
    }
    if (request.url === "/requests") {
      response.end(JSON.stringify({ served, held: held.length }));
      return;
    }
    if (!request.url.endsWith("/chat/completions")) {
      response.writeHead(404).end();
      return;
    }
    served += 1;
    let body = {};
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      // answered generically below
    }
    const messages = body.messages ?? [];
    if (process.env.MOCK_MODEL_LOG) {
      import("node:fs").then((fs) => fs.appendFileSync(process.env.MOCK_MODEL_LOG, `${JSON.stringify(body)}\n`));
    }
    const { text, index } = lastUser(messages);
    if (messages.slice(index + 1).some((m) => m.role === "tool")) {
      // The tool answered this turn: close it.
      stream(response, { content: "The maintenance request is queued." }, "stop");
    } else if (/use the tool/i.test(text)) {
      const args = { id: "openclaw:lull:gateway_maintenance", args: { action: "queue_restart", reason: "installed jq" } };
      const names = (body.tools ?? []).map((t) => t.function?.name);
      const call = names.includes("tool_call")
        ? { name: "tool_call", arguments: JSON.stringify(args) }
        : { name: "gateway_maintenance", arguments: JSON.stringify(args.args) };
      stream(response, { tool_calls: [{ index: 0, id: "call_1", type: "function", function: call }] }, "tool_calls");
    } else if (/hold/i.test(text)) {
      held.push(() => stream(response, { content: "done holding" }, "stop"));
    } else {
      stream(response, { content: "ok" }, "stop");
    }
  });
});

server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  console.log(`listening ${server.address().port}`);
});
