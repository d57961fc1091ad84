/**
 * When to restart a crashed server: growing delays so a server that dies at
 * start-up does not spin, and a clean slate only after a long healthy run.
 */
export class RestartPolicy {
  private attempts = 0;
  /** When the running server became ready; null while none has since the last crash. */
  private readyAtMs: number | null = null;

  constructor(
    private readonly delaysMs: readonly number[] = [1000, 2000, 4000, 8000, 16000],
    private readonly healthyAfterMs = 60_000,
  ) {}

  /** The server answered initialize: it is running. */
  started(nowMs: number): void {
    this.readyAtMs = nowMs;
  }

  /** Milliseconds to wait before restarting after a crash, or null when it is time to give up. */
  nextDelay(nowMs: number): number | null {
    if (this.readyAtMs !== null && nowMs - this.readyAtMs >= this.healthyAfterMs) {
      this.attempts = 0;
    }
    this.readyAtMs = null; // a server that never becomes ready again must not look healthy
    if (this.attempts >= this.delaysMs.length) {
      return null;
    }
    return this.delaysMs[this.attempts++];
  }

  reset(): void {
    this.attempts = 0;
  }
}
