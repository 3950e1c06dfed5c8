/**
 * What waiting on another replica costs Redis (issue 20, finding 3): two replicas share one Redis (a
 * redis-server of its own on a free port); replica A asks X for 100 users, and X takes 4 s to answer;
 * meanwhile replica B receives WAITERS requests (200 and 1,000 by default), each for one of those users,
 * all of which wait on A's claims. Measured over 2 s of that wait, once all of them wait: the Redis commands per second (from
 * Redis's own INFO commandstats, nothing else talks to it), and whether B lost Redis on the way (its
 * `users_subgraph_redis_fallbacks_total`). Then A's answer arrives and every request must answer the
 * user it asked for, with X called exactly once.
 *
 *   npm run bench:claims
 *   BENCH_CLAIM_WAITERS=1000 BENCH_SUBGRAPH=/elsewhere/dist/src/main.js npm run bench:claims   # another build
 *
 * Results: bench/results/claim-waiters.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { startXEmulator } from '../src/providers/x/emulator/server.js';
import { startOwnRedis } from '../src/testing/redis.js';
import { counterSum, root, type Subgraph, startSubgraph, stop, subgraphMain } from './processes.js';

const waiterCounts = (process.env.BENCH_CLAIM_WAITERS ?? '200,1000').split(',').map(Number);
const outDir = process.env.BENCH_OUT ?? `${root}bench/results`;
const token = 'bench-token';
const UPSTREAM_MS = 4_000;
const MEASURE_MS = 2_000;
const QUERY = 'query One($ids: [ID!]!) { xUsers(ids: $ids) { id username } }';

export interface ClaimWaitResult {
  waiters: number;
  redisCommandsPerSecond: number;
  /** Redis commands that replica B fell back from (timeouts, refusals) during the run. */
  fallbacks: number;
  upstreamCalls: number;
  wrongAnswers: number;
  failedRequests: number;
}

async function totalCommands(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let total = 0;
  for (const m of info.matchAll(/calls=(\d+)/g)) total += Number(m[1]);
  return total;
}

async function run(waiters: number): Promise<ClaimWaitResult> {
  const redis = await startOwnRedis();
  const admin = new Redis(redis.url);
  const emulator = await startXEmulator({ bearerToken: token, latencyMs: UPSTREAM_MS });
  const replicas: Subgraph[] = [];
  try {
    const env = {
      X_BEARER_TOKEN: token,
      X_API_BASE_URL: emulator.url,
      REDIS_URL: redis.url,
      UPSTREAM_TIMEOUT_MS: '10000',
      OPERATION_TIMEOUT_MS: '20000',
    };
    for (let i = 0; i < 2; i++) replicas.push(await startSubgraph(env));
    const [a, b] = replicas as [Subgraph, Subgraph];
    const ids = Array.from({ length: 100 }, (_, i) => String(1_000 + i));
    const post = (pool: Pool, ids: string[]) =>
      pool
        .request({
          method: 'POST',
          path: '/graphql',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: QUERY, variables: { ids } }),
        })
        .then((res) => res.body.json() as Promise<{ data?: { xUsers: Array<{ id: string } | null> }; errors?: unknown[] }>);
    const poolA = new Pool(a.origin, { connections: 1 });
    const poolB = new Pool(b.origin, { connections: waiters });
    const first = post(poolA, ids);
    while (emulator.requests.filter((r) => r.path === '/2/users').length === 0) await new Promise((r) => setTimeout(r, 5));
    const fallbacksBefore = await counterSum(b.origin, 'users_subgraph_redis_fallbacks_total');
    const asked = Array.from({ length: waiters }, (_, i) => ids[i % ids.length]!);
    const answers = Promise.all(asked.map((id) => post(poolB, [id])));
    // Measured once every request is in and waiting (each counted as coalesced when it found A's claim).
    // (At most 10 s: a build that lost Redis on the way never counts them all.)
    for (const end = performance.now() + 10_000; performance.now() < end; ) {
      if ((await counterSum(b.origin, 'users_subgraph_coalesced_ids_total')) >= waiters) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 100));
    const before = await totalCommands(admin);
    const at = performance.now();
    await new Promise((r) => setTimeout(r, MEASURE_MS));
    const commands = (await totalCommands(admin)) - before - 1;
    const seconds = (performance.now() - at) / 1000;
    const [bodies] = await Promise.all([answers, first]);
    let wrongAnswers = 0;
    let failedRequests = 0;
    bodies.forEach((body, i) => {
      if (body.errors !== undefined) failedRequests++;
      else if (body.data?.xUsers[0]?.id !== asked[i]) wrongAnswers++;
    });
    const fallbacks = (await counterSum(b.origin, 'users_subgraph_redis_fallbacks_total')) - fallbacksBefore;
    await Promise.all([poolA.close(), poolB.close()]);
    return {
      waiters,
      redisCommandsPerSecond: Math.round(commands / seconds),
      fallbacks,
      upstreamCalls: emulator.requests.filter((r) => r.path === '/2/users').length,
      wrongAnswers,
      failedRequests,
    };
  } finally {
    await Promise.all(replicas.map((r) => stop(r.child)));
    admin.disconnect();
    await emulator.close();
    await redis.close();
  }
}

const results: ClaimWaitResult[] = [];
for (const waiters of waiterCounts) {
  const result = await run(waiters);
  results.push(result);
  console.log(
    `${String(result.waiters).padStart(5)} waiters: ${String(result.redisCommandsPerSecond).padStart(7)} Redis commands/s, ` +
      `${result.fallbacks} fallbacks, ${result.upstreamCalls} X call(s), ${result.failedRequests} failed, ${result.wrongAnswers} wrong`,
  );
}
mkdirSync(outDir, { recursive: true });
writeFileSync(`${outDir}/claim-waiters.json`, `${JSON.stringify({ subgraph: subgraphMain, results }, null, 2)}\n`);
