/**
 * Time as the upstream layer sees it, injectable so that pacing, retries and rate-limit budgets can
 * be tested on a manual clock instead of by racing the wall clock.
 */
export interface Clock {
  /** Milliseconds on a monotonic scale (only differences matter): for intervals, waits and deadlines. */
  now(): number;
  /**
   * Milliseconds since the Unix epoch: only for reading an upstream's absolute times (a rate-limit
   * reset in epoch seconds, an HTTP date) as a wait from now. Never for intervals: it may jump.
   */
  wallNow(): number;
  /** Runs `fn` after `ms`; the returned function cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimer(fn, ms) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

/** Resolves after `ms` on `clock`; rejects with the signal's reason if it is aborted first. */
export function sleep(ms: number, clock: Clock = systemClock, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      cancel();
      reject(signal?.reason);
    };
    const cancel = clock.setTimer(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
