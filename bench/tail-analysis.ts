/**
 * What `npm run bench:tail` (bench/tail.ts) makes of its timings: the open loop's operations laid beside the
 * GC pauses bench/gc-timeline.mjs recorded in the process that answered them.
 */
import { quantile, type Timed } from './workload.js';

/** What bench/gc-timeline.mjs writes. */
export interface GcTimeline {
  /** Each collection: [start (ms since the epoch), pause (ms), kind ('minor', 'major', 'incremental' or 'weak')]. */
  pauses: Array<[number, number, string]>;
  /** How late the event loop ran its timers (ms past when they were due), from the measured window's start. */
  loopDelay: { p50: number; p99: number; max: number };
}

export interface TailResult {
  target: 'upstream' | 'floor' | 'subgraph, cache off' | 'subgraph, cache on';
  rateOpsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The process's collections during the measured window: scavenges (minor) and mark-compact steps. */
  gc?: {
    scavengesPerSecond: number;
    scavengePauseMs: { p50: number; p90: number; max: number };
    /** Share of the window the process spent paused, all kinds. */
    pausedShare: number;
    /** Of the operations at or above the p99: the share a pause overlapped, and the pauses' share of their latency. */
    slowOverlappingPause: number;
    pauseShareOfSlowLatency: number;
    loopDelayP99Ms: number;
  };
}

/** Latency quantiles of `timed`, and, given the process's timeline, how much of the slowest operations' latency its pauses were. */
export function summarize(target: TailResult['target'], rate: number, timed: readonly Timed[], timeline?: GcTimeline): TailResult {
  const latencies = timed.map((t) => t.end - t.due).sort((a, b) => a - b);
  const p99 = quantile(latencies, 0.99);
  const result: TailResult = {
    target,
    rateOpsPerSecond: rate,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: p99,
    maxMs: latencies[latencies.length - 1] ?? Number.NaN,
  };
  if (timeline === undefined || timed.length === 0) return result;
  const from = Math.min(...timed.map((t) => t.due));
  const to = Math.max(...timed.map((t) => t.end));
  const inWindow = timeline.pauses.filter(([start, pause]) => start + pause > from && start < to);
  const scavenges = inWindow
    .filter(([, , kind]) => kind === 'minor')
    .map(([, pause]) => pause)
    .sort((a, b) => a - b);
  const overlap = (t: Timed) =>
    inWindow.reduce((sum, [start, pause]) => sum + Math.max(0, Math.min(t.end, start + pause) - Math.max(t.due, start)), 0);
  const slow = timed.filter((t) => t.end - t.due >= p99);
  result.gc = {
    scavengesPerSecond: scavenges.length / ((to - from) / 1000),
    scavengePauseMs: { p50: quantile(scavenges, 0.5), p90: quantile(scavenges, 0.9), max: scavenges[scavenges.length - 1] ?? 0 },
    pausedShare: inWindow.reduce((sum, [, pause]) => sum + pause, 0) / (to - from),
    slowOverlappingPause: slow.filter((t) => overlap(t) > 0).length / slow.length,
    pauseShareOfSlowLatency: slow.reduce((sum, t) => sum + overlap(t), 0) / slow.reduce((sum, t) => sum + (t.end - t.due), 0),
    loopDelayP99Ms: timeline.loopDelay.p99,
  };
  return result;
}
