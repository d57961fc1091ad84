/**
 * Arena mode (issue #36): the server answers two systems' suggestions, each carrying a
 * `completer.arenaVote` command; the first is VS Code's ghost text, the second is drawn below
 * the line by arenaView.ts. Kept free of `vscode` imports so it can be unit-tested.
 */
import { draftFirstLine } from "./drafts";

export const VOTE_COMMAND = "completer.arenaVote";
export const LEADERBOARD_COMMAND = "completer.arenaLeaderboard";
/** The key that accepts the second suggestion, as the decoration names it (package.json binds it). */
export const SECOND_KEY = "Shift+Tab";

interface Item {
  insertText: unknown;
  command?: { command: string };
}

/**
 * Splits an arena answer: VS Code gets only the first item, so cycling through items cannot swap
 * them; the second is kept for the decoration. Anything else is passed through whole.
 */
export function splitArenaPair<T extends Item>(items: T[]): { shown: T[]; second?: T } {
  const votes = items.length === 2 && items.every((item) => item.command?.command === VOTE_COMMAND);
  return votes ? { shown: [items[0]], second: items[1] } : { shown: items };
}

/** The decoration's text: the key, then the suggestion's first written line (one opening with a line break shows the next). */
export function secondPreview(text: string): string {
  return `${SECOND_KEY}: ${draftFirstLine(text.replace(/^[ \t]*\r?\n/, "").trimStart())}`;
}

/** The `votes` count of a vote's or the leaderboard's result; undefined when it has none. */
export function votesOf(result: unknown): number | undefined {
  const votes = (result as { votes?: unknown } | null)?.votes;
  return Number.isInteger(votes) && (votes as number) >= 0 ? (votes as number) : undefined;
}

/** The leaderboard's markdown; undefined when the result has none. */
export function markdownOf(result: unknown): string | undefined {
  const markdown = (result as { markdown?: unknown } | null)?.markdown;
  return typeof markdown === "string" ? markdown : undefined;
}

/** The status bar item in arena mode: the count once the server has told one. */
export function voteCountText(votes: number | undefined): string {
  if (votes === undefined) {
    return "arena";
  }
  return `arena: ${votes} ${votes === 1 ? "vote" : "votes"}`;
}

/** Where the cursor ends after `text` is written from `start`. */
export function endAfter(start: { line: number; character: number }, text: string): { line: number; character: number } {
  const lines = text.split(/\r?\n/);
  const last = lines[lines.length - 1];
  return lines.length === 1 ? { line: start.line, character: start.character + last.length } : { line: start.line + lines.length - 1, character: last.length };
}
