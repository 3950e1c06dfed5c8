import type { EmulatorClock } from './clock.js';

/**
 * A leaky bucket, as an upstream enforces it: each request adds 1, the level drains continuously at
 * `perSecond`, and a request that would take it above `burst` is refused (and adds nothing).
 */
export class LeakyBucket {
  private level = 0;
  private levelAtMs: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly clock: EmulatorClock,
  ) {
    this.levelAtMs = clock.now();
  }

  /** Adds one request, or returns false when the bucket would overflow. */
  take(): boolean {
    const nowMs = this.clock.now();
    this.level = Math.max(0, this.level - ((nowMs - this.levelAtMs) / 1000) * this.perSecond);
    this.levelAtMs = nowMs;
    if (this.level + 1 > this.burst) return false;
    this.level += 1;
    return true;
  }

  /** Empties the bucket. */
  clear(): void {
    this.level = 0;
    this.levelAtMs = this.clock.now();
  }
}
