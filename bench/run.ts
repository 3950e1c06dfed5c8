/**
 * Throughput benchmark (README, "Benchmark"): one operation asking 100 X users with ~8 fields,
 * 10 concurrent clients, the X emulator as the upstream in its own process, the subgraph built and
 * run as `npm start` runs it. Reports the raw upstream and the subgraph side by side, in one run,
 * because absolute figures swing ±20 % on this machine; the ratio is the figure that matters.
 *
 *   npm run bench                 # 20 s per phase
 *   BENCH_SECONDS=5 npm run bench
 */
import { type ChildProcess, execFileSync, execSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';

const root = fileURLToPath(new URL('..', import.meta.url));
const seconds = Number(process.env.BENCH_SECONDS ?? 20);
const concurrency = Number(process.env.BENCH_CLIENTS ?? 10);
const token = 'bench-token';

const ids = Array.from({ length: 100 }, (_, i) => String(i + 1));
const USER_FIELDS = 'created_at,description,location,profile_image_url,public_metrics,verified';
const RAW_PATH = `/2/users?ids=${ids.join(',')}&user.fields=${USER_FIELDS}`;
const OPERATION = `query Bench($ids: [ID!]!) { xUsers(ids: $ids) {
    id name username createdAt description location profileImageUrl verified publicMetrics { followersCount }
  } }`;
const QUERY = JSON.stringify({ query: OPERATION, variables: { ids } });
/**
 * Client `c`'s operation: 100 ids of its own (c*100+1…), so that concurrent operations share no upstream
 * call and each one is a cold lookup. (Identical concurrent operations would join each other's calls:
 * the subgraph coalesces across requests.)
 */
const queryOf = (client: number) =>
  JSON.stringify({ query: OPERATION, variables: { ids: Array.from({ length: 100 }, (_, i) => String(client * 100 + i + 1)) } });

function start(args: string[], env: Record<string, string>, ready: RegExp): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const line = out.split('\n').find((l) => ready.test(l));
      if (line) resolve({ child, line });
    });
    child.on('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}:\n${out}`)));
  });
}

interface Result {
  /** Requests sent, warm-up included. */
  sent: number;
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

async function load(
  origin: string,
  request: { method: 'GET' | 'POST'; path: string; headers: Record<string, string>; body?: string },
  check: (status: number, body: string) => boolean,
  bodyOf?: (client: number) => string,
): Promise<Result> {
  const pool = new Pool(origin, { connections: concurrency, pipelining: 1 });
  const latencies: number[] = [];
  let errors = 0;
  let sent = 0;
  // Warm-up: JIT, connection set-up, document cache.
  const warmUntil = performance.now() + 2_000;
  const until = warmUntil + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, client) => {
      const own = bodyOf === undefined ? request : { ...request, body: bodyOf(client) };
      for (;;) {
        const started = performance.now();
        if (started >= until) return;
        sent++;
        const res = await pool.request(own);
        const text = await res.body.text();
        const ended = performance.now();
        if (started < warmUntil) continue;
        if (!check(res.statusCode, text)) errors++;
        latencies.push(ended - started);
      }
    }),
  );
  await pool.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { sent, requests: latencies.length, rps: latencies.length / seconds, p50: at(0.5), p99: at(0.99), errors };
}

/**
 * wrk (Debian's `wrk` package), when installed, is the load generator: a C client that leaves the
 * 2 cores to the processes under test. Without it, `load()` above does the same in Node.
 */
function hasWrk(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (error) {
    // wrk --version exits 1 after printing its version.
    return (error as { status?: number }).status === 1;
  }
}

function wrk(url: string, request: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string }): Result {
  const dir = mkdtempSync(join(tmpdir(), 'bench-'));
  const script = join(dir, 'request.lua');
  const headers = Object.entries(request.headers).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`);
  writeFileSync(
    script,
    [`wrk.method = "${request.method}"`, ...headers, request.body ? `wrk.body = ${JSON.stringify(request.body)}` : ''].join('\n'),
  );
  const run = (duration: number) =>
    execFileSync('wrk', ['-t1', `-c${concurrency}`, `-d${duration}s`, '--latency', '-s', script, url], { encoding: 'utf8' });
  const warm = run(2); // warm-up: JIT, connections, document cache
  const out = run(seconds);
  const ms = (label: string) => {
    const m = out.match(new RegExp(`${label}\\s+([\\d.]+)(us|ms|s)`));
    if (!m) return NaN;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const requests = Number(out.match(/(\d+) requests in/)?.[1] ?? NaN);
  const non2xx = Number(out.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0);
  const warmed = Number(warm.match(/(\d+) requests in/)?.[1] ?? NaN);
  return {
    sent: warmed + requests,
    requests,
    rps: Number(out.match(/Requests\/sec:\s+([\d.]+)/)?.[1]),
    p50: ms('50%'),
    p99: ms('99%'),
    errors: non2xx,
  };
}

function rssMiB(pid: number): number {
  const match = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return match ? Number(match[1]) / 1024 : NaN;
}

async function upstreamCalls(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return [...text.matchAll(/users_subgraph_upstream_requests_total\{[^}]*\} (\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
}

async function main(): Promise<void> {
  execSync('npm run build --silent', { cwd: root, stdio: 'inherit' });
  const emulator = await start(
    ['dist/src/providers/x/emulator/main.js'],
    { PORT: '0', X_BEARER_TOKEN: token, X_RATE_LIMIT: '1000000000/900', X_MEMOIZE: '1' },
    /listening on/,
  );
  const upstream = emulator.line.match(/http:\/\/[\d.]+:\d+/)![0];
  // BENCH_PROFILE=dir writes a V8 CPU profile of the subgraph there (open it in Chrome DevTools).
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const subgraph = await start(
    [...profile, '--max-semi-space-size=32', 'dist/src/main.js'], // as `npm start` runs it
    // The cold path: X's record cache off, so every operation goes upstream (the cache, on by default, would
    // answer all but the first from memory: `npm run bench:zipf` measures it on a workload where that counts).
    {
      NODE_ENV: 'production',
      PORT: '0',
      HOST: '127.0.0.1',
      X_BEARER_TOKEN: token,
      X_API_BASE_URL: upstream,
      LOG_LEVEL: 'info',
      X_CACHE: '0',
    },
    /users-subgraph ready/,
  );
  const endpoint = new URL(JSON.parse(subgraph.line).endpoint as string);
  try {
    const useWrk = hasWrk() && process.env.BENCH_CLIENT !== 'node';
    const rawRequest = { method: 'GET' as const, path: RAW_PATH, headers: { authorization: `Bearer ${token}` } };
    const graphRequest = { method: 'POST' as const, path: endpoint.pathname, headers: { 'content-type': 'application/json' }, body: QUERY };
    const raw = useWrk ? wrk(upstream + RAW_PATH, rawRequest) : await load(upstream, rawRequest, (s) => s === 200);
    // A correct answer first: the figures below are of a working operation.
    const probe = (await (await fetch(endpoint, { method: 'POST', headers: graphRequest.headers, body: QUERY })).json()) as {
      errors?: unknown;
      data?: { xUsers?: unknown[] };
    };
    if (probe.errors || probe.data?.xUsers?.length !== 100)
      throw new Error(`bench operation failed: ${JSON.stringify(probe).slice(0, 500)}`);
    const callsBefore = await upstreamCalls(endpoint.origin);
    const graph = useWrk
      ? wrk(endpoint.href, graphRequest)
      : await load(endpoint.origin, graphRequest, (s, body) => s === 200 && !body.includes('"errors"'), queryOf);
    const callsAfter = await upstreamCalls(endpoint.origin);
    const rss = rssMiB(subgraph.child.pid!);
    const row = (name: string, r: Result) =>
      `| ${name} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(1)} / ${r.p99.toFixed(1)} ms | ${r.errors} |`;
    console.log(`\n${seconds} s per phase, ${concurrency} clients, 100 users x ~8 fields, load from ${useWrk ? 'wrk' : 'node'}\n`);
    console.log('| target | req/s | p50 / p99 | errors |\n| --- | --- | --- | --- |');
    console.log(row('raw upstream GET /2/users (emulator)', raw));
    console.log(row('users-subgraph xUsers(100 ids)', graph));
    console.log(`\nratio subgraph/raw: ${(graph.rps / raw.rps).toFixed(3)}  (goal >= 0.25, p99 <= 30 ms)`);
    console.log(`subgraph RSS after load: ${rss.toFixed(0)} MiB (goal <= 160 MiB)`);
    // Warm-up requests made calls too; the measured ones must have made exactly one each (wrk sends one body
    // from every connection: there concurrent operations share calls, and the figure is below 1).
    console.log(`upstream calls per operation: ${((callsAfter - callsBefore) / graph.sent).toFixed(3)} (cold path: 1)`);
  } finally {
    subgraph.child.kill('SIGTERM');
    emulator.child.kill('SIGTERM');
  }
}

await main();
