/**
 * What the status bar item says. The extension reports events here and
 * renders `view()`; keeping it free of `vscode` makes it unit-testable.
 */

export type ServerState =
  | { kind: "starting" }
  | { kind: "ready" }
  | { kind: "restarting"; delayMs: number }
  | { kind: "error"; message: string };

export interface StatusView {
  text: string;
  tooltip: string;
  isError: boolean;
}

export class Status {
  private server: ServerState = { kind: "starting" };
  private inFlight = 0;
  private lastLatencyMs: number | null = null;
  private lastWasEmpty = false;

  constructor(private enabled: boolean, private readonly onChange: (view: StatusView) => void) {}

  setEnabled(enabled: boolean): void {
    this.enabled = enabled;
    this.changed();
  }

  setServer(state: ServerState): void {
    this.server = state;
    if (state.kind !== "ready") {
      this.inFlight = 0;
    }
    this.changed();
  }

  requestStarted(): void {
    this.inFlight += 1;
    this.changed();
  }

  /**
   * latencyMs is null for a request that was cancelled or failed: it says nothing about speed.
   * empty: the request ran and came back with nothing to show, which the user cannot see otherwise.
   */
  requestFinished(latencyMs: number | null, empty = false): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    if (latencyMs !== null) {
      this.lastLatencyMs = latencyMs;
      this.lastWasEmpty = empty;
    }
    this.changed();
  }

  view(): StatusView {
    const toggleHint = this.enabled ? "Click to disable completions." : "Click to enable completions.";
    switch (this.server.kind) {
      case "error":
        return { text: "$(error) Completer", tooltip: `Completer: ${this.server.message}`, isError: true };
      case "restarting":
        return {
          text: "$(sync~spin) Completer",
          tooltip: `Completer: server stopped, restarting in ${Math.round(this.server.delayMs / 1000)} s`,
          isError: true,
        };
      case "starting":
        return { text: "$(sync~spin) Completer", tooltip: "Completer: starting the server", isError: false };
    }
    if (!this.enabled) {
      return { text: "$(circle-slash) Completer", tooltip: `Completer: disabled. ${toggleHint}`, isError: false };
    }
    if (this.inFlight > 0) {
      return { text: "$(loading~spin) Completer", tooltip: `Completer: working. ${toggleHint}`, isError: false };
    }
    if (this.lastLatencyMs === null) {
      return { text: "$(sparkle) Completer", tooltip: `Completer: ready. ${toggleHint}`, isError: false };
    }
    const ms = `${Math.round(this.lastLatencyMs)} ms`;
    if (this.lastWasEmpty) {
      return {
        text: `$(sparkle) Completer: no suggestion (${ms})`,
        tooltip: `Completer: ready; the last request (${ms}) came back with no suggestion. ${toggleHint}`,
        isError: false,
      };
    }
    return { text: `$(sparkle) Completer ${ms}`, tooltip: `Completer: ready, last suggestion took ${ms}. ${toggleHint}`, isError: false };
  }

  private changed(): void {
    this.onChange(this.view());
  }
}
