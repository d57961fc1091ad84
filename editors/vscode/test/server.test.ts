/**
 * Talks to the REAL completer language server with the requests the
 * extension (through vscode-languageclient) sends: initialize with our
 * initializationOptions and the inlineCompletion client capability,
 * didOpen, textDocument/inlineCompletion, workspace/didChangeConfiguration.
 *
 * Needs COMPLETER_TEST_MODEL (a checkpoint folder); COMPLETER_PYTHON picks the
 * interpreter (default python3). Skips with a message when the model is unset.
 */
import assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createMessageConnection, MessageConnection, StreamMessageReader, StreamMessageWriter } from "vscode-jsonrpc/node";
import {
  DidChangeConfigurationNotification,
  DidOpenTextDocumentNotification,
  InitializedNotification,
  InitializeParams,
  InitializeRequest,
  InlineCompletionItem,
  InlineCompletionList,
  InlineCompletionParams,
  InlineCompletionRequest,
  InlineCompletionTriggerKind,
  ExitNotification,
  ShutdownRequest,
} from "vscode-languageserver-protocol";
import { DEFAULT_SETTINGS, serverSettings } from "../src/settings";

const model = process.env.COMPLETER_TEST_MODEL;
const python = process.env.COMPLETER_PYTHON || "python3";
const repoRoot = join(__dirname, "..", "..", "..", "..");
const settings = { ...DEFAULT_SETTINGS, model: model ?? "", maxTokens: 8 };
const uri = "file:///tmp/completer-test/example.py";
// The random model is never sure of its text, so the server stays silent on it; the suggestion comes
// from the user's own code (a draft from `plus`, below).
const text = "def add(a, b):\n    return \n\nprint(add(1, 2))\n\n\ndef plus(a, b):\n    return a + b\n";

function initializeParams(): InitializeParams {
  return {
    processId: process.pid,
    clientInfo: { name: "Visual Studio Code", version: "1.91.0" },
    locale: "en",
    rootUri: null,
    workspaceFolders: null,
    capabilities: {
      workspace: { configuration: true, didChangeConfiguration: { dynamicRegistration: true }, workspaceFolders: true },
      textDocument: {
        synchronization: { dynamicRegistration: true, willSave: true, willSaveWaitUntil: true, didSave: true },
        inlineCompletion: { dynamicRegistration: true },
      },
    },
    initializationOptions: serverSettings(settings),
  };
}

function items(result: InlineCompletionItem[] | InlineCompletionList | null): InlineCompletionItem[] {
  if (result === null) {
    return [];
  }
  return Array.isArray(result) ? result : result.items;
}

describe("the real completer server", { skip: model ? false : "COMPLETER_TEST_MODEL is not set: skipping the real-server test" }, () => {
  let server: ChildProcess;
  let connection: MessageConnection;
  const stderr: string[] = [];

  before(async () => {
    server = spawn(python, ["-m", "lsp", "--stdio"], { cwd: repoRoot, stdio: ["pipe", "pipe", "pipe"] });
    server.stderr!.on("data", (chunk) => stderr.push(String(chunk)));
    connection = createMessageConnection(new StreamMessageReader(server.stdout!), new StreamMessageWriter(server.stdin!));
    connection.listen();
  });

  after(async () => {
    await connection.sendRequest(ShutdownRequest.type);
    await connection.sendNotification(ExitNotification.type);
    connection.dispose();
    server.kill();
  });

  test("initialize with the extension's options advertises inline completions", async () => {
    const result = await connection.sendRequest(InitializeRequest.type, initializeParams());
    assert.ok(result.capabilities.inlineCompletionProvider, `no inlineCompletionProvider; server log:\n${stderr.join("")}`);
    await connection.sendNotification(InitializedNotification.type, {});
    await connection.sendNotification(DidOpenTextDocumentNotification.type, {
      textDocument: { uri, languageId: "python", version: 1, text },
    });
  });

  async function complete(triggerKind: InlineCompletionTriggerKind): Promise<InlineCompletionItem[]> {
    const params: InlineCompletionParams = {
      textDocument: { uri },
      position: { line: 1, character: 11 },
      context: { triggerKind },
    };
    return items(await connection.sendRequest(InlineCompletionRequest.type, params));
  }

  test("an invoked inline completion at an open statement returns a text suggestion", async () => {
    const suggestions = await complete(InlineCompletionTriggerKind.Invoked);
    assert.ok(suggestions.length > 0, `no suggestion; server log:\n${stderr.join("")}`);
    for (const item of suggestions) {
      assert.equal(typeof item.insertText, "string");
      assert.notEqual(item.insertText, "");
      if (item.range) {
        assert.deepEqual(item.range.start, { line: 1, character: 11 });
      }
    }
  });

  test("after a configuration change the server still answers automatic requests", async () => {
    await connection.sendNotification(DidChangeConfigurationNotification.type, {
      settings: { completer: serverSettings({ ...settings, maxTokens: 4, effort: "low", threshold: 0.5 }) },
    });
    const suggestions = await complete(InlineCompletionTriggerKind.Automatic);
    assert.ok(suggestions.length > 0, `no suggestion after the change; server log:\n${stderr.join("")}`);
  });
});
