/**
 * What the record cache costs in memory (docs/benchmarks.md, "Benchmarks"): the same cold load — 10 clients back to
 * back, each operation 100 X users never asked before, 15 fields — against the built subgraph with X's
 * cache off, then as shipped (on, CACHE_MAX_BYTES of 64 MiB), each for BENCH_MEMORY_SECONDS (60). Read
 * after the load, from /proc and the subgraph's /metrics: RSS, the V8 heap, external memory (the cache's
 * slabs), and what the cache counts against its bound. The goal: RSS(on) − RSS(off) ≤ 1.25 × the bound.
 *
 * The X emulator runs in this process (it knows every id up to 10^15). Results go to
 * bench/results/cache-memory.json.
 *
 *   npm run bench:memory
 *   BENCH_MEMORY_SECONDS=20 BENCH_MEMORY_ROUNDS=2 npm run bench:memory
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Pool } from 'undici';
import { startXEmulator } from '../src/providers/x/emulator/server.js';
import { buildSubgraph, cpuMs, measuredCommit, root, rssMiB, startSubgraph, stop } from './processes.js';
import { machineInfo } from './results.js';

const seconds = Number(process.env.BENCH_MEMORY_SECONDS ?? 60);
const rounds = Number(process.env.BENCH_MEMORY_ROUNDS ?? 1);
const clients = Number(process.env.BENCH_CLIENTS ?? 10);
const maxBytes = Number(process.env.BENCH_CACHE_MAX_BYTES ?? 64 * 1024 * 1024);
const outDir = process.env.BENCH_OUT ?? `${root}bench/results`;
const token = 'bench-token';
const FIELDS =
  'id name username displayName avatarUrl profileUrl createdAt description location url profileImageUrl protected verified verifiedType publicMetrics { followersCount }';
const QUERY = `query Memory($ids: [ID!]!) { xUsers(ids: $ids) { ${FIELDS} } }`;

interface Reading {
  cache: 'off' | 'on';
  operations: number;
  cpuMsPerOp: number;
  rssMiB: number;
  heapUsedMiB: number;
  heapTotalMiB: number;
  externalMiB: number;
  cacheBytesMiB: number;
  cacheEntries: number;
}

let nextId = 1_000_000;

async function measure(cache: 'off' | 'on', baseUrl: string): Promise<Reading> {
  const env: Record<string, string> = {
    X_API_BASE_URL: baseUrl,
    X_BEARER_TOKEN: token,
    COALESCE_WINDOW_MS: '0',
    CACHE_MAX_BYTES: String(maxBytes),
    ...(cache === 'off' ? { X_CACHE: '0' } : {}),
  };
  const subgraph = await startSubgraph(env);
  const pool = new Pool(subgraph.origin, { connections: clients, pipelining: 1 });
  try {
    let operations = 0;
    const cpuBefore = cpuMs(subgraph.child.pid!);
    const until = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (performance.now() < until) {
          const ids = Array.from({ length: 100 }, () => String(nextId++));
          const res = await pool.request({
            method: 'POST',
            path: subgraph.path,
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ query: QUERY, variables: { ids } }),
          });
          const text = await res.body.text();
          if (res.statusCode !== 200 || text.includes('"errors"')) throw new Error(`an operation failed: ${text.slice(0, 300)}`);
          operations++;
        }
      }),
    );
    const cpu = cpuMs(subgraph.child.pid!) - cpuBefore;
    const plain = async (name: string) => {
      const text = await (await fetch(`${subgraph.origin}/metrics`)).text();
      const match = text.match(new RegExp(`^${name} ([\\d.e+]+)$`, 'm'));
      return match ? Number(match[1]) : Number.NaN;
    };
    return {
      cache,
      operations,
      cpuMsPerOp: cpu / operations,
      rssMiB: rssMiB(subgraph.child.pid!),
      heapUsedMiB: (await plain('nodejs_heap_size_used_bytes')) / 2 ** 20,
      heapTotalMiB: (await plain('nodejs_heap_size_total_bytes')) / 2 ** 20,
      externalMiB: (await plain('nodejs_external_memory_bytes')) / 2 ** 20,
      cacheBytesMiB: (await plain('users_subgraph_cache_memory_bytes')) / 2 ** 20,
      cacheEntries: await plain('users_subgraph_cache_memory_entries'),
    };
  } finally {
    await pool.close();
    await stop(subgraph.child);
  }
}

async function main(): Promise<void> {
  buildSubgraph();
  const x = await startXEmulator({
    bearerToken: token,
    port: 0,
    maxKnownId: 1e15,
    rateLimit: { limit: 1_000_000_000, windowSeconds: 900 },
    recordRequests: false,
  });
  const readings: Reading[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      for (const cache of ['off', 'on'] as const) {
        const reading = await measure(cache, x.url);
        readings.push(reading);
        console.log(JSON.stringify(reading));
      }
    }
  } finally {
    await x.close();
  }
  const f = (n: number) => n.toFixed(1);
  console.log(`\n${seconds} s of cold load per run, ${clients} clients, CACHE_MAX_BYTES ${f(maxBytes / 2 ** 20)} MiB\n`);
  console.log('| cache | ops | CPU ms/op | RSS MiB | heap used / total MiB | external MiB | counted by the cache MiB | entries |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of readings) {
    console.log(
      `| ${r.cache} | ${r.operations} | ${r.cpuMsPerOp.toFixed(3)} | ${f(r.rssMiB)} | ${f(r.heapUsedMiB)} / ${f(r.heapTotalMiB)} | ${f(r.externalMiB)} | ${f(r.cacheBytesMiB)} | ${r.cacheEntries} |`,
    );
  }
  const pairs: Array<{ rssDeltaMiB: number; overBound: number; cpuRatio: number }> = [];
  for (let i = 0; i + 1 < readings.length; i += 2) {
    const off = readings[i]!;
    const on = readings[i + 1]!;
    pairs.push({
      rssDeltaMiB: on.rssMiB - off.rssMiB,
      overBound: (on.rssMiB - off.rssMiB) / (maxBytes / 2 ** 20),
      cpuRatio: on.cpuMsPerOp / off.cpuMsPerOp,
    });
  }
  for (const p of pairs) {
    console.log(
      `\nRSS(on) − RSS(off): ${f(p.rssDeltaMiB)} MiB = ${p.overBound.toFixed(2)} × CACHE_MAX_BYTES (goal ≤ 1.25); CPU per operation on / off: ${p.cpuRatio.toFixed(2)}`,
    );
  }
  mkdirSync(outDir, { recursive: true });
  const commit = measuredCommit();
  writeFileSync(
    `${outDir}/cache-memory.json`,
    `${JSON.stringify({ date: new Date().toISOString(), commit, machine: machineInfo(), seconds, clients, maxBytes, readings, pairs }, null, 2)}\n`,
  );
}

await main();
