import type { Clock } from '../../src/upstream/clock.js';

/**
 * A clock that moves only when a test moves it: timers fire in time order as `advance` passes them,
 * with pending promise callbacks run between them, so code under test sees time pass as it would,
 * without a test ever racing the wall clock.
 */
export class ManualClock implements Clock {
  private time = 0;
  private sequence = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.time;
  }

  setTimer(fn: () => void, ms: number): () => void {
    const id = ++this.sequence;
    this.timers.set(id, { at: this.time + Math.max(0, ms), fn });
    return () => this.timers.delete(id);
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  async advance(ms: number): Promise<void> {
    const target = this.time + ms;
    await settle();
    for (;;) {
      const next = this.nextTimer();
      if (next === undefined || next.at > target) break;
      this.timers.delete(next.id);
      this.time = Math.max(this.time, next.at);
      next.fn();
      await settle();
    }
    this.time = target;
    await settle();
  }

  /** Moves time to the next timer and fires it; false when none is pending. */
  async step(): Promise<boolean> {
    await settle();
    const next = this.nextTimer();
    if (next === undefined) return false;
    await this.advance(next.at - this.time);
    return true;
  }

  private nextTimer(): { id: number; at: number; fn: () => void } | undefined {
    let next: { id: number; at: number; fn: () => void } | undefined;
    for (const [id, timer] of this.timers) if (next === undefined || timer.at < next.at) next = { id, ...timer };
    return next;
  }
}

/** Lets every pending promise callback run (a few macrotask turns). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
