import { type Clock, systemClock } from '../core/clock.js';

/**
 * Client-side pacing: requests to one upstream account wait here until the upstream's own limiter is
 * sure to let them through.
 *
 * An upstream counts a request when it *arrives*, and a client only knows when it sent it and when
 * the answer came back. Arrival lies somewhere in between, and two requests sent 125 ms apart can
 * arrive 20 ms apart when the first one is delayed on its way. So this pacer counts a request as
 * arriving as late as possible: a finished one at the moment its answer came, and one still in flight
 * against every limit. A new request starts only when the limits hold even then, which makes "the
 * upstream never refuses us" a property that does not depend on timing luck.
 */
export type PaceRule =
  /** At most `count` requests in any `windowMs` (e.g. 1 per 100 ms, and 120 a minute, and 5,000 an hour). */
  | { kind: 'window'; count: number; windowMs: number }
  /** A leaky bucket: each request adds 1, `perSecond` drains, at most `burst` at once (e.g. 2/s, burst 50). */
  | { kind: 'bucket'; perSecond: number; burst: number };

/** The right to send one request; release it once the answer (or the failure) is in. */
export interface Permit {
  release(): void;
}

export interface Pacer {
  /** Resolves when a request may go; rejects with `signal.reason` if the caller gives up first. */
  acquire(signal?: AbortSignal): Promise<Permit>;
  /**
   * About how long a request asking now would wait (ms; 0: it would go at once): what the budget planner
   * reads to hold a batch that is not full while the pacer would make it wait anyway.
   */
  readyInMs(): number;
}

interface Waiter {
  grant(permit: Permit): void;
  signal: AbortSignal | undefined;
}

export class RulePacer implements Pacer {
  private inFlight = 0;
  /** When each finished request's answer came, oldest first; kept as long as the longest window. */
  private readonly finished: number[] = [];
  private readonly buckets: Array<{ rule: Extract<PaceRule, { kind: 'bucket' }>; level: number; at: number }>;
  private readonly windows: Array<Extract<PaceRule, { kind: 'window' }>>;
  private readonly longestWindowMs: number;
  private readonly queue: Waiter[] = [];
  private cancelTimer: (() => void) | undefined;

  constructor(
    rules: readonly PaceRule[],
    private readonly clock: Clock = systemClock,
  ) {
    this.windows = rules.filter((r): r is Extract<PaceRule, { kind: 'window' }> => r.kind === 'window');
    this.buckets = rules
      .filter((r): r is Extract<PaceRule, { kind: 'bucket' }> => r.kind === 'bucket')
      .map((rule) => ({ rule, level: 0, at: clock.now() }));
    this.longestWindowMs = Math.max(0, ...this.windows.map((w) => w.windowMs));
  }

  acquire(signal?: AbortSignal): Promise<Permit> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Permit>((resolve, reject) => {
      const onAbort = () => {
        const index = this.queue.indexOf(waiter);
        if (index < 0) return;
        this.queue.splice(index, 1);
        reject(signal?.reason);
        this.pump();
      };
      const waiter: Waiter = {
        grant: (permit) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(permit);
        },
        signal,
      };
      this.queue.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pump();
    });
  }

  readyInMs(): number {
    // Others wait already: a new request would queue behind them.
    if (this.queue.length > 0) return Math.max(1, this.waitMs());
    return this.waitMs();
  }

  /** How long the next request would wait now: 0 when it may go, Infinity until a request in flight finishes. */
  waitMs(): number {
    const now = this.clock.now();
    let wait = 0;
    for (const { count, windowMs } of this.windows) {
      if (this.inFlight >= count) return Infinity;
      const first = firstAfter(this.finished, now - windowMs);
      const counted = this.inFlight + this.finished.length - first;
      // Wait until enough of the finished requests in the window have left it.
      if (counted >= count) wait = Math.max(wait, this.finished[first + counted - count]! + windowMs - now);
    }
    for (const bucket of this.buckets) {
      const { perSecond, burst } = bucket.rule;
      if (this.inFlight + 1 > burst) return Infinity;
      const excess = drained(bucket, now) + this.inFlight + 1 - burst;
      if (excess > 0) wait = Math.max(wait, (excess / perSecond) * 1000);
    }
    return wait;
  }

  private pump(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    while (this.queue.length > 0) {
      const wait = this.waitMs();
      if (wait === Infinity) return; // a release will pump again
      if (wait > 0) {
        this.cancelTimer = this.clock.setTimer(() => this.pump(), Math.ceil(wait));
        return;
      }
      const waiter = this.queue.shift()!;
      this.inFlight++;
      waiter.grant(this.permit());
    }
  }

  private permit(): Permit {
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.inFlight--;
        const now = this.clock.now();
        this.finished.push(now);
        const keepFrom = firstAfter(this.finished, now - this.longestWindowMs);
        if (keepFrom > 0) this.finished.splice(0, keepFrom);
        for (const bucket of this.buckets) {
          bucket.level = drained(bucket, now) + 1;
          bucket.at = now;
        }
        this.pump();
      },
    };
  }
}

/** A bucket's level at `now`, after draining since it was last set. */
function drained(bucket: { rule: { perSecond: number }; level: number; at: number }, now: number): number {
  return Math.max(0, bucket.level - ((now - bucket.at) / 1000) * bucket.rule.perSecond);
}

/** Index of the first time in sorted `times` that is later than `bound` (binary search). */
function firstAfter(times: readonly number[], bound: number): number {
  let low = 0;
  let high = times.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (times[mid]! > bound) high = mid;
    else low = mid + 1;
  }
  return low;
}
