/**
 * What survives a scavenge, per operation (docs/benchmarks.md, "The tail: what survives a scavenge"): the
 * measurement behind the p99 at a fixed rate. A scavenge pauses the process for as long as copying what
 * survives it takes; requests arriving meanwhile wait. Pause times on a shared machine are noisy, the bytes
 * promoted are not (two runs of one shape agree within a few percent), so this is what to compare when
 * changing the request path, a dependency or Node's flags.
 *
 * For each operation shape, a subgraph of its own (built, run with `npm start`'s Node flags plus
 * `--trace-gc-nvp`) is sent operations at a fixed rate (open loop, fresh ids unless the shape reuses
 * them) by this process; after a warm-up, every scavenge's `promoted=` bytes are summed over the
 * measured seconds and divided by the operations answered. Also: scavenges a second and their mean pause;
 * and then what an operation allocates and where (bench/allocation-sampler.ts: V8's sampling heap profiler
 * over the inspector, the same shape sent one at a time): the volume that paces the scavenges.
 *
 *   npm run bench:promotion
 *   BENCH_SECONDS=10 BENCH_NODE_FLAGS='--max-semi-space-size=8' npm run bench:promotion
 *   BENCH_SUBGRAPH_ENV=GRAPHQL_EXECUTOR=graphql-js npm run bench:promotion
 *
 * Results: bench/results/promotion.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Pool } from 'undici';
import { freePort } from '../src/testing/redis.js';
import { type AllocationProfile, sampleAllocations } from './allocation-sampler.js';
import { buildSubgraph, measuredCommit, nodeFlags, passThrough, root, startSubgraph, stop } from './processes.js';
import { machineInfo } from './results.js';
import { startUpstreams } from './upstream-process.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 6);
const warmUpSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
/** Operations sent one at a time while the heap is sampled, per shape. */
const ALLOCATION_OPERATIONS = Number(process.env.BENCH_ALLOCATION_OPERATIONS ?? 300);
const outDir = process.env.BENCH_OUT ?? `${root}bench/results`;

const FIELDS_15 =
  'id name username displayName avatarUrl profileUrl createdAt description location url profileImageUrl protected verified verifiedType publicMetrics { followersCount }';

interface Shape {
  name: string;
  /** Operations a second: well below saturation, so that no queue keeps requests alive. */
  rate: number;
  /** The subgraph's variables beyond X's. */
  env: Record<string, string>;
  body(n: number): string;
}

let nextId = 3_000_000;
const fresh = (count: number) => Array.from({ length: count }, () => String(nextId++));
const same = (count: number) => Array.from({ length: count }, (_, i) => String(2_000_000 + i));
const users = (ids: string[], fields: string) =>
  JSON.stringify({ query: `query P($ids: [ID!]!) { xUsers(ids: $ids) { ${fields} } }`, variables: { ids } });

const shapes: Shape[] = [
  { name: '{ __typename }', rate: 400, env: {}, body: () => JSON.stringify({ query: '{ __typename }' }) },
  {
    name: 'xUsers · 1 fresh user · 3 fields · cache off',
    rate: 400,
    env: { X_CACHE: '0' },
    body: () => users(fresh(1), 'id name username'),
  },
  { name: 'xUsers · 100 fresh users · 15 fields · cache off', rate: 60, env: { X_CACHE: '0' }, body: () => users(fresh(100), FIELDS_15) },
  // The same misses with the cache as shipped, every record stored: what storing adds to a miss (issue 17).
  { name: 'xUsers · 100 fresh users · 15 fields · cache on (misses stored)', rate: 60, env: {}, body: () => users(fresh(100), FIELDS_15) },
  { name: 'xUsers · the same 100 users · 15 fields · cache on (hits)', rate: 100, env: {}, body: () => users(same(100), FIELDS_15) },
];

interface Result {
  shape: string;
  rate: number;
  operations: number;
  errors: number;
  promotedKiBPerOp: number;
  scavengesPerSecond: number;
  meanScavengeMs: number;
  /** What an operation allocates (every object, collected or not), and the largest sites (allocation-sampler.ts). */
  allocation: AllocationProfile;
}

async function measure(shape: Shape, upstreamEnv: Record<string, string>): Promise<Result> {
  // V8's trace comes on stdout, a line per collection; only the measured seconds' scavenges count.
  let pending = '';
  let measuring = false;
  const scavenges: Array<{ promoted: number; pause: number }> = [];
  const onOutput = (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    if (!measuring) return;
    for (const line of lines) {
      if (!line.includes(' gc=s ')) continue;
      scavenges.push({ promoted: Number(/ promoted=(\d+)/.exec(line)?.[1] ?? 0), pause: Number(/ pause=([\d.]+)/.exec(line)?.[1] ?? 0) });
    }
  };
  const inspectPort = await freePort();
  const subgraph = await startSubgraph(
    {
      X_API_BASE_URL: upstreamEnv.X_API_BASE_URL!,
      X_BEARER_TOKEN: upstreamEnv.X_BEARER_TOKEN!,
      COALESCE_WINDOW_MS: '0',
      ...shape.env,
      ...passThrough(),
    },
    { args: [...nodeFlags(), '--trace-gc-nvp', `--inspect=127.0.0.1:${inspectPort}`], onOutput },
  );
  const pool = new Pool(subgraph.origin, { connections: 64, pipelining: 1 });
  try {
    const run = async (forSeconds: number) => {
      let answered = 0;
      let errors = 0;
      const pendingOps: Promise<void>[] = [];
      const start = performance.now();
      for (let i = 0; ; i++) {
        const due = start + (i * 1000) / shape.rate;
        if (due >= start + forSeconds * 1000) break;
        const ahead = due - performance.now();
        if (ahead > 1) await new Promise((resolve) => setTimeout(resolve, ahead));
        pendingOps.push(
          pool
            .request({ method: 'POST', path: subgraph.path, headers: { 'content-type': 'application/json' }, body: shape.body(i) })
            .then(async (res) => {
              const text = await res.body.text();
              if (res.statusCode === 200 && !text.includes('"errors"')) answered++;
              else errors++;
            }),
        );
      }
      await Promise.all(pendingOps);
      return { answered, errors };
    };
    await run(warmUpSeconds);
    measuring = true;
    const { answered, errors } = await run(seconds);
    measuring = false;
    // Then what each operation allocates, the same shape one at a time while the heap is sampled.
    let n = 1_000_000;
    const allocation = await sampleAllocations(inspectPort, ALLOCATION_OPERATIONS, async () => {
      const res = await pool.request({
        method: 'POST',
        path: subgraph.path,
        headers: { 'content-type': 'application/json' },
        body: shape.body(n++),
      });
      const text = await res.body.text();
      if (res.statusCode !== 200 || text.includes('"errors"')) throw new Error(`${shape.name}: an operation failed: ${text.slice(0, 300)}`);
    });
    const promoted = scavenges.reduce((sum, s) => sum + s.promoted, 0);
    const paused = scavenges.reduce((sum, s) => sum + s.pause, 0);
    return {
      shape: shape.name,
      rate: shape.rate,
      operations: answered,
      errors,
      promotedKiBPerOp: answered === 0 ? Number.NaN : promoted / 1024 / answered,
      scavengesPerSecond: scavenges.length / seconds,
      meanScavengeMs: scavenges.length === 0 ? 0 : paused / scavenges.length,
      allocation,
    };
  } finally {
    await pool.close();
    await stop(subgraph.child);
  }
}

async function main(): Promise<void> {
  buildSubgraph();
  const upstreams = await startUpstreams();
  const results: Result[] = [];
  try {
    for (const shape of shapes) {
      const result = await measure(shape, upstreams.env);
      results.push(result);
      console.log(`${shape.name}: ${result.promotedKiBPerOp.toFixed(2)} KiB promoted per operation`);
    }
  } finally {
    upstreams.child.disconnect();
    await stop(upstreams.child);
  }
  const f = (value: number, digits: number) => (Number.isNaN(value) ? 'n/a' : value.toFixed(digits));
  const table = [
    '| operation | rate /s | answered | errors | KiB allocated / op | KiB promoted / op | scavenges / s | mean pause ms |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...results.map(
      (r) =>
        `| ${r.shape} | ${r.rate} | ${r.operations} | ${r.errors} | ${f(r.allocation.kibPerOp, 1)} | ${f(r.promotedKiBPerOp, 2)} | ${f(r.scavengesPerSecond, 1)} | ${f(r.meanScavengeMs, 1)} |`,
    ),
  ].join('\n');
  const sites = results
    .map((r) =>
      [
        `${r.shape}: ${f(r.allocation.kibPerOp, 1)} KiB allocated per operation`,
        ...r.allocation.sites.map((s) => `  ${f(s.kibPerOp, 1).padStart(7)}  ${s.site}`),
      ].join('\n'),
    )
    .join('\n\n');
  const commit = measuredCommit();
  mkdirSync(outDir, { recursive: true });
  writeFileSync(
    `${outDir}/promotion.json`,
    `${JSON.stringify({ version: 1, date: new Date().toISOString(), commit, machine: machineInfo(), nodeFlags: nodeFlags().join(' '), seconds, results }, null, 2)}\n`,
  );
  console.log(
    `\nNode flags: ${nodeFlags().join(' ')} --trace-gc-nvp; ${seconds} s per shape; allocation sampled over ${ALLOCATION_OPERATIONS} operations\n\n${table}\n\nWhere it is allocated (KiB per operation, by function of the built code):\n\n${sites}\n\nwritten: ${outDir}/promotion.json`,
  );
}

await main();
