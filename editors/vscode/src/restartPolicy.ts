/**
 * When to restart a crashed server: growing delays so a server that dies at
 * start-up does not spin, and a clean slate after a long healthy run.
 */
export class RestartPolicy {
  private attempts = 0;
  private startedAtMs = 0;

  constructor(
    private readonly delaysMs: readonly number[] = [1000, 2000, 4000, 8000, 16000],
    private readonly healthyAfterMs = 60_000,
  ) {}

  started(nowMs: number): void {
    this.startedAtMs = nowMs;
  }

  /** Milliseconds to wait before restarting, or null when it is time to give up. */
  nextDelay(nowMs: number): number | null {
    if (nowMs - this.startedAtMs >= this.healthyAfterMs) {
      this.attempts = 0;
    }
    if (this.attempts >= this.delaysMs.length) {
      return null;
    }
    return this.delaysMs[this.attempts++];
  }

  reset(): void {
    this.attempts = 0;
  }
}
