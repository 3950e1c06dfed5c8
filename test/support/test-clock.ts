import { type Clock, systemClock } from '../../src/core/clock.js';
import type { EmulatorClock } from '../../src/emulators/clock.js';
import type { TestClocks } from '../../src/providers/kit.js';

/** A whole second, so that a reset "in 600 s" is 600 s from the subgraph's point of view too. */
const WALL_START = Date.UTC(2025, 5, 2, 12, 0, 0);

/**
 * One clock for the subgraph and the emulators of a test that moves time: the subgraph's wall time, and
 * that of the emulators on `frozen`, stand still, so that every `retryAfter` derived from an absolute
 * reset is exact; `advance()` moves every clock at once (past a rate-limit reset) instead of waiting.
 * Waits, pacing and deadlines still run on real timers.
 */
export class TestClock implements Clock, TestClocks {
  private offsetMs = 0;
  readonly setTimer = systemClock.setTimer;

  /** Real monotonic time, plus what `advance` added. */
  now(): number {
    return performance.now() + this.offsetMs;
  }

  wallNow(): number {
    return WALL_START + this.offsetMs;
  }

  /** Moves every clock forward by `ms` at once. */
  advance(ms: number): void {
    this.offsetMs += ms;
  }

  /** The subgraph's wall time, standing still but for `advance`. */
  readonly frozen: EmulatorClock = { now: () => this.wallNow() };
  /** Real time (a throttle needs time to pass), moved by `advance` too. */
  readonly running: EmulatorClock = { now: () => Date.now() + this.offsetMs };
}

/**
 * Time for the providers' clients that passes at once: every wait (Nexudus's 1 request / 100 ms and 120 /
 * minute, Bitrix24's leaky bucket) moves it on by the wait and fires at the next turn. Each case of a
 * property still obeys the pacing; a thousand cases just do not spend minutes in it.
 */
export function skippingClock(): Clock {
  let skipped = 0;
  return {
    now: () => performance.now() + skipped,
    wallNow: () => Date.now() + skipped,
    setTimer(fn, ms) {
      skipped += Math.max(0, ms);
      const immediate = setImmediate(fn);
      return () => clearImmediate(immediate);
    },
  };
}
