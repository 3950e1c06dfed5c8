/**
 * The cold burst of issue 19 (docs/upstream-budget.md, "The upstream budget"): 200 clients send 10 operations each, one after
 * the other, each asking for 1–10 X users drawn from a Zipf distribution over 5,000 ids, against an X
 * emulator 50 ms away. What it costs the upstream budget: calls, ids per call, 429s at X's side, items
 * that answered RATE_LIMITED, and the operations' latency.
 *
 * Phases (BENCH_BURST_PHASES, comma-separated; all by default):
 *   ample     one replica, X's window ample (the planner should hold nothing)
 *   scarce    one replica, X's window holding 40 calls per 15 minutes
 *   replicas  two replicas sharing one Redis (a redis-server of its own on a free port), the same 40 calls
 *   holds     the trade-off: UPSTREAM_MAX_HOLD_MS 0, 10, 50, 100, 250, 500 and 2,000 ms (the default) against X's real window
 *             (300 calls per 15 minutes): upstream calls against p99
 *
 *   npm run bench:burst
 *   BENCH_BURST_PHASES=scarce npm run bench:burst
 *   BENCH_SUBGRAPH=/elsewhere/dist/src/main.js npm run bench:burst     # another build
 *
 * Results: bench/results/burst.json, and the trade-off as bench/results/burst-holds.svg.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Pool } from 'undici';
import { startXEmulator } from '../src/providers/x/emulator/server.js';
import { startOwnRedis } from '../src/testing/redis.js';
import { renderHoldPlot } from './hold-plot.js';
import { buildSubgraph, root, type Subgraph, startSubgraph, stop } from './processes.js';
import { seeded, UNIVERSE, zipfIds } from './zipf-workload.js';

const clients = Number(process.env.BENCH_CLIENTS ?? 200);
const perClient = Number(process.env.BENCH_REQUESTS_PER_CLIENT ?? 10);
const latencyMs = Number(process.env.BENCH_UPSTREAM_LATENCY_MS ?? 50);
const phases = (process.env.BENCH_BURST_PHASES ?? 'ample,scarce,replicas,holds').split(',');
const outDir = process.env.BENCH_OUT ?? `${root}bench/results`;
const token = 'bench-token';
const QUERY = 'query Burst($ids: [ID!]!) { xUsers(ids: $ids) { id name username } }';
export const HOLDS_MS = [0, 10, 50, 100, 250, 500, 2_000];

export interface BurstResult {
  name: string;
  replicas: number;
  /** X's window: calls per 15 minutes. */
  windowCalls: number;
  holdMs?: number;
  operations: number;
  items: number;
  distinctIds: number;
  /** Lookup calls X received (429s included). */
  calls: number;
  /** Of them, answered 429. */
  rejected: number;
  idsPerCall: number;
  rateLimitedItems: number;
  otherErrorItems: number;
  p50Ms: number;
  p99Ms: number;
  seconds: number;
}

type XEmu = Awaited<ReturnType<typeof startXEmulator>>;

async function runBurst(
  name: string,
  replicaEnvs: Array<Record<string, string>>,
  windowCalls: number,
  holdMs?: number,
): Promise<BurstResult> {
  const emulator: XEmu = await startXEmulator({ bearerToken: token, rateLimit: { limit: windowCalls, windowSeconds: 900 }, latencyMs });
  const replicas: Subgraph[] = [];
  try {
    for (const env of replicaEnvs) {
      replicas.push(
        await startSubgraph({
          X_BEARER_TOKEN: token,
          X_API_BASE_URL: emulator.url,
          ...(holdMs === undefined ? {} : { UPSTREAM_MAX_HOLD_MS: String(holdMs) }),
          ...env,
        }),
      );
    }
    const pools = replicas.map((r) => new Pool(r.origin, { connections: Math.ceil(clients / replicas.length), pipelining: 1 }));
    const random = seeded(20261205);
    // Every client's operations drawn up front, so that every phase sends the same burst.
    const plans = Array.from({ length: clients }, () => Array.from({ length: perClient }, () => zipfIds(random)));
    const latencies: number[] = [];
    let items = 0;
    let rateLimitedItems = 0;
    let otherErrorItems = 0;
    const distinct = new Set<string>();
    const started = performance.now();
    await Promise.all(
      plans.map(async (operations, client) => {
        const pool = pools[client % pools.length]!;
        for (const ids of operations) {
          for (const id of ids) distinct.add(id);
          const at = performance.now();
          const res = await pool.request({
            method: 'POST',
            path: '/graphql',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ query: QUERY, variables: { ids } }),
          });
          const body = (await res.body.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
          latencies.push(performance.now() - at);
          items += ids.length;
          for (const error of body.errors ?? []) {
            if (error.extensions?.code === 'RATE_LIMITED') rateLimitedItems++;
            else otherErrorItems++;
          }
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    await Promise.all(pools.map((pool) => pool.close()));
    const lookups = emulator.requests.filter((r) => r.path === '/2/users');
    const answered = lookups.filter((r) => r.status === 200);
    latencies.sort((a, b) => a - b);
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
    return {
      name,
      replicas: replicas.length,
      windowCalls,
      ...(holdMs === undefined ? {} : { holdMs }),
      operations: latencies.length,
      items,
      distinctIds: distinct.size,
      calls: lookups.length,
      rejected: lookups.filter((r) => r.status === 429).length,
      idsPerCall: answered.reduce((sum, r) => sum + (r.query.ids ?? '').split(',').length, 0) / Math.max(1, answered.length),
      rateLimitedItems,
      otherErrorItems,
      p50Ms: at(0.5),
      p99Ms: at(0.99),
      seconds,
    };
  } finally {
    await Promise.all(replicas.map((replica) => stop(replica.child)));
    await emulator.close();
  }
}

async function main(): Promise<void> {
  buildSubgraph();
  const results: BurstResult[] = [];
  const ample = 1_000_000_000;
  if (phases.includes('ample')) results.push(await runBurst('one replica, ample window', [{}], ample));
  if (phases.includes('scarce')) results.push(await runBurst('one replica, 40 calls per 15 min', [{}], 40));
  if (phases.includes('replicas')) {
    const redis = await startOwnRedis();
    try {
      const shared = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `bench-burst-${process.pid}:` };
      results.push(await runBurst('two replicas on Redis, 40 calls per 15 min', [shared, shared], 40));
    } finally {
      await redis.close();
    }
  }
  if (phases.includes('holds')) {
    for (const holdMs of HOLDS_MS) results.push(await runBurst(`hold ${holdMs} ms, 300 calls per 15 min`, [{}], 300, holdMs));
  }

  console.log(`\n${clients} clients × ${perClient} operations, 1–10 X ids each (Zipf over ${UNIVERSE}), X ${latencyMs} ms away\n`);
  console.log('| phase | calls | 429s at X | ids per call | RATE_LIMITED items | other errors | p50 / p99 | burst |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    console.log(
      `| ${r.name} | ${r.calls} | ${r.rejected} | ${r.idsPerCall.toFixed(1)} | ${r.rateLimitedItems} of ${r.items} | ${r.otherErrorItems} | ${r.p50Ms.toFixed(0)} / ${r.p99Ms.toFixed(0)} ms | ${r.seconds.toFixed(1)} s |`,
    );
  }
  const distinct = results[0]?.distinctIds;
  if (distinct !== undefined) console.log(`\n${distinct} distinct ids: at least ${Math.ceil(distinct / 100)} calls of 100`);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(
    `${outDir}/burst.json`,
    `${JSON.stringify({ date: new Date().toISOString(), clients, perClient, latencyMs, results }, null, 2)}\n`,
  );
  const holds = results.filter((r) => r.holdMs !== undefined);
  if (holds.length > 0) writeFileSync(`${outDir}/burst-holds.svg`, renderHoldPlot(holds));
  console.log(`\nwritten: ${outDir}/burst.json${holds.length > 0 ? `, ${outDir}/burst-holds.svg` : ''}`);
}

if (process.argv[1] === new URL(import.meta.url).pathname) await main();
