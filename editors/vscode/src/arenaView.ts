/**
 * Arena mode's second suggestion on screen: dimmed below the cursor's line (at the start of the next
 * line, or after the cursor's line when it is the last), named by its key. Shift+Tab accepts it
 * (`completer.arenaAcceptSecond`, bound while the `completer.arenaSecondVisible` context key is set),
 * Esc hides both suggestions; a change to the document, a cursor move or leaving the editor clears it.
 */
import * as vscode from "vscode";
import { endAfter, secondPreview } from "./arena";

const secondDecoration = vscode.window.createTextEditorDecorationType({});
const style = { color: new vscode.ThemeColor("editorGhostText.foreground"), fontStyle: "italic" };

interface Shown {
  editor: vscode.TextEditor;
  version: number;
  item: vscode.InlineCompletionItem;
}

let shown: Shown | undefined;

export const arenaDecorationTypes = [secondDecoration];

/** Draw `item` (its range filled in) for `editor` at `version`, the cursor on `line`. */
export function showSecond(editor: vscode.TextEditor, version: number, line: number, item: vscode.InlineCompletionItem): void {
  clearSecond();
  if (editor.document.version !== version || typeof item.insertText !== "string") {
    return;
  }
  const contentText = secondPreview(item.insertText);
  const below = line + 1 < editor.document.lineCount;
  const at = below ? new vscode.Position(line + 1, 0) : editor.document.lineAt(line).range.end;
  const renderOptions = below
    ? { before: { ...style, contentText, margin: "0 1em 0 0" } }
    : { after: { ...style, contentText, margin: "0 0 0 2em" } };
  editor.setDecorations(secondDecoration, [{ range: new vscode.Range(at, at), renderOptions }]);
  shown = { editor, version, item };
  void vscode.commands.executeCommand("setContext", "completer.arenaSecondVisible", true);
}

export function clearSecond(): void {
  if (!shown) {
    return;
  }
  shown.editor.setDecorations(secondDecoration, []);
  shown = undefined;
  void vscode.commands.executeCommand("setContext", "completer.arenaSecondVisible", false);
}

/** Esc: the ghost text goes (VS Code's own hide) and the second with it. */
export async function dismissSecond(): Promise<void> {
  clearSecond();
  await vscode.commands.executeCommand("editor.action.inlineSuggest.hide");
}

/**
 * Write the second suggestion over its range in place of the ghost text, then run its vote command,
 * as VS Code runs the first one's after Tab.
 */
export async function acceptSecond(): Promise<void> {
  const current = shown;
  clearSecond();
  if (!current || current.editor !== vscode.window.activeTextEditor || current.editor.document.version !== current.version) {
    return;
  }
  const { editor, item } = current;
  const text = item.insertText as string;
  const range = item.range ?? editor.selection;
  await vscode.commands.executeCommand("editor.action.inlineSuggest.hide");
  if (!(await editor.edit((edit) => edit.replace(range, text)))) {
    return;
  }
  const end = endAfter(range.start, text);
  editor.selection = new vscode.Selection(end.line, end.character, end.line, end.character);
  if (item.command) {
    await vscode.commands.executeCommand(item.command.command, ...(item.command.arguments ?? []));
  }
}

/** A change to the shown suggestion's document clears it (output channels change too: they do not). */
export function onDocumentChanged(document: vscode.TextDocument): void {
  if (shown?.editor.document === document) {
    clearSecond();
  }
}

/** So does a cursor move in its editor. */
export function onSelectionChanged(editor: vscode.TextEditor): void {
  if (shown?.editor === editor) {
    clearSecond();
  }
}
