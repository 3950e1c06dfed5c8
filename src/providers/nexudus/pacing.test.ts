import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../testing/manual-clock.js';
import { busiestWindow, seeded, simulate } from '../../testing/pace-simulation.js';
import { RulePacer } from '../../upstream/pacing.js';
import { NEXUDUS_PACE } from './client.js';

/** The rules the Nexudus client paces its account with, against Nexudus's documented limits. */
describe('NEXUDUS_PACE', () => {
  it('over a simulated hour, arrivals stay inside 1 per 100 ms, 120 a minute and 5,000 an hour, whatever the latency', async () => {
    const clock = new ManualClock();
    const random = seeded(7);
    // More than the hour allows, with latencies from 5 to 400 ms.
    const arrivals = await simulate(new RulePacer(NEXUDUS_PACE, clock), clock, 5_200, () => 5 + random() * 395, random);
    const hour = arrivals.filter((t) => t < 3_600_000);
    let closest = Infinity;
    for (let i = 1; i < arrivals.length; i++) closest = Math.min(closest, arrivals[i]! - arrivals[i - 1]!);
    expect(closest).toBeGreaterThanOrEqual(100);
    expect(busiestWindow(arrivals, 60_000)).toBeLessThanOrEqual(120);
    expect(busiestWindow(arrivals, 3_600_000)).toBeLessThanOrEqual(5_000);
    // ...and it is not so careful that it wastes the budget: the hour's quota is used up within it.
    expect(hour.length).toBe(5_000);
  }, 60_000);
});
