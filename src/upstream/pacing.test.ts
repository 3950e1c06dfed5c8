import { describe, expect, it } from 'vitest';
import { ManualClock, settle } from '../../test/support/manual-clock.js';
import { type PaceRule, type Permit, RulePacer } from './pacing.js';

/** Small deterministic pseudo-random numbers (mulberry32), so a simulation is the same on every run. */
function seeded(seed: number): () => number {
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
async function simulate(
  pacer: RulePacer,
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
function busiestWindow(arrivals: readonly number[], windowMs: number): number {
  let most = 0;
  let start = 0;
  for (let end = 0; end < arrivals.length; end++) {
    while (arrivals[start]! <= arrivals[end]! - windowMs) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}

const THREE_WINDOWS: PaceRule[] = [
  { kind: 'window', count: 1, windowMs: 100 },
  { kind: 'window', count: 120, windowMs: 60_000 },
  { kind: 'window', count: 5_000, windowMs: 3_600_000 },
];

describe('RulePacer: windows', () => {
  it('over a simulated hour, arrivals stay inside 1 per 100 ms, 120 a minute and 5,000 an hour, whatever the latency', async () => {
    const clock = new ManualClock();
    const random = seeded(7);
    // More than the hour allows, with latencies from 5 to 400 ms.
    const arrivals = await simulate(new RulePacer(THREE_WINDOWS, clock), clock, 5_200, () => 5 + random() * 395, random);
    const hour = arrivals.filter((t) => t < 3_600_000);
    let closest = Infinity;
    for (let i = 1; i < arrivals.length; i++) closest = Math.min(closest, arrivals[i]! - arrivals[i - 1]!);
    expect(closest).toBeGreaterThanOrEqual(100);
    expect(busiestWindow(arrivals, 60_000)).toBeLessThanOrEqual(120);
    expect(busiestWindow(arrivals, 3_600_000)).toBeLessThanOrEqual(5_000);
    // ...and it is not so careful that it wastes the budget: the hour's quota is used up within it.
    expect(hour.length).toBe(5_000);
  }, 60_000);

  it('waits for the answer of a request in flight before the next one under a 1-request window', async () => {
    const clock = new ManualClock();
    const pacer = new RulePacer([{ kind: 'window', count: 1, windowMs: 100 }], clock);
    const first = await pacer.acquire();
    let second: Permit | undefined;
    void pacer.acquire().then((p) => (second = p));
    await clock.advance(1_000); // the first is still in flight: however long, the second waits
    expect(second).toBeUndefined();
    first.release();
    await clock.advance(99);
    expect(second).toBeUndefined();
    await clock.advance(1);
    expect(second).toBeDefined();
  });

  it('serves waiters first come, first served', async () => {
    const clock = new ManualClock();
    const pacer = new RulePacer([{ kind: 'window', count: 1, windowMs: 10 }], clock);
    const order: number[] = [];
    const all = Promise.all(
      [1, 2, 3, 4].map((n) =>
        pacer.acquire().then((permit) => {
          order.push(n);
          clock.setTimer(() => permit.release(), 1);
        }),
      ),
    );
    while (await clock.step());
    await all;
    expect(order).toEqual([1, 2, 3, 4]);
  });

  it('a caller that gives up leaves the queue with its reason, and the next one is served', async () => {
    const clock = new ManualClock();
    const pacer = new RulePacer([{ kind: 'window', count: 1, windowMs: 100 }], clock);
    const first = await pacer.acquire();
    const controller = new AbortController();
    const abandoned = pacer.acquire(controller.signal);
    let third: Permit | undefined;
    void pacer.acquire().then((p) => (third = p));
    controller.abort(new Error('gone'));
    await expect(abandoned).rejects.toThrow('gone');
    first.release();
    await clock.advance(100);
    expect(third).toBeDefined();
    await expect(pacer.acquire(AbortSignal.abort(new Error('already')))).rejects.toThrow('already');
  });

  it('releasing a permit twice counts once', async () => {
    const clock = new ManualClock();
    const pacer = new RulePacer([{ kind: 'window', count: 3, windowMs: 1_000 }], clock);
    const permit = await pacer.acquire();
    permit.release();
    permit.release();
    // One finished request in the window: two more may go at once, and then the window is full.
    await pacer.acquire();
    await pacer.acquire();
    expect(pacer.waitMs()).toBe(1_000);
  });
});

describe('RulePacer: leaky bucket', () => {
  /** The upstream's bucket over arrivals, as a leaky-bucket API keeps it: refused when one more would overflow `burst`. */
  function refusals(arrivals: readonly number[], perSecond: number, burst: number): number {
    let level = 0;
    let at = 0;
    let refused = 0;
    for (const t of arrivals) {
      level = Math.max(0, level - ((t - at) / 1000) * perSecond);
      at = t;
      if (level + 1 > burst) refused++;
      else level += 1;
    }
    return refused;
  }

  it('lets a burst through at once, then keeps the upstream bucket from ever overflowing', async () => {
    const clock = new ManualClock();
    const random = seeded(11);
    const pacer = new RulePacer([{ kind: 'bucket', perSecond: 2, burst: 50 }], clock);
    const arrivals = await simulate(pacer, clock, 400, () => 20 + random() * 300, random);
    expect(refusals(arrivals, 2, 50)).toBe(0);
    // The first 50 went without waiting (all sent at time 0).
    expect(arrivals.filter((t) => t < 400).length).toBeGreaterThanOrEqual(40);
  }, 30_000);

  it('the strictest rule sets the pace', async () => {
    const clock = new ManualClock();
    const pacer = new RulePacer(
      [
        { kind: 'bucket', perSecond: 100, burst: 10 },
        { kind: 'window', count: 1, windowMs: 100 },
      ],
      clock,
    );
    const times: number[] = [];
    const all = Promise.all(
      [1, 2, 3].map(() =>
        pacer.acquire().then((permit) => {
          times.push(clock.now());
          permit.release();
        }),
      ),
    );
    await settle();
    while (await clock.step());
    await all;
    expect(times).toEqual([0, 100, 200]);
  });
});
