/**
 * Sharing benchmark (docs/benchmarks.md, "Benchmarks"): how many user resolutions each upstream call buys when
 * many clients ask for overlapping users, as real traffic does. N concurrent clients (closed loop),
 * each operation asking for 1–10 X users drawn from a Zipf distribution over 5,000 ids, against:
 *
 *   1. the cold path: record cache off and no coalescing window (X_CACHE=0, COALESCE_WINDOW_MS=0):
 *      only requests whose ids arrive in the same turn of the event loop share a call;
 *   2. coalescing alone: cache off, the default window;
 *   3. one replica, as configured by default;
 *   4. two replicas sharing one Redis, the clients split between them.
 * BENCH_PHASES picks some (cold,coalescing,one,two).
 *
 * Each phase starts from an empty cache (Redis: its own key prefix, deleted afterwards) and prints
 * resolutions per upstream call (the distinct ids of each answered operation, over the calls the
 * upstream emulator received: counted outside the subgraph, so a build without the sharing layer's
 * metrics is measured the same way; the replicas' users_subgraph_resolutions_total is printed beside
 * it when they have it), throughput, p50/p99, and how many ids were asked upstream more than once.
 * The X emulator runs in this process, answering after BENCH_UPSTREAM_LATENCY_MS.
 *
 *   npm run bench:zipf
 *   BENCH_CLIENTS=200 BENCH_SECONDS=20 BENCH_UPSTREAM_LATENCY_MS=50 npm run bench:zipf
 *   BENCH_SUBGRAPH=/elsewhere/dist/src/main.js BENCH_PHASES=cold npm run bench:zipf   # another build
 */
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { startXEmulator } from '../src/providers/x/emulator/server.js';
import { buildSubgraph, counterSum, type Subgraph, startSubgraph } from './processes.js';
import { seeded, UNIVERSE, zipfIds } from './zipf-workload.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 20);
const clients = Number(process.env.BENCH_CLIENTS ?? 200);
const latencyMs = Number(process.env.BENCH_UPSTREAM_LATENCY_MS ?? 50);
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const phases = (process.env.BENCH_PHASES ?? 'cold,coalescing,one,two').split(',');
const token = 'bench-token';
const QUERY = 'query Zipf($ids: [ID!]!) { xUsers(ids: $ids) { id name username } }';

/** A counter's sum over one provider's series, from a replica's /metrics. */
const counter = (origin: string, name: string, provider = 'x') =>
  counterSum(origin, name, (labels) => labels.includes(`provider="${provider}"`));

interface PhaseResult {
  name: string;
  operations: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  resolutions: number;
  /** users_subgraph_resolutions_total summed over the replicas (0 for a build without it). */
  metricResolutions: number;
  calls: number;
  repeatedIds: number;
}

async function runPhase(name: string, replicaEnvs: Array<Record<string, string>>, upstream: string, emulator: XEmu): Promise<PhaseResult> {
  const replicas: Subgraph[] = [];
  try {
    for (const env of replicaEnvs) {
      replicas.push(await startSubgraph({ X_BEARER_TOKEN: token, X_API_BASE_URL: upstream, ...env }));
    }
    emulator.reset();
    const pools = replicas.map((r) => new Pool(r.origin, { connections: Math.ceil(clients / replicas.length), pipelining: 1 }));
    const random = seeded(20261123);
    const latencies: number[] = [];
    let errors = 0;
    let resolutions = 0;
    const until = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: clients }, async (_, client) => {
        const pool = pools[client % pools.length]!;
        while (performance.now() < until) {
          const ids = zipfIds(random);
          const started = performance.now();
          const res = await pool.request({
            method: 'POST',
            path: '/graphql',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ query: QUERY, variables: { ids } }),
          });
          const text = await res.body.text();
          latencies.push(performance.now() - started);
          if (res.statusCode !== 200 || text.includes('"errors"')) errors++;
          else resolutions += new Set(ids).size;
        }
      }),
    );
    await Promise.all(pools.map((pool) => pool.close()));
    let metricResolutions = 0;
    for (const replica of replicas) metricResolutions += await counter(replica.origin, 'users_subgraph_resolutions_total');
    const calls = emulator.requests.length;
    const asked = new Map<string, number>();
    for (const request of emulator.requests) {
      for (const id of (request.query.ids ?? '').split(',')) if (id) asked.set(id, (asked.get(id) ?? 0) + 1);
    }
    latencies.sort((a, b) => a - b);
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
    return {
      name,
      operations: latencies.length,
      rps: latencies.length / seconds,
      p50: at(0.5),
      p99: at(0.99),
      errors,
      resolutions,
      metricResolutions,
      calls,
      repeatedIds: [...asked.values()].filter((n) => n > 1).length,
    };
  } finally {
    for (const replica of replicas) replica.child.kill('SIGTERM');
  }
}

type XEmu = Awaited<ReturnType<typeof startXEmulator>>;

async function main(): Promise<void> {
  buildSubgraph();
  const emulator = await startXEmulator({ bearerToken: token, rateLimit: { limit: 1_000_000_000, windowSeconds: 900 }, latencyMs });
  const prefix = `bench-zipf-${process.pid}-${Date.now()}:`;
  const results: PhaseResult[] = [];
  try {
    if (phases.includes('cold'))
      results.push(
        await runPhase(
          'cache off, window 0 (same-turn coalescing only)',
          [{ X_CACHE: '0', COALESCE_WINDOW_MS: '0' }],
          emulator.url,
          emulator,
        ),
      );
    if (phases.includes('coalescing'))
      results.push(await runPhase('cache off, default window (coalescing only)', [{ X_CACHE: '0' }], emulator.url, emulator));
    if (phases.includes('one')) results.push(await runPhase('one replica (defaults)', [{}], emulator.url, emulator));
    if (phases.includes('two')) {
      const shared = { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix };
      results.push(await runPhase('two replicas sharing Redis', [shared, shared], emulator.url, emulator));
    }
  } finally {
    await emulator.close();
    await deleteKeys(prefix);
  }
  console.log(
    `\n${seconds} s per phase, ${clients} clients, 1–10 X ids per operation (Zipf over ${UNIVERSE}), upstream latency ${latencyMs} ms\n`,
  );
  console.log('| phase | resolutions / upstream call | (from /metrics) | upstream calls | ops/s | p50 / p99 | ids asked twice | errors |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    console.log(
      `| ${r.name} | ${(r.resolutions / r.calls).toFixed(1)} | ${r.metricResolutions ? (r.metricResolutions / r.calls).toFixed(1) : '—'} | ${r.calls} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(1)} / ${r.p99.toFixed(1)} ms | ${r.repeatedIds} | ${r.errors} |`,
    );
  }
  console.log('\ngoal: >= 50 resolutions per upstream call for one replica and for two; no id asked twice with two replicas');
}

async function deleteKeys(prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } catch {
    // No Redis: nothing was written.
  } finally {
    redis.disconnect();
  }
}

await main();
