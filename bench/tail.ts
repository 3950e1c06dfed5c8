/**
 * `npm run bench:tail`: what the p99 at a fixed rate is made of (docs/benchmarks.md, "What the tail is
 * made of"). The 100-user, 15-field lookup, every operation with fresh ids, at one fixed rate (half what the
 * shipped subgraph answers back to back, as `npm run bench` sets it), open loop, each operation timed from
 * when it was due, against:
 *
 * - the X emulator itself (the same `GET /2/users` calls, raw);
 * - the floor (bench/floor.ts: the least a Node process does for the same answer);
 * - the subgraph with its record cache off, and as shipped (cache on).
 *
 * Each Node process runs with `npm start`'s flags and bench/gc-timeline.mjs, which records its garbage
 * collections (start and pause) and how late its event loop ran. Laid beside the operations' timings: how
 * often and how long each process paused, and, of the operations at or above the p99, how many a pause
 * overlapped and what share of their latency the pauses were. What the pauses do not explain is queueing:
 * operations arriving while the process is still busy with earlier ones.
 *
 *   npm run bench:tail
 *   BENCH_SECONDS=30 BENCH_TAIL_RATE=120 npm run bench:tail
 *
 * Writes bench/results/tail.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Pool } from 'undici';
import { makeTempDir, removeTempDir } from '../src/testing/temp-dir.js';
import { buildSubgraph, measuredCommit, nodeFlags, root, type Subgraph, startSubgraph, stop } from './processes.js';
import { machineInfo } from './results.js';
import { type GcTimeline, summarize, type TailResult } from './tail-analysis.js';
import { startUpstreams } from './upstream-process.js';
import { FIELDS_15, openLoop, type Timed, X_USER_FIELDS_15 } from './workload.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 15);
const USERS = 100;
const outDir = process.env.BENCH_OUT ?? `${root}bench/results`;

let nextId = 1_000_000;
const freshIds = () => Array.from({ length: USERS }, () => String(nextId++));

/** Back to back from 10 clients for `ms` (after a 2 s warm-up): operations answered a second. */
async function saturation(operation: () => Promise<boolean>, ms: number): Promise<number> {
  const warmUntil = performance.now() + 2_000;
  const until = warmUntil + ms;
  let answered = 0;
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (performance.now() < until) {
        const ok = await operation();
        if (!ok) throw new Error('an operation failed while measuring saturation');
        if (performance.now() > warmUntil) answered++;
      }
    }),
  );
  return answered / (ms / 1000);
}

/** The shared open loop (`bench/workload.ts`) at `rate`; every operation must answer whole. */
async function timedAt(rate: number, operation: () => Promise<boolean>): Promise<Timed[]> {
  const { timed } = await openLoop(rate, seconds, operation);
  if (timed.some((t) => !t.ok)) throw new Error('an operation failed in the open loop');
  return timed;
}

async function main(): Promise<void> {
  buildSubgraph();
  const temp = await makeTempDir('bench-tail');
  const upstreams = await startUpstreams('honest');
  const x = { X_API_BASE_URL: upstreams.env.X_API_BASE_URL!, X_BEARER_TOKEN: upstreams.env.X_BEARER_TOKEN! };
  const base = new URL(x.X_API_BASE_URL);
  const results: TailResult[] = [];
  try {
    const timelineFile = (name: string) => `${temp}/${name}.json`;
    const withTimeline = ['--import', new URL('./gc-timeline.mjs', import.meta.url).href];
    const start = (name: string, env: Record<string, string>, script?: string): Promise<Subgraph> =>
      startSubgraph(
        { ...env, GC_TIMELINE_FILE: timelineFile(name) },
        script === undefined
          ? { args: [...nodeFlags(), ...withTimeline] }
          : { args: [...nodeFlags(), ...withTimeline, '--import', 'tsx'], script },
      );
    const graphql = (target: Subgraph) => {
      const pool = new Pool(target.origin, { connections: 64, pipelining: 1 });
      const operation = async () => {
        const body = JSON.stringify({
          query: `query Tail($ids: [ID!]!) { xUsers(ids: $ids) { ${FIELDS_15} } }`,
          variables: { ids: freshIds() },
        });
        const res = await pool.request({ method: 'POST', path: target.path, headers: { 'content-type': 'application/json' }, body });
        const text = await res.body.text();
        return res.statusCode === 200 && !text.includes('"errors"');
      };
      return { pool, operation };
    };

    // The shipped subgraph sets the rate: half what it answers back to back.
    const targets: Array<{ name: string; target: TailResult['target']; env: Record<string, string>; script?: string }> = [
      { name: 'subgraph-cache-on', target: 'subgraph, cache on', env: { ...x, COALESCE_WINDOW_MS: '0' } },
      { name: 'subgraph-cache-off', target: 'subgraph, cache off', env: { ...x, COALESCE_WINDOW_MS: '0', X_CACHE: '0' } },
      { name: 'floor', target: 'floor', env: x, script: 'bench/floor.ts' },
    ];
    let rate = Number(process.env.BENCH_TAIL_RATE ?? 0);
    for (const { name, target, env, script } of targets) {
      const process_ = await start(name, env, script);
      const { pool, operation } = graphql(process_);
      try {
        if (rate === 0) rate = Math.max(1, Math.round((await saturation(operation, 5_000)) / 2));
        else await saturation(operation, 1_000); // warm-up only
        process_.child.kill('SIGUSR2'); // bench/gc-timeline.mjs: the event loop's delay is measured from here
        const timed = await timedAt(rate, operation);
        await pool.close();
        await stop(process_.child);
        const timeline = JSON.parse(readFileSync(timelineFile(name), 'utf8')) as GcTimeline;
        results.push(summarize(target, rate, timed, timeline));
      } finally {
        await stop(process_.child);
      }
    }

    // The emulator's own calls at the same rate.
    const raw = new Pool(base.origin, { connections: 64, pipelining: 1 });
    const basePath = base.pathname.replace(/\/$/, '');
    const call = async () => {
      const res = await raw.request({
        method: 'GET',
        path: `${basePath}/2/users?ids=${freshIds().join(',')}&user.fields=${X_USER_FIELDS_15}`,
        headers: { authorization: `Bearer ${x.X_BEARER_TOKEN}` },
      });
      await res.body.text();
      return res.statusCode === 200;
    };
    await saturation(call, 1_000);
    results.unshift(summarize('upstream', rate, await timedAt(rate, call)));
    await raw.close();
  } finally {
    upstreams.child.disconnect();
    await stop(upstreams.child);
    await removeTempDir(temp);
  }

  const f = (value: number | undefined, digits = 1) => (value === undefined || Number.isNaN(value) ? 'n/a' : value.toFixed(digits));
  const pct = (value: number | undefined) => (value === undefined ? 'n/a' : `${Math.round(value * 100)} %`);
  console.log(
    `\n100 users · 15 fields, fresh ids, open loop at ${results[0]?.rateOpsPerSecond} operations a second, ${seconds} s\n\n` +
      "| target | p50 / p99 / max ms | scavenges / s | scavenge pause p50 / p90 / max ms | time paused | ops ≥ p99 a pause overlapped | pauses' share of their latency | event loop delay p99 ms |\n" +
      '| --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const r of results) {
    const gc = r.gc;
    console.log(
      `| ${r.target} | ${f(r.p50Ms)} / ${f(r.p99Ms)} / ${f(r.maxMs)} | ${f(gc?.scavengesPerSecond)} | ${f(gc?.scavengePauseMs.p50)} / ${f(gc?.scavengePauseMs.p90)} / ${f(gc?.scavengePauseMs.max)} | ${pct(gc?.pausedShare)} | ${pct(gc?.slowOverlappingPause)} | ${pct(gc?.pauseShareOfSlowLatency)} | ${f(gc?.loopDelayP99Ms)} |`,
    );
  }
  const commit = measuredCommit();
  mkdirSync(outDir, { recursive: true });
  const report = { date: new Date().toISOString(), commit, machine: machineInfo(), seconds, users: USERS, results };
  writeFileSync(`${outDir}/tail.json`, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwritten: ${outDir}/tail.json`);
}

await main();
