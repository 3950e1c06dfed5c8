/**
 * Time as an emulator sees it: epoch milliseconds, like `Date.now()`. Every emulator takes one in its
 * options (`clock`) and reads everything time-based from it (rate-limit windows, buckets, token expiry,
 * timestamps it sends), so that a test moves time instead of sleeping. Latency stays on real timers: it
 * only makes an answer slow.
 */
export interface EmulatorClock {
  /** Epoch milliseconds. */
  now(): number;
}

/** The default: the system's wall clock. */
export const systemEmulatorClock: EmulatorClock = { now: () => Date.now() };

/** A clock that stands still until a test moves it. */
export class ManualEmulatorClock implements EmulatorClock {
  private nowMs: number;

  /** Starts at `startMs`, epoch milliseconds (a fixed instant keeps a test the same on every run). */
  constructor(startMs: number) {
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  /** Moves time forward by `ms`. */
  advance(ms: number): void {
    if (ms < 0) throw new Error('ManualEmulatorClock: time only moves forward');
    this.nowMs += ms;
  }
}
