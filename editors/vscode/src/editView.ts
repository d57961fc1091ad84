/**
 * A suggested edit on screen: the old text struck through, the new text beside it; Tab applies it
 * (through `completer.acceptEdit`, bound while the `completer.editVisible` context key is set) and
 * Esc, any change to the document or leaving the editor dismisses it.
 */
import * as vscode from "vscode";
import { previewText, ServerEdit } from "./nextEdit";

const oldText = vscode.window.createTextEditorDecorationType({
  textDecoration: "line-through",
  color: new vscode.ThemeColor("editorError.foreground"),
  backgroundColor: new vscode.ThemeColor("diffEditor.removedTextBackground"),
});
const newText = vscode.window.createTextEditorDecorationType({
  after: {
    color: new vscode.ThemeColor("gitDecoration.addedResourceForeground"),
    backgroundColor: new vscode.ThemeColor("diffEditor.insertedTextBackground"),
    margin: "0 0 0 0.3em",
  },
});

interface Shown {
  editor: vscode.TextEditor;
  version: number;
  edits: vscode.TextEdit[];
}

let shown: Shown | undefined;

export const decorationTypes = [oldText, newText];

/** Draw `edits` (server ranges, already in the document's UTF-16 positions) in `editor` at `version`. */
export function showEdits(editor: vscode.TextEditor, version: number, edits: ServerEdit[]): void {
  dismissEdit();
  if (edits.length === 0 || editor.document.version !== version) {
    return;
  }
  const textEdits = edits.map((e) => {
    const range = new vscode.Range(e.range.start.line, e.range.start.character, e.range.end.line, e.range.end.character);
    return new vscode.TextEdit(editor.document.validateRange(range), e.text);
  });
  editor.setDecorations(oldText, textEdits.filter((e) => !e.range.isEmpty).map((e) => e.range));
  editor.setDecorations(
    newText,
    textEdits.map((e) => ({ range: new vscode.Range(e.range.end, e.range.end), renderOptions: { after: { contentText: previewText(e.newText) } } })),
  );
  shown = { editor, version, edits: textEdits };
  void vscode.commands.executeCommand("setContext", "completer.editVisible", true);
}

export function dismissEdit(): void {
  if (!shown) {
    return;
  }
  shown.editor.setDecorations(oldText, []);
  shown.editor.setDecorations(newText, []);
  shown = undefined;
  void vscode.commands.executeCommand("setContext", "completer.editVisible", false);
}

/** Apply the edit on screen, if its document is still at the version it was suggested for. */
export async function acceptEdit(): Promise<void> {
  const current = shown;
  dismissEdit();
  if (!current || current.editor.document.version !== current.version) {
    return;
  }
  const edit = new vscode.WorkspaceEdit();
  edit.set(current.editor.document.uri, current.edits);
  await vscode.workspace.applyEdit(edit);
}

/** A change to the shown edit's document (or another editor) dismisses it. */
export function onDocumentChanged(document: vscode.TextDocument): void {
  if (shown && shown.editor.document === document) {
    dismissEdit();
  }
}

export function isShownIn(editor: vscode.TextEditor | undefined): boolean {
  return shown !== undefined && shown.editor === editor;
}
