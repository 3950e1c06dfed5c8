/**
 * The hostile workloads of issue 20, measured against a built subgraph (a production start with an X
 * emulator on loopback), so that a figure can be read before and after a change in one run:
 *
 *   badids     4 attacker loops send one bad X id each (`007`, 0, 2^63) while 40 clients ask valid ids:
 *              how many of the valid clients' requests failed (cache off, and as shipped)
 *   outputs    20 clients send, over and over for 15 s, 10,000 ids (50 distinct) × 15 fields through 20
 *              aliases, while /health is asked every 20 ms: /health's p50/p99/max, the largest RSS
 *   documents  20 clients send distinct small documents, each twice, for 20 s (BENCH_DOCUMENT_SECONDS): RSS
 *              before and after
 *   slowbody   one request sends its headers and `{"query":` and stops: how long until the subgraph
 *              answers or closes it; then SIGTERM: how long shutdown takes and the exit code
 *   sigterm    30 keep-alive clients ask in a loop; SIGTERM: answers 200, answers 503, and requests
 *              that got no HTTP answer at all (reset)
 *
 *   npm run bench:attacks
 *   BENCH_ATTACKS=outputs,sigterm BENCH_SUBGRAPH=/elsewhere/dist/src/main.js npm run bench:attacks
 *   BENCH_ATTACKS=outputs BENCH_SUBGRAPH_ENV=MAX_EVENT_LOOP_DELAY_MS=0 npm run bench:attacks     # compare settings
 *
 * Results: bench/results/attacks.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { Client, Pool } from 'undici';
import { startXEmulator } from '../src/providers/x/emulator/server.js';
import { root, rssMiB, type Subgraph, startSubgraph, stop, subgraphMain } from './processes.js';

const attacks = (process.env.BENCH_ATTACKS ?? 'badids,outputs,documents,slowbody,sigterm').split(',');
const outDir = process.env.BENCH_OUT ?? `${root}bench/results`;
const token = 'bench-token';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** 15 values per user. */
const FIELDS =
  'id name username description location url profileImageUrl protected verified verifiedType createdAt displayName avatarUrl publicMetrics { followersCount }';

type Emulator = Awaited<ReturnType<typeof startXEmulator>>;

/** The subgraph's own variables given to every attack (BENCH_SUBGRAPH_ENV='MAX_EVENT_LOOP_DELAY_MS=0,…'), to compare settings. */
const subgraphEnv: Record<string, string> = Object.fromEntries(
  (process.env.BENCH_SUBGRAPH_ENV ?? '')
    .split(',')
    .filter((pair) => pair.includes('='))
    .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
);

async function withSubgraph<T>(env: Record<string, string>, work: (subgraph: Subgraph, emulator: Emulator) => Promise<T>): Promise<T> {
  const emulator = await startXEmulator({ bearerToken: token, rateLimit: { limit: 1_000_000, windowSeconds: 900 } });
  const subgraph = await startSubgraph({ X_BEARER_TOKEN: token, X_API_BASE_URL: emulator.url, ...subgraphEnv, ...env });
  try {
    return await work(subgraph, emulator);
  } finally {
    await stop(subgraph.child);
    await emulator.close();
  }
}

function post(pool: Pool | Client, body: unknown) {
  return pool.request({ method: 'POST', path: '/graphql', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
};

async function badIds(cache: 'off' | 'default') {
  return withSubgraph(cache === 'off' ? { X_CACHE: '0' } : {}, async ({ origin }) => {
    const pool = new Pool(origin, { connections: 50 });
    const end = performance.now() + 10_000;
    let valid = 0;
    /** Valid clients' requests answered with an error other than OVERLOADED (a load shed is not a wrong answer). */
    let validFailed = 0;
    let validShed = 0;
    let attackerRequests = 0;
    const bad = ['007', '0', '9223372036854775808', '00000000000000000042'];
    const attacker = async (id: string) => {
      while (performance.now() < end) {
        const res = await post(pool, { query: 'query($ids: [ID!]!) { xUsers(ids: $ids) { id name } }', variables: { ids: [id] } });
        await res.body.text();
        attackerRequests++;
      }
    };
    let n = 0;
    const client = async () => {
      while (performance.now() < end) {
        const ids = Array.from({ length: 5 }, () => String(1 + (n++ % 5_000)));
        const res = await post(pool, { query: 'query($ids: [ID!]!) { xUsers(ids: $ids) { id name } }', variables: { ids } });
        const body = (await res.body.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
        valid++;
        if (res.statusCode === 503 && body.errors?.[0]?.extensions?.code === 'OVERLOADED') validShed++;
        else if (res.statusCode !== 200 || (body.errors?.length ?? 0) > 0) validFailed++;
      }
    };
    await Promise.all([...bad.map(attacker), ...Array.from({ length: 40 }, client)]);
    await pool.close();
    return { cache, valid, validFailed, validShed, attackerRequests };
  });
}

async function outputs() {
  return withSubgraph({}, async ({ origin, child }) => {
    // 20 aliases (MAX_ROOT_FIELDS) of one variable of 500 ids (50 distinct): 10,000 items, a request of about 6 KB.
    const aliases = Array.from({ length: 20 }, (_, a) => `a${a}: xUsers(ids: $ids) { ${FIELDS} }`);
    const query = `query Big($ids: [ID!]!) { ${aliases.join(' ')} }`;
    const variables = { ids: Array.from({ length: 500 }, (_, i) => String(1 + (i % 50))) };
    const pool = new Pool(origin, { connections: 20 });
    const health = new Client(origin);
    const end = performance.now() + 15_000;
    let operations = 0;
    let bytes = 0;
    let statuses = new Map<number, number>();
    let maxRss = rssMiB(child.pid!);
    const healthMs: number[] = [];
    const probe = async () => {
      while (performance.now() < end) {
        const at = performance.now();
        const res = await health.request({ method: 'GET', path: '/health' });
        await res.body.text();
        healthMs.push(performance.now() - at);
        maxRss = Math.max(maxRss, rssMiB(child.pid!));
        await sleep(20);
      }
    };
    const client = async () => {
      while (performance.now() < end) {
        const res = await post(pool, { query, variables });
        const text = await res.body.text();
        bytes = Math.max(bytes, text.length);
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        operations++;
      }
    };
    await Promise.all([probe(), ...Array.from({ length: 20 }, client)]);
    await Promise.all([pool.close(), health.close()]);
    const byStatus = Object.fromEntries(statuses);
    statuses = new Map();
    return {
      operations,
      byStatus,
      largestAnswerBytes: bytes,
      healthP50Ms: quantile(healthMs, 0.5),
      healthP99Ms: quantile(healthMs, 0.99),
      healthMaxMs: Math.max(...healthMs),
      maxRssMiB: Math.round(maxRss),
    };
  });
}

async function documents() {
  return withSubgraph({}, async ({ origin, child }) => {
    const pool = new Pool(origin, { connections: 20 });
    await post(pool, { query: '{ xUsers(ids: ["1"]) { id } }' }).then((r) => r.body.text());
    const before = rssMiB(child.pid!);
    const end = performance.now() + Number(process.env.BENCH_DOCUMENT_SECONDS ?? 20) * 1000;
    let n = 0;
    let sent = 0;
    const client = async () => {
      while (performance.now() < end) {
        const i = n++;
        const query = `{ xUsers(ids: ["${1 + (i % 100)}"]) { id n${i}: name u${i}: username d${i}: description } }`;
        for (let twice = 0; twice < 2; twice++) {
          await post(pool, { query }).then((r) => r.body.text());
          sent++;
        }
      }
    };
    await Promise.all(Array.from({ length: 20 }, client));
    await pool.close();
    return { requests: sent, distinctDocuments: n, rssBeforeMiB: Math.round(before), rssAfterMiB: Math.round(rssMiB(child.pid!)) };
  });
}

async function slowBody() {
  const emulator = await startXEmulator({ bearerToken: token });
  const subgraph = await startSubgraph({ X_BEARER_TOKEN: token, X_API_BASE_URL: emulator.url });
  try {
    const url = new URL(subgraph.origin);
    const socket = connect(Number(url.port), url.hostname);
    const at = performance.now();
    let answer = '';
    const ended = new Promise<number>((resolve) => {
      socket.on('data', (chunk) => {
        answer += chunk.toString();
      });
      socket.on('close', () => resolve(performance.now() - at));
      socket.on('error', () => {});
    });
    socket.write('POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"query":');
    const cutAfterMs = await Promise.race([ended, sleep(90_000).then(() => Number.POSITIVE_INFINITY)]);
    const status = Number(answer.match(/^HTTP\/1\.1 (\d+)/)?.[1] ?? 0);
    // A second slow body, in flight when SIGTERM comes.
    const second = connect(Number(url.port), url.hostname);
    second.on('error', () => {});
    second.write('POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"query":');
    await sleep(200);
    const termAt = performance.now();
    const exit = new Promise<number | null>((resolve) => subgraph.child.once('exit', (code) => resolve(code)));
    subgraph.child.kill('SIGTERM');
    const code = await exit;
    socket.destroy();
    second.destroy();
    return { cutAfterMs: Math.round(cutAfterMs), status, shutdownMs: Math.round(performance.now() - termAt), exitCode: code };
  } finally {
    await stop(subgraph.child);
    await emulator.close();
  }
}

async function sigterm() {
  const emulator = await startXEmulator({ bearerToken: token, rateLimit: { limit: 1_000_000, windowSeconds: 900 } });
  const subgraph = await startSubgraph({ X_BEARER_TOKEN: token, X_API_BASE_URL: emulator.url });
  const counts = { ok: 0, refused503: 0, noAnswer: 0, other: 0 };
  let exited = false;
  const exit = new Promise<number | null>((resolve) =>
    subgraph.child.once('exit', (code) => {
      exited = true;
      resolve(code);
    }),
  );
  try {
    let n = 0;
    const client = async () => {
      const keepAlive = new Client(subgraph.origin, { keepAliveTimeout: 60_000, pipelining: 1 });
      try {
        while (!exited) {
          try {
            const res = await post(keepAlive, {
              query: 'query($ids: [ID!]!) { xUsers(ids: $ids) { id } }',
              variables: { ids: [String(1 + (n++ % 1000))] },
            });
            await res.body.text();
            if (res.statusCode === 200) counts.ok++;
            else if (res.statusCode === 503) counts.refused503++;
            else counts.other++;
          } catch (error) {
            const code = (error as { code?: string }).code ?? '';
            if (code === 'ECONNREFUSED') break; // the listener is closed: a new connection, not a request lost
            counts.noAnswer++;
          }
        }
      } finally {
        await keepAlive.destroy();
      }
    };
    const clients = Array.from({ length: 30 }, client);
    await sleep(3_000);
    subgraph.child.kill('SIGTERM');
    const code = await exit;
    await Promise.all(clients);
    return { ...counts, exitCode: code };
  } finally {
    await stop(subgraph.child);
    await emulator.close();
  }
}

const results: Record<string, unknown> = { subgraph: subgraphMain };
for (const attack of attacks) {
  let result: unknown;
  if (attack === 'badids') result = [await badIds('off'), await badIds('default')];
  else if (attack === 'outputs') result = await outputs();
  else if (attack === 'documents') result = await documents();
  else if (attack === 'slowbody') result = await slowBody();
  else if (attack === 'sigterm') result = await sigterm();
  else throw new Error(`unknown attack ${attack}`);
  results[attack] = result;
  console.log(attack, JSON.stringify(result));
}
mkdirSync(outDir, { recursive: true });
writeFileSync(`${outDir}/attacks.json`, `${JSON.stringify(results, null, 2)}\n`);
