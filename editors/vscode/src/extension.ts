/**
 * VS Code entry point: runs the completer language server and shows its
 * inline completions. The logic that does not need VS Code lives in
 * settings.ts, serverCommand.ts, restartPolicy.ts and status.ts.
 */
import * as os from "os";
import * as vscode from "vscode";
import {
  CloseAction,
  DidChangeConfigurationNotification,
  ErrorAction,
  LanguageClient,
  State,
} from "vscode-languageclient/node";
import type { LanguageClientOptions, Middleware } from "vscode-languageclient/node";
import { RestartPolicy } from "./restartPolicy";
import { describeCommand, resolveServerCommand } from "./serverCommand";
import { CompleterSettings, languageEnabled, PROCESS_SETTINGS, readSettings, serverSettings } from "./settings";
import { Status } from "./status";

let client: LanguageClient | undefined;
let output: vscode.LogOutputChannel;
let status: Status;
const restarts = new RestartPolicy();

function currentSettings(): CompleterSettings {
  const config = vscode.workspace.getConfiguration("completer");
  return readSettings((key, fallback) => config.get(key, fallback));
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("Completer", { log: true });
  const item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  item.command = "completer.toggle";
  status = new Status(currentSettings().enable, (view) => {
    item.text = view.text;
    item.tooltip = view.tooltip;
    item.backgroundColor = view.isError ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
  });
  item.show();

  context.subscriptions.push(
    output,
    item,
    vscode.commands.registerCommand("completer.trigger", () =>
      vscode.commands.executeCommand("editor.action.inlineSuggest.trigger"),
    ),
    vscode.commands.registerCommand("completer.toggle", () =>
      vscode.workspace
        .getConfiguration("completer")
        .update("enable", !currentSettings().enable, vscode.ConfigurationTarget.Global),
    ),
    vscode.commands.registerCommand("completer.restart", () => restartServer()),
    vscode.commands.registerCommand("completer.showLog", () => output.show()),
    vscode.workspace.onDidChangeConfiguration((event) => onConfigurationChanged(event)),
  );
  await startServer();
}

export async function deactivate(): Promise<void> {
  await stopServer();
}

async function onConfigurationChanged(event: vscode.ConfigurationChangeEvent): Promise<void> {
  if (!event.affectsConfiguration("completer")) {
    return;
  }
  const settings = currentSettings();
  status.setEnabled(settings.enable);
  if (PROCESS_SETTINGS.some((key) => event.affectsConfiguration(`completer.${key}`))) {
    await restartServer();
  } else if (client?.state === State.Running) {
    await client.sendNotification(DidChangeConfigurationNotification.type, {
      settings: { completer: serverSettings(settings) },
    });
  }
}

async function restartServer(): Promise<void> {
  restarts.reset();
  await stopServer();
  await startServer();
}

async function stopServer(): Promise<void> {
  const stopping = client;
  client = undefined;
  if (stopping?.needsStop()) {
    await stopping.stop();
  }
}

async function startServer(): Promise<void> {
  const settings = currentSettings();
  const server = resolveServerCommand(settings, os.homedir());
  output.info(`Starting the server: ${describeCommand(server)}`);
  status.setServer({ kind: "starting" });
  client = new LanguageClient(
    "completer",
    "Completer",
    { command: server.command, args: server.args },
    clientOptions(),
  );
  client.onDidChangeState((change) => {
    if (change.newState === State.Running) {
      restarts.started(Date.now());
      status.setServer({ kind: "ready" });
    }
  });
  try {
    await client.start();
  } catch (error) {
    const message = `could not start "${describeCommand(server)}": ${errorText(error)}`;
    output.error(message);
    status.setServer({ kind: "error", message });
    showError(`${message}. Set "completer.serverPath" or "completer.pythonPath".`);
  }
}

function clientOptions(): LanguageClientOptions {
  return {
    documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
    // A function, so a restart after a crash sends the settings of that moment.
    initializationOptions: () => serverSettings(currentSettings()),
    outputChannel: output,
    middleware: inlineCompletionMiddleware,
    initializationFailedHandler: () => false,
    errorHandler: {
      error: () => ({ action: ErrorAction.Continue }),
      closed: () => onServerClosed(),
    },
  };
}

/** Filters by language and enable flag, and feeds the status bar with working/latency. */
const inlineCompletionMiddleware: Middleware = {
  async provideInlineCompletionItems(document, position, context, token, next) {
    const settings = currentSettings();
    if (!languageEnabled(settings, document.languageId)) {
      return null;
    }
    if (!settings.automatic && context.triggerKind === vscode.InlineCompletionTriggerKind.Automatic) {
      return null;
    }
    status.requestStarted();
    const startedAt = performance.now();
    let latencyMs: number | null = null;
    try {
      const result = await next(document, position, context, token);
      if (!token.isCancellationRequested) {
        latencyMs = performance.now() - startedAt;
      }
      return result;
    } finally {
      status.requestFinished(latencyMs);
    }
  },
};

async function onServerClosed(): Promise<{ action: CloseAction; message?: string; handled: boolean }> {
  const delayMs = restarts.nextDelay(Date.now());
  if (delayMs === null) {
    const message = "the server keeps crashing; run \"Completer: Restart Server\" after fixing it (see the log)";
    status.setServer({ kind: "error", message });
    showError(`${message}.`);
    return { action: CloseAction.DoNotRestart, message, handled: true };
  }
  const message = `the server stopped unexpectedly; restarting in ${delayMs / 1000} s`;
  status.setServer({ kind: "restarting", delayMs });
  vscode.window.showWarningMessage(`Completer: ${message}.`);
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  status.setServer({ kind: "starting" });
  return { action: CloseAction.Restart, message, handled: true };
}

/** Not awaited: activation and the close handler must not wait for the user to click. */
function showError(message: string): void {
  void vscode.window.showErrorMessage(`Completer: ${message}`, "Open Settings", "Show Log").then((choice) => {
    if (choice === "Open Settings") {
      void vscode.commands.executeCommand("workbench.action.openSettings", "completer.");
    } else if (choice === "Show Log") {
      output.show();
    }
  });
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
