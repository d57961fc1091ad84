/**
 * VS Code entry point: runs the completer language server and shows its
 * inline completions and, while the model works, its drafts; after a pause
 * in typing it asks for a next edit, and "Rewrite Selection" (a command and
 * the server's code action) previews a rewrite, both drawn by editView.ts.
 * In arena mode it shows two systems' suggestions at once (the second drawn
 * by arenaView.ts), counts the votes and opens the leaderboard.
 * The logic that does not need VS Code lives in settings.ts, serverCommand.ts,
 * restartPolicy.ts, status.ts, ranges.ts, drafts.ts, nextEdit.ts and arena.ts.
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
import { LEADERBOARD_COMMAND, markdownOf, splitArenaPair, VOTE_COMMAND, voteCountText, votesOf } from "./arena";
import * as arenaView from "./arenaView";
import { Draft, DRAFT_NOTIFICATION, draftFirstLine } from "./drafts";
import { acceptEdit, decorationTypes, dismissEdit, onDocumentChanged, showEdits } from "./editView";
import { editsOf, NEXT_EDIT_REQUEST, REWRITE_COMMAND } from "./nextEdit";
import { fillMissingRanges } from "./ranges";
import { RestartPolicy } from "./restartPolicy";
import { describeCommand, resolveServerCommand } from "./serverCommand";
import { CompleterSettings, languageEnabled, PROCESS_SETTINGS, readSettings, serverSettings } from "./settings";
import { Status } from "./status";

let client: LanguageClient | undefined;
let output: vscode.LogOutputChannel;
let status: Status;
const restarts = new RestartPolicy();
/** Bumped by every start, so a restart scheduled for an older server does nothing. */
let generation = 0;
/** The user typed before the server could answer: ask once it can, instead of waiting for the next key. */
let typedWhileStarting = false;
/** Requests in flight per document URI: a draft is shown only while its request runs. */
const inFlight = new Map<string, number>();
/** The editor showing a draft, if any: keystrokes clear it only then. */
let draftEditor: vscode.TextEditor | undefined;
/** Quiet time after the last change before asking for a next edit. */
const NEXT_EDIT_DEBOUNCE_MS = 500;
let nextEditTimer: NodeJS.Timeout | undefined;
const draftDecoration = vscode.window.createTextEditorDecorationType({
  after: { color: new vscode.ThemeColor("editorGhostText.foreground"), fontStyle: "italic" },
});
/** Arena mode's status bar item: the votes in the database, once the server has told the count. */
let arenaItem: vscode.StatusBarItem;
let arenaVotes: number | undefined;
/** The leaderboard opens as a read-only document of this scheme: nothing to save, nothing sent to the server. */
const LEADERBOARD_URI = vscode.Uri.from({ scheme: "completer-arena", path: "Arena leaderboard.md" });
let leaderboard = "";
const leaderboardChanged = new vscode.EventEmitter<vscode.Uri>();

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
  arenaItem = vscode.window.createStatusBarItem("arena", vscode.StatusBarAlignment.Right, 99);
  arenaItem.name = "Completer Arena";
  arenaItem.command = LEADERBOARD_COMMAND;
  arenaItem.tooltip = "Completer arena: Tab accepts the ghost text, Shift+Tab the suggestion below it. Click for the leaderboard.";
  showArenaVotes();

  context.subscriptions.push(
    output,
    item,
    arenaItem,
    leaderboardChanged,
    vscode.workspace.registerTextDocumentContentProvider(LEADERBOARD_URI.scheme, {
      onDidChange: leaderboardChanged.event,
      provideTextDocumentContent: () => leaderboard,
    }),
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
    vscode.commands.registerCommand("completer.suggestEdit", () => requestNextEdit(true)),
    vscode.commands.registerCommand("completer.rewriteSelection", () => rewriteSelection()),
    vscode.commands.registerCommand("completer.acceptEdit", () => acceptEdit()),
    vscode.commands.registerCommand("completer.dismissEdit", () => dismissEdit()),
    vscode.commands.registerCommand("completer.arenaAcceptSecond", () => arenaView.acceptSecond()),
    vscode.commands.registerCommand("completer.arenaDismiss", () => arenaView.dismissSecond()),
    vscode.workspace.onDidChangeConfiguration((event) => onConfigurationChanged(event)),
    vscode.workspace.onDidChangeTextDocument((event) => {
      clearDraft();
      if (event.contentChanges.length > 0) {
        onDocumentChanged(event.document);
        arenaView.onDocumentChanged(event.document);
        scheduleNextEdit(event.document);
      }
      if (client?.state !== State.Running && event.document === vscode.window.activeTextEditor?.document) {
        typedWhileStarting = event.contentChanges.length > 0 || typedWhileStarting;
      }
    }),
    vscode.window.onDidChangeTextEditorSelection((event) => {
      clearDraft();
      arenaView.onSelectionChanged(event.textEditor);
    }),
    vscode.window.onDidChangeActiveTextEditor(() => {
      dismissEdit();
      arenaView.clearSecond();
    }),
    draftDecoration,
    ...decorationTypes,
    ...arenaView.arenaDecorationTypes,
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
  if (event.affectsConfiguration("completer.arena")) {
    arenaVotes = undefined; // another database, maybe
    showArenaVotes();
  }
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
  generation++; // a restart scheduled for the old server must not start a second one
  const stopping = client;
  client = undefined;
  if (stopping?.needsStop()) {
    await stopping.stop();
  }
}

async function startServer(): Promise<void> {
  const settings = currentSettings();
  const server = resolveServerCommand(settings, os.homedir());
  const started = ++generation;
  output.info(`Starting the server: ${describeCommand(server)}`);
  status.setServer({ kind: "starting" });
  const starting = new LanguageClient(
    "completer",
    "Completer",
    { command: server.command, args: server.args },
    clientOptions(started),
  );
  client = starting;
  starting.onDidChangeState((change) => {
    if (change.newState === State.Running) {
      restarts.started(Date.now());
      status.setServer({ kind: "ready" });
    }
  });
  starting.onNotification(DRAFT_NOTIFICATION, (draft: Draft) => showDraft(draft));
  try {
    await starting.start();
  } catch (error) {
    const command = describeCommand(server);
    if (errorText(error).startsWith("Launching server using")) {
      // vscode-languageclient's words for a spawn that failed (ENOENT, EACCES): retrying cannot help
      giveUp(`could not start "${command}": ${errorText(error)}`, 'Set "completer.serverPath" or "completer.pythonPath".');
      return;
    }
    serverStopped(started, `could not start "${command}": ${errorText(error)}`);
    return;
  }
  if (typedWhileStarting && currentSettings().automatic) {
    void vscode.commands.executeCommand("editor.action.inlineSuggest.trigger");
  }
  typedWhileStarting = false;
}

function clientOptions(started: number): LanguageClientOptions {
  return {
    documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
    // A function, so a restart after a crash sends the settings of that moment.
    initializationOptions: () => serverSettings(currentSettings()),
    outputChannel: output,
    middleware: { ...inlineCompletionMiddleware, executeCommand: onCommand },
    initializationFailedHandler: () => false,
    // Both handled here: the client's own handling pops up raw errors (EPIPE) and restarts without back-off.
    errorHandler: {
      error: (error) => {
        output.warn(`connection error: ${error.message}`);
        return { action: ErrorAction.Continue, handled: true };
      },
      closed: () => {
        serverStopped(started, "the server stopped unexpectedly");
        return { action: CloseAction.DoNotRestart, handled: true };
      },
    },
  };
}

/**
 * Filters by language and enable flag, gives every item a range (without one VS Code takes the
 * word at the cursor as the range and drops items that do not start with it), feeds the
 * status bar with working, latency and empty results, and in arena mode hands VS Code the first
 * suggestion only and draws the second.
 */
const inlineCompletionMiddleware: Middleware = {
  async provideInlineCompletionItems(document, position, context, token, next) {
    const settings = currentSettings();
    if (!languageEnabled(settings, document.languageId)) {
      return null;
    }
    if (!settings.automatic && context.triggerKind === vscode.InlineCompletionTriggerKind.Automatic) {
      return null;
    }
    const uri = document.uri.toString();
    const version = document.version;
    inFlight.set(uri, (inFlight.get(uri) ?? 0) + 1);
    status.requestStarted();
    const startedAt = performance.now();
    let latencyMs: number | null = null;
    let empty = false;
    try {
      const result = await next(document, position, context, token);
      const items = result ? (Array.isArray(result) ? result : result.items) : [];
      fillMissingRanges(items, new vscode.Range(position, position));
      if (token.isCancellationRequested) {
        return result;
      }
      latencyMs = performance.now() - startedAt;
      empty = items.length === 0;
      const { shown, second } = splitArenaPair(items);
      const editor = vscode.window.activeTextEditor;
      arenaView.clearSecond();
      if (second && editor?.document === document && editor.selection.active.isEqual(position)) {
        arenaView.showSecond(editor, version, position.line, second);
      }
      return second ? shown : result;
    } finally {
      inFlight.set(uri, (inFlight.get(uri) ?? 1) - 1);
      clearDraft();
      status.requestFinished(latencyMs, empty);
    }
  },
};

/** The server's commands whose results the extension shows: rewrites, arena votes and the leaderboard. */
const onCommand: Middleware["executeCommand"] = async (command, args, next) => {
  switch (command) {
    case REWRITE_COMMAND:
      return previewRewrite(args, next);
    case VOTE_COMMAND:
      return countVotes(await next(command, args));
    case LEADERBOARD_COMMAND:
      return openLeaderboard(next);
    default:
      return next(command, args);
  }
};

type NextCommand = Parameters<NonNullable<Middleware["executeCommand"]>>[2];

/** The rewrite command's result (also when run from the server's code action) is previewed, not applied unseen. */
async function previewRewrite(args: unknown[], next: NextCommand): Promise<unknown> {
  const editor = vscode.window.activeTextEditor;
  const version = editor?.document.version;
  const result = await next(REWRITE_COMMAND, args);
  if (editor && editor === vscode.window.activeTextEditor) {
    const edits = editsOf(result, version);
    if (edits.length === 0) {
      void vscode.window.setStatusBarMessage("Completer: the rewrite is the same text", 3000);
    }
    showEdits(editor, version ?? -1, edits);
  }
  return result;
}

/** A vote's (or the leaderboard's) count of votes goes to the status bar. */
function countVotes(result: unknown): unknown {
  arenaVotes = votesOf(result) ?? arenaVotes;
  showArenaVotes();
  return result;
}

function showArenaVotes(): void {
  arenaItem.text = voteCountText(arenaVotes);
  if (currentSettings().arena === null) {
    arenaItem.hide();
  } else {
    arenaItem.show();
  }
}

/** "Completer: Arena Leaderboard": the server's report as a read-only markdown document; its error (arena mode off) as a message. */
async function openLeaderboard(next: NextCommand): Promise<unknown> {
  let result: unknown;
  try {
    result = countVotes(await next(LEADERBOARD_COMMAND, []));
  } catch (error) {
    void vscode.window.showErrorMessage(`Completer: ${errorText(error)}`);
    return undefined;
  }
  const markdown = markdownOf(result);
  if (markdown !== undefined) {
    leaderboard = markdown;
    leaderboardChanged.fire(LEADERBOARD_URI);
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(LEADERBOARD_URI), { preview: false });
  }
  return result;
}

/** Ask again once typing pauses, for the active editor's document. */
function scheduleNextEdit(document: vscode.TextDocument): void {
  clearTimeout(nextEditTimer);
  const settings = currentSettings();
  if (!settings.nextEdits || !languageEnabled(settings, document.languageId) || document !== vscode.window.activeTextEditor?.document) {
    return;
  }
  nextEditTimer = setTimeout(() => void requestNextEdit(false), NEXT_EDIT_DEBOUNCE_MS);
}

/** `completer/nextEdit` at the cursor; shown when the document has not changed meanwhile. */
async function requestNextEdit(invoked: boolean): Promise<void> {
  clearTimeout(nextEditTimer);
  const editor = vscode.window.activeTextEditor;
  if (!editor || client?.state !== State.Running) {
    return;
  }
  const { document } = editor;
  const version = document.version;
  const position = editor.selection.active;
  let reply: unknown;
  try {
    reply = await client.sendRequest(NEXT_EDIT_REQUEST, {
      textDocument: { uri: document.uri.toString(), version },
      position: { line: position.line, character: position.character },
    });
  } catch (error) {
    output.warn(`next edit: ${errorText(error)}`);
    return;
  }
  if (editor !== vscode.window.activeTextEditor || document.version !== version) {
    return;
  }
  const edits = editsOf(reply, version);
  if (edits.length === 0 && invoked) {
    void vscode.window.setStatusBarMessage("Completer: no edit to suggest here", 3000);
  }
  showEdits(editor, version, edits);
}

/** "Completer: Rewrite Selection": the server's rewrite command on the selection, previewed by `previewRewrite`. */
async function rewriteSelection(): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.selection.isEmpty || client?.state !== State.Running) {
    return;
  }
  const { start, end } = editor.selection;
  const range = { start: { line: start.line, character: start.character }, end: { line: end.line, character: end.character } };
  await vscode.commands.executeCommand(REWRITE_COMMAND, { uri: editor.document.uri.toString(), range });
}

/** A draft for the cursor of the active editor, while its request still runs: ghost-coloured text after the cursor. */
function showDraft(draft: Draft): void {
  const editor = vscode.window.activeTextEditor;
  if (!editor || !currentSettings().drafts || !(inFlight.get(draft.uri) ?? 0)) {
    return;
  }
  const cursor = editor.selection.active;
  const document = editor.document;
  if (document.uri.toString() !== draft.uri || document.version !== draft.version) {
    return;
  }
  if (cursor.line !== draft.position.line || cursor.character !== draft.position.character) {
    return;
  }
  editor.setDecorations(draftDecoration, [
    { range: new vscode.Range(cursor, cursor), renderOptions: { after: { contentText: draftFirstLine(draft.text) } } },
  ]);
  draftEditor = editor;
}

function clearDraft(): void {
  draftEditor?.setDecorations(draftDecoration, []);
  draftEditor = undefined;
}

/** The server of generation `started` is gone: restart it after a growing delay, or give up and say why. */
function serverStopped(started: number, reason: string): void {
  if (started !== generation) {
    return; // already handled (a failed start also closes the connection) or replaced by a restart
  }
  generation++;
  const delayMs = restarts.nextDelay(Date.now());
  if (delayMs === null) {
    giveUp(`${reason}; it keeps failing, so it is not restarted`, 'Run "Completer: Restart Server" after fixing it (see the log).');
    return;
  }
  output.error(reason);
  output.info(`restarting the server in ${delayMs / 1000} s`);
  status.setServer({ kind: "restarting", delayMs });
  const scheduled = generation;
  setTimeout(() => {
    if (scheduled === generation) {
      void startServer();
    }
  }, delayMs);
}

/** The server stays stopped: the reason in the log and the status bar, and one pop-up with what to do. */
function giveUp(reason: string, advice: string): void {
  output.error(reason);
  status.setServer({ kind: "error", message: reason });
  showError(`${reason}. ${advice}`);
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
