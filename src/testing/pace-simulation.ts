import type { Pacer } from '../upstream/pacing.js';
import type { ManualClock } from './manual-clock.js';

/**
 * Pacing simulations on a manual clock: deterministic random numbers, a client sending as fast as a
 * pacer lets it, and the busiest window of what the upstream saw.
 */

/** Small deterministic pseudo-random numbers (mulberry32), so a simulation is the same on every run. */
export function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A client that sends `total` requests as fast as `pacer` lets it, each answered `latency()` ms after it
 * was sent; the upstream sees each one arrive at a random moment in between (the network decides).
 * Returns the arrival times in the order the upstream saw them.
 */
export async function simulate(
  pacer: Pacer,
  clock: ManualClock,
  total: number,
  latency: () => number,
  random: () => number,
): Promise<number[]> {
  const arrivals: number[] = [];
  let finished = 0;
  const one = async () => {
    const permit = await pacer.acquire();
    const sentAt = clock.now();
    const took = latency();
    arrivals.push(sentAt + random() * took);
    clock.setTimer(() => {
      permit.release();
      finished++;
    }, took);
  };
  const all = Promise.all(Array.from({ length: total }, one));
  while (finished < total) if (!(await clock.step())) break;
  await all;
  return arrivals.sort((a, b) => a - b);
}

/** The most arrivals in any window of `windowMs` (a window ending at an arrival, as a throttle checks). */
export function busiestWindow(arrivals: readonly number[], windowMs: number): number {
  let most = 0;
  let start = 0;
  for (let end = 0; end < arrivals.length; end++) {
    while (arrivals[start]! <= arrivals[end]! - windowMs) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}
