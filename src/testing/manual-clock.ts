import type { Clock } from '../core/clock.js';

/**
 * A clock that moves only when a test moves it: timers fire in time order as `advance` passes them,
 * with pending promise callbacks run between them, so code under test sees time pass as it would,
 * without a test ever racing the wall clock.
 *
 * Its wall time is a fixed epoch (given, or 1 Jan 2025 00:00:00 UTC) plus the time it has moved.
 */
export class ManualClock implements Clock {
  private time = 0;
  private sequence = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  /** Callers of `timerSet()` waiting for the next timer. */
  private waiters: Array<() => void> = [];

  constructor(private readonly epochMs: number = Date.UTC(2025, 0, 1)) {}

  now(): number {
    return this.time;
  }

  wallNow(): number {
    return this.epochMs + this.time;
  }

  setTimer(fn: () => void, ms: number): () => void {
    const id = ++this.sequence;
    this.timers.set(id, { at: this.time + Math.max(0, ms), fn });
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
    return () => this.timers.delete(id);
  }

  /** Timers set and neither fired nor cancelled. */
  get pending(): number {
    return this.timers.size;
  }

  /** Milliseconds from now to the next timer; undefined when none is pending. */
  nextIn(): number | undefined {
    const next = this.nextTimer();
    return next === undefined ? undefined : next.at - this.time;
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

  /** Resolves once a timer is pending: at once if one is, else when the next one is set. */
  timerSet(): Promise<void> {
    if (this.timers.size > 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Settles `work`, which waits on this clock between steps that take real time (I/O): whenever it is
   * blocked on a timer of this clock, time jumps to that timer. Resolves or rejects as `work` does.
   */
  async run<T>(work: Promise<T>): Promise<T> {
    let done = false;
    const finished = work.then(
      () => {
        done = true;
      },
      () => {
        done = true;
      },
    );
    while (!done) {
      await Promise.race([finished, this.timerSet()]);
      if (!done) await this.step();
    }
    return work;
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
