/**
 * Edits beyond the cursor: the server's `completer/nextEdit` answers and `completer.rewrite`
 * results, both `{edits: [{range, text}], version}`. Kept free of `vscode` imports so the reading
 * and the preview text can be unit-tested; extension.ts draws and applies them.
 */
export const NEXT_EDIT_REQUEST = "completer/nextEdit";
export const REWRITE_COMMAND = "completer.rewrite";

export interface Position {
  line: number;
  character: number;
}

export interface ServerEdit {
  range: { start: Position; end: Position };
  text: string;
}

function isPosition(value: unknown): value is Position {
  const p = value as Position;
  return typeof p === "object" && p !== null && Number.isInteger(p.line) && Number.isInteger(p.character) && p.line >= 0 && p.character >= 0;
}

/** The edits of a reply, for the document version asked about; [] for anything else (stale, malformed, null). */
export function editsOf(reply: unknown, version: number | undefined): ServerEdit[] {
  const r = reply as { edits?: unknown; version?: unknown };
  if (typeof r !== "object" || r === null || !Array.isArray(r.edits)) {
    return [];
  }
  if (version !== undefined && r.version !== undefined && r.version !== null && r.version !== version) {
    return [];
  }
  return r.edits.filter(
    (e): e is ServerEdit =>
      typeof e === "object" && e !== null && typeof e.text === "string" && isPosition(e.range?.start) && isPosition(e.range?.end),
  );
}

/** The new text as one line beside the old: line breaks shown as ⏎, an empty replacement as a deletion mark. */
export function previewText(text: string): string {
  return text === "" ? "⌫" : text.replace(/\r?\n/g, "⏎");
}
