/**
 * Replicas, measured (docs/benchmarks.md, "Replicas, measured"): what sharing through Redis keeps and costs as a
 * deployment grows from one replica to two and four, on one Redis node and on a Redis Cluster, all in one run so
 * that the figures compare as ratios rather than across runs of a noisy machine.
 *
 * Sharing promises that N replicas ask the upstream no more than one does: what one replica fetched the
 * others answer from the shared record cache, and ids two replicas miss at the same moment are fetched once
 * (the fetch claims). What it costs is Redis commands and latency. For each topology (BENCH_TOPOLOGIES:
 * node, cluster) and replica count (BENCH_REPLICAS: 1, 2, 4), from an empty Redis (FLUSHALL, a key prefix of
 * its own), the same workload is split across the replicas: BENCH_CLIENTS closed-loop clients (100),
 * round-robin over the replicas, each operation asking 1–10 X ids drawn from the Zipf distribution of
 * bench/zipf-workload.ts, for BENCH_SECONDS (10), after BENCH_WARMUP_SECONDS (2) of the same load on ids the
 * measured phase never asks (5,001–10,000: fresh processes compile their paths while its ids stay cold). Per cell:
 *
 *   - operations, ops/s, p50/p99 (closed loop, so latency under the load the machine takes);
 *   - upstream calls, the distinct ids the clients asked, and per distinct id the calls and the ids asked
 *     upstream (ideal 1.0: every id fetched once), counted by the X emulator itself, outside the subgraph;
 *   - ids asked twice: ids that appear in more than one upstream request (should be 0);
 *   - Redis commands per operation: the delta of INFO commandstats' calls, summed over every master (commands
 *     run inside scripts included, as Redis counts them; the script calls themselves beside it);
 *   - the subgraphs' CPU per operation (every replica's, from /proc), RSS per replica, and the calls each
 *     replica answered from memory instead of Redis (users_subgraph_redis_fallbacks_total).
 * Then each cell as a ratio to the one replica on one node of the same run.
 *
 * Everything runs on this machine, started here and stopped here, failure or not: the built subgraph
 * (`npm run build`, then dist/src/main.js as `npm start` runs it, NODE_ENV=production, X only), an X emulator
 * in this process answering after BENCH_UPSTREAM_LATENCY_MS (30) with its rate limit out of the way, a
 * redis-server of its own on a free port, and a Cluster of its own (3 masters, 3 replicas, a temp dir):
 * never the Redis that may answer at 6379. About 2 minutes at the defaults. Results: bench/results/replicas.json.
 *
 *   npm run bench:replicas
 *   BENCH_SECONDS=20 BENCH_CLIENTS=200 BENCH_REPLICAS=1,4 BENCH_TOPOLOGIES=cluster npm run bench:replicas
 *   BENCH_SUBGRAPH=/elsewhere/dist/src/main.js npm run bench:replicas   # another build, not built here
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { startXEmulator, type XEmulator, type XEmulatorRequest } from '../src/providers/x/emulator/server.js';
import { startOwnRedis } from '../src/testing/redis.js';
import { startOwnCluster } from '../src/testing/redis-topologies.js';
import {
  buildSubgraph,
  counterSum,
  cpuMs,
  measuredCommit,
  root,
  rssMiB,
  type Subgraph,
  startSubgraph,
  stop,
  subgraphMain,
} from './processes.js';
import { type MachineInfo, machineInfo } from './results.js';
import { seeded, UNIVERSE, zipfIds } from './zipf-workload.js';

function setting(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value) || value < min) throw new Error(`${name} must be a number ≥ ${min}, not ${raw}`);
  return value;
}

const seconds = setting('BENCH_SECONDS', 10, 0.1);
const warmUpSeconds = setting('BENCH_WARMUP_SECONDS', 2, 0);
const clients = Math.floor(setting('BENCH_CLIENTS', 100, 1));
const latencyMs = setting('BENCH_UPSTREAM_LATENCY_MS', 30, 0);
const replicaCounts = (process.env.BENCH_REPLICAS ?? '1,2,4').split(',').map((count) => {
  const n = Number(count);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`BENCH_REPLICAS must be counts ≥ 1 separated by commas, not ${process.env.BENCH_REPLICAS}`);
  return n;
});
const TOPOLOGIES = ['node', 'cluster'] as const;
type TopologyName = (typeof TOPOLOGIES)[number];
const topologyNames = (process.env.BENCH_TOPOLOGIES ?? 'node,cluster').split(',').map((name) => {
  if (!(TOPOLOGIES as readonly string[]).includes(name)) throw new Error(`BENCH_TOPOLOGIES takes node and cluster, not ${name}`);
  return name as TopologyName;
});
const outDir = process.env.BENCH_OUT ?? `${root}bench/results`;
const token = 'bench-token';
const SEED = 20261123;
const QUERY = 'query Replicas($ids: [ID!]!) { xUsers(ids: $ids) { id name username } }';

// ——— Clean-up ———————————————————————————————————————————————————————————————————————————————

/**
 * What runs now, each with how to stop it (once): the finally blocks stop them in order, and SIGINT or SIGTERM
 * stops whatever still runs before the process exits (the Cluster's own exit hook only SIGKILLs its nodes).
 */
const running = new Set<() => Promise<void>>();
/** Set by a signal: nothing more is started. */
let stopping = false;

/**
 * Runs `body` with what `start` started, and stops it afterwards however `body` ends. A signal that comes while
 * it starts stops it once started (a start that fails stops what it had started itself).
 */
async function using<T, R>(start: () => Promise<T>, close: (resource: T) => Promise<void>, body: (resource: T) => Promise<R>): Promise<R> {
  if (stopping) throw new Error('stopping: a signal came');
  const starting = start();
  let closing: Promise<void> | undefined;
  const closeOnce = () => {
    closing ??= starting.then(close, () => {});
    return closing;
  };
  running.add(closeOnce);
  try {
    return await body(await starting);
  } finally {
    running.delete(closeOnce);
    await closeOnce();
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the subgraphs and Redis servers this benchmark started`);
    stopping = true;
    const closers = [...running].reverse();
    void (async () => {
      for (const close of closers) await close().catch(() => {});
      process.exit(130);
    })();
  });
}

// ——— Redis topologies ————————————————————————————————————————————————————————————————————————

interface CommandCount {
  /** Every command Redis ran, those run inside scripts included (INFO commandstats' calls). */
  total: number;
  /** EVAL, EVALSHA and FCALL (and their _RO forms): the scripts themselves. */
  scripts: number;
}

interface Topology {
  name: TopologyName;
  /** What a replica is given to reach it. */
  env: Record<string, string>;
  /** Empties every master. */
  flush(): Promise<void>;
  /** Commands run so far, summed over every master; the INFO of a previous count is counted in this one. */
  commands(): Promise<CommandCount>;
  /** How many servers `commands` asks (each earlier count's INFO is one command on each). */
  masters: number;
}

const SCRIPT_COMMANDS = /^(eval|evalsha|eval_ro|evalsha_ro|fcall|fcall_ro)$/;

async function commandsOf(admin: Redis): Promise<CommandCount> {
  const info = await admin.info('commandstats');
  const count: CommandCount = { total: 0, scripts: 0 };
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    count.total += Number(m[2]);
    if (SCRIPT_COMMANDS.test(m[1]!)) count.scripts += Number(m[2]);
  }
  return count;
}

function topologyOf(name: TopologyName, env: Record<string, string>, admins: Redis[]): Topology {
  return {
    name,
    env,
    masters: admins.length,
    flush: async () => {
      await Promise.all(admins.map((admin) => admin.flushall()));
    },
    commands: async () => {
      const counts = await Promise.all(admins.map(commandsOf));
      return { total: counts.reduce((sum, c) => sum + c.total, 0), scripts: counts.reduce((sum, c) => sum + c.scripts, 0) };
    },
  };
}

const adminOptions = { maxRetriesPerRequest: 1, commandTimeout: 10_000 };

/** Runs `body` with a redis-server of its own, or a Cluster of its own, stopped afterwards. */
function withTopology<R>(name: TopologyName, body: (topology: Topology) => Promise<R>): Promise<R> {
  if (name === 'node') {
    return using(
      () => startOwnRedis(),
      (redis) => redis.close(),
      async (redis) => {
        const admin = new Redis(redis.url, adminOptions);
        try {
          return await body(topologyOf('node', { REDIS_URL: redis.url }, [admin]));
        } finally {
          admin.disconnect();
        }
      },
    );
  }
  return using(
    () => startOwnCluster(),
    (cluster) => cluster.close(),
    async (cluster) => {
      const admins = (await cluster.masters()).map((master) => new Redis({ host: master.host, port: master.port, ...adminOptions }));
      try {
        return await body(topologyOf('cluster', cluster.environment, admins));
      } finally {
        for (const admin of admins) admin.disconnect();
      }
    },
  );
}

// ——— Replicas ————————————————————————————————————————————————————————————————————————————————

/** Starts `count` replicas at once; if one fails to start, stops the others and throws. */
async function startReplicas(env: Record<string, string>, count: number): Promise<Subgraph[]> {
  const starts = await Promise.allSettled(Array.from({ length: count }, () => startSubgraph(env)));
  const started = starts.flatMap((start) => (start.status === 'fulfilled' ? [start.value] : []));
  const failed = starts.find((start): start is PromiseRejectedResult => start.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(started.map((replica) => stop(replica.child)));
    throw failed.reason;
  }
  return started;
}

/** Waits until every replica's link to Redis is up: a replica that served its first requests alone would ask X for ids the others have. */
async function redisUp(replicas: Subgraph[]): Promise<void> {
  const deadline = performance.now() + 15_000;
  for (const replica of replicas) {
    for (;;) {
      const text = await (await fetch(`${replica.origin}/metrics`)).text();
      if (/^users_subgraph_redis_up 1$/m.test(text)) break;
      if (performance.now() > deadline) throw new Error(`replica ${replica.origin} did not reach Redis within 15 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

const fallbacks = async (replicas: Subgraph[]) =>
  (await Promise.all(replicas.map((replica) => counterSum(replica.origin, 'users_subgraph_redis_fallbacks_total')))).reduce(
    (a, b) => a + b,
    0,
  );

/**
 * `clients` closed-loop clients, client i on replica i mod n, each sending operations of `nextIds()` back to back
 * for `forSeconds`: every operation's latency, the ids asked, the operations that failed.
 */
async function drive(
  replicas: Subgraph[],
  pools: Pool[],
  forSeconds: number,
  nextIds: () => string[],
): Promise<{ latencies: number[]; asked: Set<string>; errors: number; started: number; elapsed: number }> {
  const latencies: number[] = [];
  const asked = new Set<string>();
  let errors = 0;
  const started = performance.now();
  const until = started + forSeconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      const replica = replicas[client % replicas.length]!;
      const pool = pools[client % replicas.length]!;
      while (performance.now() < until) {
        const ids = nextIds();
        for (const id of ids) asked.add(id);
        const sent = performance.now();
        try {
          const res = await pool.request({
            method: 'POST',
            path: replica.path,
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ query: QUERY, variables: { ids } }),
          });
          const text = await res.body.text();
          if (res.statusCode !== 200 || text.includes('"errors"')) errors++;
        } catch {
          errors++;
        }
        latencies.push(performance.now() - sent);
      }
    }),
  );
  return { latencies, asked, errors, started, elapsed: (performance.now() - started) / 1000 };
}

/** The X emulator, and when each request it logged arrived (performance.now()): its log says what, not when. */
interface TimedEmulator extends XEmulator {
  arrivedAt(request: XEmulatorRequest): number | undefined;
}

async function startTimedEmulator(): Promise<TimedEmulator> {
  const emulator = await startXEmulator({
    bearerToken: token,
    rateLimit: { limit: 1_000_000_000, windowSeconds: 900 },
    latencyMs,
    recordRequests: true,
  });
  const arrivals = new WeakMap<XEmulatorRequest, number>();
  // The log is one array for the emulator's life, an entry pushed as its request arrives.
  const log = emulator.requests;
  const push = log.push.bind(log);
  log.push = (...entries: XEmulatorRequest[]) => {
    for (const entry of entries) arrivals.set(entry, performance.now());
    return push(...entries);
  };
  return Object.assign(emulator, { arrivedAt: (request: XEmulatorRequest) => arrivals.get(request) });
}

// ——— One cell ————————————————————————————————————————————————————————————————————————————————

export interface ReplicaCell {
  topology: TopologyName;
  replicas: number;
  operations: number;
  operationsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Operations answered with errors, or not answered at all. */
  errors: number;
  /** Requests X received (`GET /2/users`). */
  upstreamCalls: number;
  /** Of which not answered 200. */
  upstreamFailures: number;
  /** Distinct ids the clients asked for. */
  distinctIds: number;
  /** Ids asked upstream, summed over every call (an id in two calls counts twice). */
  idsAskedUpstream: number;
  upstreamCallsPerDistinctId: number;
  /** 1.0 when every id was fetched exactly once. */
  idsAskedUpstreamPerDistinctId: number;
  /** Ids that appear in more than one upstream call: 0 when sharing works. */
  idsAskedTwice: number;
  /** The ids asked more than once, and how many calls asked each (at most 20, most asked first). */
  idsAskedTwiceSample: Array<{ id: string; calls: number; atSeconds: number[] }>;
  /** When the measured phase began (epoch ms): the replicas' log lines (`time`) are on the same clock. */
  startedAtEpochMs: number;
  redisCommandsPerOp: number;
  redisScriptCallsPerOp: number;
  subgraphCpuMsPerOp: number;
  rssMiBPerReplica: number[];
  /** Calls the replicas answered from memory instead of Redis (users_subgraph_redis_fallbacks_total). */
  redisFallbacks: number;
}

async function runCell(topology: Topology, count: number, emulator: TimedEmulator): Promise<ReplicaCell> {
  await topology.flush();
  const env = {
    X_BEARER_TOKEN: token,
    X_API_BASE_URL: emulator.url,
    REDIS_KEY_PREFIX: `bench-replicas:${topology.name}-${count}:${process.pid}:`,
    ...topology.env,
  };
  return using(
    () => startReplicas(env, count),
    (replicas) => Promise.all(replicas.map((replica) => stop(replica.child))).then(() => {}),
    async (replicas) => {
      await redisUp(replicas);
      const pools = replicas.map((replica) => new Pool(replica.origin, { connections: Math.ceil(clients / count), pipelining: 1 }));
      try {
        // Warm-up: fresh processes compile as they go; ids the measured phase never asks keep its ids cold.
        const warmUp = seeded(SEED + 1);
        await drive(replicas, pools, warmUpSeconds, () => zipfIds(warmUp).map((id) => String(Number(id) + UNIVERSE)));
        await new Promise((resolve) => setTimeout(resolve, 200));
        emulator.reset();
        const fallbacksBefore = await fallbacks(replicas);
        const cpuBefore = replicas.map((replica) => cpuMs(replica.child.pid!));
        const commandsBefore = await topology.commands();
        const random = seeded(SEED);
        const startedAtEpochMs = Date.now();
        const { latencies, asked, errors, started, elapsed } = await drive(replicas, pools, seconds, () => zipfIds(random));
        // What an answer left behind (a claim given back after the answer went out) lands before the counts.
        await new Promise((resolve) => setTimeout(resolve, 100));
        const commandsAfter = await topology.commands();
        const cpuAfter = replicas.map((replica) => cpuMs(replica.child.pid!));
        const rss = replicas.map((replica) => rssMiB(replica.child.pid!));
        const fallbacksAfter = await fallbacks(replicas);

        const calls = emulator.requests.filter((request) => request.path === '/2/users');
        /** Per id, when each call that asked it arrived (s into the measured phase). */
        const callsPerId = new Map<string, number[]>();
        let idsAskedUpstream = 0;
        for (const call of calls) {
          const ids = (call.query.ids ?? '').split(',').filter(Boolean);
          idsAskedUpstream += ids.length;
          const atSeconds = Math.round(((emulator.arrivedAt(call) ?? Number.NaN) - started) / 10) / 100;
          for (const id of new Set(ids)) callsPerId.set(id, [...(callsPerId.get(id) ?? []), atSeconds]);
        }
        const twice = [...callsPerId].filter(([, at]) => at.length > 1).sort((a, b) => b[1].length - a[1].length);
        latencies.sort((a, b) => a - b);
        const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
        const operations = latencies.length;
        // Each earlier count's INFO ran on every master between the two counts.
        const commands = commandsAfter.total - commandsBefore.total - topology.masters;
        return {
          topology: topology.name,
          replicas: count,
          operations,
          operationsPerSecond: operations / elapsed,
          p50Ms: at(0.5),
          p99Ms: at(0.99),
          errors,
          upstreamCalls: calls.length,
          upstreamFailures: calls.filter((call) => call.status !== 200).length,
          distinctIds: asked.size,
          idsAskedUpstream,
          upstreamCallsPerDistinctId: calls.length / asked.size,
          idsAskedUpstreamPerDistinctId: idsAskedUpstream / asked.size,
          idsAskedTwice: twice.length,
          idsAskedTwiceSample: twice.slice(0, 20).map(([id, atSeconds]) => ({ id, calls: atSeconds.length, atSeconds })),
          startedAtEpochMs,
          redisCommandsPerOp: commands / operations,
          redisScriptCallsPerOp: (commandsAfter.scripts - commandsBefore.scripts) / operations,
          subgraphCpuMsPerOp: cpuAfter.reduce((sum, after, i) => sum + after - cpuBefore[i]!, 0) / operations,
          rssMiBPerReplica: rss,
          redisFallbacks: fallbacksAfter - fallbacksBefore,
        };
      } finally {
        await Promise.all(pools.map((pool) => pool.close()));
      }
    },
  );
}

// ——— The run —————————————————————————————————————————————————————————————————————————————————

interface Ratios {
  topology: TopologyName;
  replicas: number;
  upstreamCallsPerDistinctId: number;
  idsAskedUpstreamPerDistinctId: number;
  p99: number;
  redisCommandsPerOp: number;
  subgraphCpuMsPerOp: number;
  operationsPerSecond: number;
}

export interface ReplicaResults {
  version: 1;
  date: string;
  commit: string;
  machine: MachineInfo;
  settings: { seconds: number; warmUpSeconds: number; clients: number; upstreamLatencyMs: number; universe: number; subgraph: string };
  cells: ReplicaCell[];
  /** Each cell over the baseline: one replica on one node when it ran, else the first cell. */
  baseline: { topology: TopologyName; replicas: number };
  ratios: Ratios[];
}

const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : '—');

function report(results: ReplicaResults): string {
  const lines = [
    `\n${seconds} s per cell, ${clients} clients round-robin over the replicas, 1–10 X ids per operation (Zipf over ${UNIVERSE}), upstream latency ${latencyMs} ms\n`,
    '| Redis | replicas | ops | ops/s | p50 / p99 ms | upstream calls | distinct ids | calls / distinct id | ids upstream / distinct id | ids asked twice | Redis cmds / op (scripts) | CPU ms / op | RSS MiB per replica | fallbacks | errors |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const c of results.cells) {
    lines.push(
      `| ${c.topology} | ${c.replicas} | ${c.operations} | ${fixed(c.operationsPerSecond, 0)} | ${fixed(c.p50Ms, 1)} / ${fixed(c.p99Ms, 1)} | ${c.upstreamCalls} | ${c.distinctIds} | ${fixed(c.upstreamCallsPerDistinctId, 3)} | ${fixed(c.idsAskedUpstreamPerDistinctId, 3)}${c.idsAskedUpstream > c.distinctIds ? ` (+${c.idsAskedUpstream - c.distinctIds})` : ''} | ${c.idsAskedTwice} | ${fixed(c.redisCommandsPerOp, 2)} (${fixed(c.redisScriptCallsPerOp, 2)}) | ${fixed(c.subgraphCpuMsPerOp, 2)} | ${c.rssMiBPerReplica.map((r) => r.toFixed(0)).join(' · ')} | ${c.redisFallbacks} | ${c.errors} |`,
    );
  }
  lines.push(
    `\nRatios to ${results.baseline.replicas} replica(s) on ${results.baseline.topology === 'node' ? 'one node' : 'the Cluster'}, same run:\n`,
    '| Redis | replicas | calls / distinct id | ids upstream / distinct id | p99 | Redis cmds / op | CPU / op | ops/s |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const r of results.ratios) {
    lines.push(
      `| ${r.topology} | ${r.replicas} | ${fixed(r.upstreamCallsPerDistinctId, 2)} | ${fixed(r.idsAskedUpstreamPerDistinctId, 2)} | ${fixed(r.p99, 2)} | ${fixed(r.redisCommandsPerOp, 2)} | ${fixed(r.subgraphCpuMsPerOp, 2)} | ${fixed(r.operationsPerSecond, 2)} |`,
    );
  }
  for (const c of results.cells.filter((cell) => cell.idsAskedTwice > 0)) {
    const sample = c.idsAskedTwiceSample.map(({ id, atSeconds }) => `${id} at ${atSeconds.join(', ')} s`).join('; ');
    lines.push(
      `\n${c.topology}, ${c.replicas} replica(s): ${c.idsAskedTwice} id(s) asked in more than one call (${sample}; the phase began at ${new Date(c.startedAtEpochMs).toISOString()}, epoch ms ${c.startedAtEpochMs})`,
    );
  }
  lines.push('\ngoal: ids upstream / distinct id 1.00 and no id asked twice in every cell');
  return lines.join('\n');
}

/**
 * The results as JSON the way the project's formatter (biome) writes it, so that `npm run lint` passes over the
 * file: fractions rounded to 4 significant digits, arrays of plain values on one line.
 */
function asJson(results: ReplicaResults): string {
  const round = (_key: string, value: unknown) =>
    typeof value === 'number' && !Number.isInteger(value) ? Number(value.toPrecision(4)) : value;
  return JSON.stringify(results, round, 2).replace(/\[\s+([^[\]{}]*?)\s+\]/g, (_, items: string) => `[${items.split(/,\s+/).join(', ')}]`);
}

async function main(): Promise<void> {
  buildSubgraph();
  const cells = await using(
    () => startTimedEmulator(),
    (emulator) => emulator.close(),
    async (emulator) => {
      const done: ReplicaCell[] = [];
      for (const name of topologyNames) {
        await withTopology(name, async (topology) => {
          for (const count of replicaCounts) {
            const cell = await runCell(topology, count, emulator);
            console.log(
              `${cell.topology}, ${cell.replicas} replica(s): ${cell.operations} ops, p99 ${fixed(cell.p99Ms, 1)} ms, ` +
                `${cell.upstreamCalls} X calls for ${cell.distinctIds} ids (${cell.idsAskedTwice} asked twice), ${fixed(cell.redisCommandsPerOp, 2)} Redis cmds/op`,
            );
            done.push(cell);
          }
        });
      }
      return done;
    },
  );
  const base = cells.find((cell) => cell.topology === 'node' && cell.replicas === 1) ?? cells[0]!;
  const commit = measuredCommit();
  const results: ReplicaResults = {
    version: 1,
    date: new Date().toISOString(),
    commit,
    machine: machineInfo(),
    settings: { seconds, warmUpSeconds, clients, upstreamLatencyMs: latencyMs, universe: UNIVERSE, subgraph: subgraphMain },
    cells,
    baseline: { topology: base.topology, replicas: base.replicas },
    ratios: cells.map((cell) => ({
      topology: cell.topology,
      replicas: cell.replicas,
      upstreamCallsPerDistinctId: cell.upstreamCallsPerDistinctId / base.upstreamCallsPerDistinctId,
      idsAskedUpstreamPerDistinctId: cell.idsAskedUpstreamPerDistinctId / base.idsAskedUpstreamPerDistinctId,
      p99: cell.p99Ms / base.p99Ms,
      redisCommandsPerOp: cell.redisCommandsPerOp / base.redisCommandsPerOp,
      subgraphCpuMsPerOp: cell.subgraphCpuMsPerOp / base.subgraphCpuMsPerOp,
      operationsPerSecond: cell.operationsPerSecond / base.operationsPerSecond,
    })),
  };
  console.log(report(results));
  mkdirSync(outDir, { recursive: true });
  writeFileSync(`${outDir}/replicas.json`, `${asJson(results)}\n`);
  console.log(`\nwritten: ${outDir}/replicas.json`);
}

await main();
