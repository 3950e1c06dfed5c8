import type { EmulatorClock } from './clock.js';

/** At most `count` accepted requests in any `windowMs` (a minimum interval is `{ count: 1, windowMs }`). */
export interface SlidingWindowRule {
  count: number;
  windowMs: number;
}

/**
 * Sliding windows per key (a token, an account): a request is accepted when, for every rule, fewer than
 * `count` requests were accepted in the `windowMs` before it; a refused request counts for nothing.
 */
export class SlidingWindows {
  /** Per key, the times of its accepted requests, oldest first, as far back as the longest window. */
  private readonly accepted = new Map<string, number[]>();
  private readonly longestWindowMs: number;

  constructor(
    private readonly rules: readonly SlidingWindowRule[],
    private readonly clock: EmulatorClock,
  ) {
    this.longestWindowMs = Math.max(0, ...rules.map((rule) => rule.windowMs));
  }

  /** Accepts one request for `key`, or returns false (nothing spent) when a rule says no. */
  take(key: string): boolean {
    const nowMs = this.clock.now();
    let times = this.accepted.get(key);
    if (times === undefined) {
      times = [];
      this.accepted.set(key, times);
    }
    const expired = countUpTo(times, nowMs - this.longestWindowMs);
    if (expired > 0) times.splice(0, expired);
    for (const rule of this.rules) {
      if (times.length - countUpTo(times, nowMs - rule.windowMs) >= rule.count) return false;
    }
    times.push(nowMs);
    return true;
  }

  clear(): void {
    this.accepted.clear();
  }
}

/** How many of the sorted `times` are at or before `bound` (binary search). */
function countUpTo(times: readonly number[], bound: number): number {
  let low = 0;
  let high = times.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((times[middle] ?? Infinity) <= bound) low = middle + 1;
    else high = middle;
  }
  return low;
}
