import { describe, expect, it } from 'vitest';
import { type GcTimeline, summarize } from '../../bench/tail-analysis.js';
import type { Timed } from '../../bench/workload.js';

/**
 * `npm run bench:tail`'s reading of its timings (bench/tail-analysis.ts): which of the slowest operations a
 * pause of the answering process overlapped, and what share of their latency the pauses were.
 */
const T0 = 1_800_000_000_000;

/** 100 operations, one every 10 ms from T0, each answered in 2 ms but the one given `slow` ms. */
function operations(slowAt: number, slow: number): Timed[] {
  return Array.from({ length: 100 }, (_, i) => {
    const due = T0 + i * 10;
    return { due, end: due + (i === slowAt ? slow : 2), ok: true };
  });
}

describe('summarize', () => {
  it('finds the pause under the slowest operation and its share of that operation’s latency', () => {
    const timeline: GcTimeline = {
      pauses: [
        [T0 + 500 + 5, 20, 'minor'], // inside operation 50 (due T0 + 500, 50 ms long): 20 of its 50 ms
        [T0 + 200 + 3, 4, 'minor'], // between operations 20's end and 21's due: overlaps no one
        [T0 + 800, 1, 'major'],
        [T0 - 10_000, 30, 'minor'], // before the window: not counted
      ],
      loopDelay: { p50: 0.1, p99: 6.5, max: 40 },
    };
    const result = summarize('subgraph, cache on', 100, operations(50, 50), timeline);
    expect(result.p50Ms).toBe(2);
    expect(result.p99Ms).toBe(50);
    expect(result.maxMs).toBe(50);
    const window = (T0 + 990 + 2 - T0) / 1000;
    expect(result.gc!.scavengesPerSecond).toBeCloseTo(2 / window, 6);
    expect(result.gc!.scavengePauseMs).toEqual({ p50: 20, p90: 20, max: 20 });
    expect(result.gc!.pausedShare).toBeCloseTo(25 / (window * 1000), 6);
    expect(result.gc!.slowOverlappingPause).toBe(1);
    expect(result.gc!.pauseShareOfSlowLatency).toBeCloseTo(20 / 50, 6);
    expect(result.gc!.loopDelayP99Ms).toBe(6.5);
  });

  it('a slow operation no pause overlapped is queueing: no share to the pauses', () => {
    const timeline: GcTimeline = { pauses: [[T0 + 100, 3, 'minor']], loopDelay: { p50: 0, p99: 0, max: 0 } };
    const result = summarize('floor', 100, operations(70, 40), timeline);
    expect(result.gc!.slowOverlappingPause).toBe(0);
    expect(result.gc!.pauseShareOfSlowLatency).toBe(0);
  });

  it('without a timeline (the upstream’s own calls), latency only', () => {
    const result = summarize('upstream', 100, operations(10, 9));
    expect(result).toEqual({ target: 'upstream', rateOpsPerSecond: 100, p50Ms: 2, p99Ms: 9, maxMs: 9 });
  });
});
