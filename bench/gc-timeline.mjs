/**
 * Loaded into a measured process with `--import` by `npm run bench:tail` (bench/tail.ts), plain JavaScript so
 * that the process needs no loader: it records when each garbage collection paused the process and for how
 * long (milliseconds since the epoch, so that the load generator's timings can be laid beside them) and how
 * late the event loop ran since the last SIGUSR2, and writes them as JSON (`GcTimeline`, bench/tail.ts) to `$GC_TIMELINE_FILE` as
 * the process exits. One observer and one histogram timer: nothing on the request path.
 */
import { writeFileSync } from 'node:fs';
import { constants, monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';

const KINDS = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak',
};

const file = process.env.GC_TIMELINE_FILE;
if (file !== undefined) {
  /** @type {Array<[number, number, string]>} */
  const pauses = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = entry.detail?.kind ?? 0;
      pauses.push([performance.timeOrigin + entry.startTime, entry.duration, KINDS[kind] ?? String(kind)]);
    }
  }).observe({ entryTypes: ['gc'] });
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  // The measured window starts here (bench/tail.ts signals it): start-up and the warm-up are left out.
  process.on('SIGUSR2', () => delay.reset());
  process.once('exit', () => {
    // The histogram records each interval between the timer's runs: what is past its 10 ms is the delay.
    const ms = (ns) => Math.max(0, ns / 1e6 - 10);
    writeFileSync(
      file,
      JSON.stringify({ pauses, loopDelay: { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) } }),
    );
  });
}
