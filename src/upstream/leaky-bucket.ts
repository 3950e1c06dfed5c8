import { sleep } from './retry.js';

/** A rate an upstream enforces: `perSecond` drained continuously, at most `burst` at once. */
export interface RateLimit {
  perSecond: number;
  burst: number;
}

/**
 * Client-side pacing, so that an upstream's own limiter rarely has to say no: a leaky bucket per
 * limit (Bitrix24 documents exactly this: 2/s, burst 50 per portal), every limit must have room.
 * Callers are served first come, first served; `acquire()` resolves when the request may go.
 */
export class LeakyBucket {
  private readonly levels: number[];
  private updatedAt: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly limits: readonly RateLimit[],
    private readonly now: () => number = () => performance.now(),
  ) {
    this.levels = limits.map(() => 0);
    this.updatedAt = now();
  }

  acquire(): Promise<void> {
    const turn = this.queue.then(() => this.take());
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  /** How long the next request would wait right now, in ms (0 when it may go at once). */
  waitMs(): number {
    this.drain();
    let wait = 0;
    this.limits.forEach((limit, i) => {
      const excess = this.levels[i]! + 1 - limit.burst;
      if (excess > 0) wait = Math.max(wait, (excess / limit.perSecond) * 1000);
    });
    return wait;
  }

  private async take(): Promise<void> {
    for (let wait = this.waitMs(); wait > 0; wait = this.waitMs()) await sleep(Math.ceil(wait));
    this.levels.forEach((level, i) => (this.levels[i] = level + 1));
  }

  private drain(): void {
    const now = this.now();
    const elapsedSeconds = (now - this.updatedAt) / 1000;
    this.updatedAt = now;
    this.limits.forEach((limit, i) => (this.levels[i] = Math.max(0, this.levels[i]! - elapsedSeconds * limit.perSecond)));
  }
}
