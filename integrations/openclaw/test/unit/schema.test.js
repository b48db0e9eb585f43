// The tool schema shipped with the plugin is `lull tool-schema` without `agent`, and the
// manifest declares the tool and a config schema that OpenClaw requires.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { TOOL_SCHEMA } from "../../src/tool.js";

test("the shipped tool schema is lull's without the agent", () => {
  const expected = JSON.parse(execFileSync(process.env.LULL_BIN, ["tool-schema"], { encoding: "utf8" }));
  const parameters = expected.function.parameters;
  delete parameters.properties.agent;
  parameters.required = parameters.required.filter((name) => name !== "agent");
  assert.deepEqual(TOOL_SCHEMA, expected);
});

test("the manifest declares the tool, a config schema, and loading at start-up", () => {
  const manifest = JSON.parse(readFileSync(new URL("../../openclaw.plugin.json", import.meta.url), "utf8"));
  assert.equal(manifest.id, "lull");
  assert.deepEqual(manifest.contracts.tools, [TOOL_SCHEMA.function.name]);
  assert.equal(manifest.configSchema.type, "object");
  assert.equal(manifest.activation.onStartup, true);
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
  assert.deepEqual(pkg.openclaw.extensions, ["./index.js"]);
  assert.equal(pkg.dependencies, undefined, "no runtime dependencies");
});
