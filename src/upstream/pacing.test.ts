import { describe, expect, it } from 'vitest';
import { ManualClock, settle } from '../testing/manual-clock.js';
import { seeded, simulate } from '../testing/pace-simulation.js';
import { type Permit, RulePacer } from './pacing.js';

describe('RulePacer: windows', () => {
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
