import assert from "node:assert/strict";
import { test } from "node:test";
import { describeCommand, resolveServerCommand } from "../src/serverCommand";
import { DEFAULT_SETTINGS } from "../src/settings";

test("the default server command is `completer serve --stdio`", () => {
  assert.equal(describeCommand(resolveServerCommand(DEFAULT_SETTINGS, "/home/me")), "completer serve --stdio");
});

test("pythonPath runs the lsp module with that interpreter, ignoring serverPath", () => {
  const command = resolveServerCommand({ ...DEFAULT_SETTINGS, serverPath: "/opt/x", pythonPath: "~/venv/bin/python" }, "/home/me");
  assert.deepEqual(command, { command: "/home/me/venv/bin/python", args: ["-m", "lsp", "--stdio"] });
});

test("serverPath and serverArgs are used as given, with ~ expanded", () => {
  const command = resolveServerCommand({ ...DEFAULT_SETTINGS, serverPath: "~/bin/completer", serverArgs: ["serve", "--stdio", "--log-level", "debug"] }, "/home/me");
  assert.deepEqual(command, { command: "/home/me/bin/completer", args: ["serve", "--stdio", "--log-level", "debug"] });
});

test("a blank serverPath falls back to `completer`", () => {
  assert.equal(resolveServerCommand({ ...DEFAULT_SETTINGS, serverPath: "  " }, "/home/me").command, "completer");
});
