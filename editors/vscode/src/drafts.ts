/**
 * `completer/draft` notifications: the server's current draft of a suggestion it is still
 * working on, post-processed like the final item, which replaces it.
 */
export const DRAFT_NOTIFICATION = "completer/draft";

export interface Draft {
  uri: string;
  version: number;
  position: { line: number; character: number };
  text: string;
}

/** Decorations after the cursor hold one line: the first, with a mark when more follows. */
export function draftFirstLine(text: string): string {
  const newline = text.indexOf("\n");
  return newline === -1 ? text : `${text.slice(0, newline)} …`;
}
