/**
 * The benchmark (docs/benchmarks.md, "Benchmarks"): what one operation costs the subgraph, in CPU and in latency,
 * against what the same work costs the upstream itself, scenario by scenario.
 *
 * Three processes: the upstream emulators (bench/upstreams.ts), the subgraph (built, run as `npm start`
 * runs it; the mixed scenario's with Telegram's in-process emulator), and this one, the load generator.
 * For each scenario:
 *   1. one probe operation, its answer checked, while the upstream process records the requests it
 *      receives: the upstream work of one operation;
 *   2. the raw phase: the same clients replay those requests straight at the emulators (each operation's
 *      requests at once, as the subgraph sends them): the upstream's own latency for the same work;
 *   3. the subgraph phase: the clients send the operation back to back, each with ids of its own (no two
 *      operations in flight share an upstream call; on the cold path every operation goes upstream);
 *   4. latency at one fixed rate, half the subgraph's throughput, for the subgraph and for the raw
 *      requests alike (open loop, each operation timed from when it was due): at saturation each would
 *      only show the length of its own queue.
 * CPU is read from /proc (every thread's schedstat: nanoseconds) for the subgraph and for the upstream
 * process over phase 3, and divided by the operations answered in it; upstream calls per
 * operation come from the subgraph's /metrics. Results go to bench/results/latest.json and .svg.
 *
 *   npm run bench                               # every scenario, 10 s per phase
 *   BENCH_SECONDS=20 BENCH_SCENARIOS=x-100-users-15-fields npm run bench
 *   BENCH_EMULATOR=memoized npm run bench       # X's emulator replays cached bodies (cheaper upstream)
 *   BENCH_PROFILE=/tmp/prof npm run bench       # V8 CPU profiles of the subgraph (--cpu-prof)
 *   BENCH_NODE_FLAGS='--max-semi-space-size=8' BENCH_SUBGRAPH_ENV=GRAPHQL_EXECUTOR=graphql-js npm run bench   # compare settings
 *
 * The warm scenario (Zipf, cache on) asks an X emulator that answers after BENCH_WARM_UPSTREAM_LATENCY_MS
 * (50): the others answer at once, so that their figures are the work alone.
 *
 * The peer (bench/peer.ts): Hive Gateway serving a supergraph GraphQL Mesh composed from X's OpenAPI
 * specification, in a process of its own against the same X emulator, runs the 1, 10 and 100 user
 * lookups with 15 fields through the same four steps, with ids from the same generator; after the table,
 * its CPU per operation and RSS against the subgraph's, size by size (also in latest.json's
 * `comparisons`). BENCH_PEER=0 leaves it out.
 *
 * The floor (bench/floor.ts): the least a Node process does for the same answer (node:http, undici, one
 * JSON.parse, one JSON.stringify; no GraphQL), on the same three lookups: what no Node server avoids, and
 * so what the subgraph's own layers cost, as its CPU per operation over the floor's in the same run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Pool } from 'undici';
import { peerDescription, startPeer } from './peer.js';
import { renderPlot } from './plot.js';
import {
  buildSubgraph,
  counterSum,
  cpuMs,
  measuredCommit,
  nodeFlags,
  passThrough,
  root,
  rssMiB,
  type Subgraph,
  startSubgraph,
  stop,
} from './processes.js';
import { type BenchResults, type Comparison, type MissCost, machineInfo, type ScenarioResult } from './results.js';
import { startUpstreams, type Upstreams } from './upstream-process.js';
import { FIELDS_15, openLoop, quantile, sleep } from './workload.js';
import { seeded, zipfIds } from './zipf-workload.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const warmUpSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const clients = Number(process.env.BENCH_CLIENTS ?? 10);
const emulatorMode = process.env.BENCH_EMULATOR === 'memoized' ? 'memoized' : 'honest';
const only = process.env.BENCH_SCENARIOS?.split(',');
const withPeer = process.env.BENCH_PEER !== '0';
const outDir = process.env.BENCH_OUT ?? `${root}bench/results`;

// ——— Scenarios ———————————————————————————————————————————————————————————————————————————————

/**
 * Which subgraph process a scenario runs against: X alone with its record cache off (`x-cold`) or as
 * shipped (`x-cold-cached`: every operation's ids are new to it, so each one is a miss that is stored),
 * all four providers with the caches off, or X as shipped with a Zipf workload (`x-warm`); or the peer
 * (`peer`: Hive Gateway + GraphQL Mesh over X's OpenAPI specification, bench/peer.ts); or the floor
 * (`floor`: the least a Node process does for the same answer, bench/floor.ts).
 */
type Deployment = 'x-cold' | 'x-cold-cached' | 'all-cold' | 'x-warm' | 'peer' | 'floor';

type Answer = { data?: Record<string, unknown>; errors?: unknown };

interface Scenario {
  name: string;
  label: string;
  deployment: Deployment;
  /** The GraphQL request of client `client`'s `n`th operation. */
  body(client: number, n: number): string;
  /** Whether an answer is whole (no errors, every item there); `request` is the body that asked for it. */
  complete(answer: Answer, request: string): boolean;
  /** Whether an answer's text, unparsed (the open loop), holds no error; by default, no `"errors"` in it at all. */
  unparsedOk?(text: string): boolean;
  /** For the peer's and the floor's scenarios: the size they measure and the subgraph's scenario (cache off) doing the same work. */
  compare?: { size: string; subgraph: string };
  /** An operation every `intervalMs` per client instead of back to back (an upstream's own rate limit); no open-loop phase then. */
  intervalMs?: number;
  clients?: number;
  /** Distinct id sets (clients) the open-loop phase may use: the demo knows users 1-10000. */
  spread?: number;
}

const FIELDS_3 = 'id name username';
const FIELDS_8 = 'id name username createdAt description location profileImageUrl verified';

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => String(from + i));
const gql = (query: string, variables: Record<string, unknown>) => JSON.stringify({ query, variables });
const allThere =
  (count: number, ...fields: string[]) =>
  (answer: Answer) =>
    answer.errors === undefined &&
    fields.every((field) => {
      const items = answer.data?.[field];
      return Array.isArray(items) && items.length === count;
    });

/**
 * Ids no operation asked before: the cold path, with the cache on or off, never meets an id twice
 * (the benchmark's X emulator knows every id up to 10^15), so concurrent operations share no call
 * and, cache on, every operation is a miss whose records are stored.
 */
let nextFreshId = 1_000_000;
const freshIds = (count: number) => {
  const from = nextFreshId;
  nextFreshId += count;
  return range(from, count);
};

/** A cold scenario, once with the cache off and once as shipped. */
function cold(scenario: Omit<Scenario, 'deployment'>): Scenario[] {
  return [
    { ...scenario, label: `${scenario.label} · cache off`, deployment: 'x-cold' },
    { ...scenario, name: `${scenario.name}-cached`, label: `${scenario.label} · cache on`, deployment: 'x-cold-cached' },
  ];
}

function xUsers(users: number, fields: string, label: string): Scenario[] {
  const name = `x-${users}-users-${fields === FIELDS_3 ? 3 : 15}-fields`;
  const subgraph = cold({
    name,
    label,
    body: () => gql(`query Bench($ids: [ID!]!) { xUsers(ids: $ids) { ${fields} } }`, { ids: freshIds(users) }),
    complete: allThere(users, 'xUsers'),
  });
  // The peer and the floor beside the subgraph, on the same work: the 15-field lookups.
  return fields === FIELDS_15 ? [...subgraph, peerUsers(users, name), floorUsers(users, name)] : subgraph;
}

/**
 * The peer's field for `GET /2/users` (Mesh names it after the operationId, getUsersByIds), asking X for
 * the `user.fields` the subgraph asks for its 15 fields (FIELDS_15: created_at, description, location,
 * profile_image_url, protected, public_metrics, url, verified, verified_type; id, name and username always
 * come) and selecting them all: the subgraph's displayName, avatarUrl and profileUrl are its names for
 * name, profile_image_url and a URL made of username. X's own `errors` (ids it did not find) are
 * selected too, so that an answer missing users says so.
 */
const PEER_QUERY = `query Peer($ids: [UserId]!) {
  getUsersByIds(ids: $ids, user_fields: [created_at, description, location, profile_image_url, protected, public_metrics, url, verified, verified_type]) {
    __typename
    ... on Get2UsersResponse {
      data { id name username created_at description location url profile_image_url protected verified verified_type public_metrics { followers_count } }
      errors { title detail }
    }
  }
}`;

type PeerUsers = { __typename?: string; data?: Array<{ id?: unknown; name?: unknown } | null> | null; errors?: unknown[] | null };

/** The peer's answer is whole: no GraphQL errors, no X errors, and every id asked answered by a user, once. */
const peerWhole = (count: number) => (answer: Answer, request: string) => {
  const users = answer.data?.getUsersByIds as PeerUsers | null | undefined;
  if (answer.errors !== undefined || users?.__typename !== 'Get2UsersResponse' || (users.errors ?? []).length > 0) return false;
  const asked = new Set((JSON.parse(request) as { variables: { ids: string[] } }).variables.ids);
  const data = users.data ?? [];
  return (
    data.length === count &&
    asked.size === count &&
    data.every((user) => user !== null && typeof user.id === 'string' && typeof user.name === 'string' && asked.delete(user.id))
  );
};

function peerUsers(users: number, subgraph: string): Scenario {
  const size = `${users} ${users === 1 ? 'user' : 'users'} · 15 fields`;
  return {
    name: `peer-${users}-users-15-fields`,
    label: `peer: Hive Gateway + Mesh · ${size}`,
    deployment: 'peer',
    body: () => gql(PEER_QUERY, { ids: freshIds(users) }),
    complete: peerWhole(users),
    // `"errors":null` is the peer's answer when X found every id: only a list of errors is a failure.
    unparsedOk: (text) => !text.includes('"errors":['),
    compare: { size, subgraph },
  };
}

/** The floor (bench/floor.ts) reads the subgraph's own request, and answers as the subgraph does. */
function floorUsers(users: number, subgraph: string): Scenario {
  const size = `${users} ${users === 1 ? 'user' : 'users'} · 15 fields`;
  return {
    name: `floor-${users}-users-15-fields`,
    label: `floor: node:http + undici + JSON · ${size}`,
    deployment: 'floor',
    body: () => gql(`query Bench($ids: [ID!]!) { xUsers(ids: $ids) { ${FIELDS_15} } }`, { ids: freshIds(users) }),
    complete: allThere(users, 'xUsers'),
    compare: { size, subgraph },
  };
}

const MIXED = `query Mixed($x: [ID!]!, $t: [ID!]!, $b: [ID!]!, $n: [ID!]!) {
  xUsers(ids: $x) { id name username profileImageUrl }
  telegramUsers(ids: $t) { id displayName username }
  bitrix24Users(ids: $b) { id displayName avatarUrl }
  nexudusUsers(ids: $n) { id displayName fullName active }
}`;

const scenarios: Scenario[] = [
  ...xUsers(1, FIELDS_3, 'xUsers · 1 user · 3 fields'),
  ...xUsers(1, FIELDS_15, 'xUsers · 1 user · 15 fields'),
  ...xUsers(10, FIELDS_3, 'xUsers · 10 users · 3 fields'),
  ...xUsers(10, FIELDS_15, 'xUsers · 10 users · 15 fields'),
  ...xUsers(100, FIELDS_3, 'xUsers · 100 users · 3 fields'),
  ...xUsers(100, FIELDS_15, 'xUsers · 100 users · 15 fields'),
  ...cold({
    name: 'x-entities-150',
    label: '_entities · 150 XUser · 8 fields',
    body: () =>
      gql(`query Entities($r: [_Any!]!) { _entities(representations: $r) { ... on XUser { ${FIELDS_8} } } }`, {
        r: freshIds(150).map((id) => ({ __typename: 'XUser', id })),
      }),
    complete: allThere(150, '_entities'),
  }),
  {
    name: 'mixed-4-providers',
    label: 'mixed · 4 providers × 25 users',
    deployment: 'all-cold',
    body: (client, n) => {
      // Nexudus allows 120 calls a minute: ids move on each time, so the paced loop below stays cold.
      const from = ((client * 1_000 + n * 25) % 9_000) + 1;
      return gql(MIXED, { x: range(from, 25), t: range(from, 25), b: range(from, 25), n: range(from, 25) });
    },
    complete: allThere(25, 'xUsers', 'telegramUsers', 'bitrix24Users', 'nexudusUsers'),
    // Nexudus's 120 calls a minute (and Bitrix24's 2 a second) pace this one: one client, one operation per 600 ms.
    clients: 1,
    intervalMs: 600,
  },
  {
    name: 'zipf-warm',
    label: 'Zipf · 1–10 X users · 3 fields · upstream 50 ms away',
    deployment: 'x-warm',
    body: (client, n) => gql(`query Zipf($ids: [ID!]!) { xUsers(ids: $ids) { ${FIELDS_3} } }`, { ids: zipfIds(randomOf(client, n)) }),
    complete: (answer) => answer.errors === undefined && Array.isArray(answer.data?.xUsers),
    spread: 100,
  },
];

/** Each client its own deterministic Zipf stream; `n` only tells a stream's start. */
const streams = new Map<number, () => number>();
function randomOf(client: number, n: number): () => number {
  if (n === 0 || !streams.has(client)) streams.set(client, seeded(20261123 + client));
  return streams.get(client)!;
}

// ——— Processes ——————————————————————————————————————————————————————————————————————————————

/** The subgraph a deployment runs: the built one as `npm start` runs it, or with Telegram's emulator in its process. */
function startDeployment(deployment: Deployment, upstreamEnv: Record<string, string>): Promise<Subgraph> {
  if (deployment === 'peer') return startPeer(upstreamEnv);
  if (deployment === 'floor') {
    const x = { X_API_BASE_URL: upstreamEnv.X_API_BASE_URL!, X_BEARER_TOKEN: upstreamEnv.X_BEARER_TOKEN! };
    return startSubgraph(x, { args: [...nodeFlags(), '--import', 'tsx'], script: 'bench/floor.ts' });
  }
  const x = { X_API_BASE_URL: upstreamEnv.X_API_BASE_URL!, X_BEARER_TOKEN: upstreamEnv.X_BEARER_TOKEN!, ...passThrough() };
  // The cold path: caches off, and no coalescing window (operations arriving within 2 ms of each other would
  // share calls: a saving, but one that hides the cost of an operation that goes upstream on its own).
  const cold = { COALESCE_WINDOW_MS: '0' };
  // BENCH_PROFILE=dir writes a V8 CPU profile of each subgraph process there (open it in Chrome DevTools).
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const args = [...profile, ...nodeFlags()];
  if (deployment === 'all-cold') {
    const off = { X_CACHE: '0', TELEGRAM_CACHE: '0', BITRIX24_CACHE: '0', NEXUDUS_CACHE: '0' };
    return startSubgraph(
      { ...upstreamEnv, ...passThrough(), ...cold, ...off },
      { args: [...args, '--import', 'tsx'], script: 'bench/subgraph-with-telegram.ts' },
    );
  }
  if (deployment === 'x-cold') return startSubgraph({ ...x, ...cold, X_CACHE: '0' }, { args });
  // The record cache as shipped (on, CACHE_MAX_BYTES's default): what storing every miss costs.
  if (deployment === 'x-cold-cached') return startSubgraph({ ...x, ...cold }, { args });
  return startSubgraph({ ...x, X_API_BASE_URL: upstreamEnv.X_FAR_API_BASE_URL! }, { args });
}

// ——— Load ————————————————————————————————————————————————————————————————————————————————————

interface Load {
  /** Operations answered in the measured window. */
  operations: number;
  /** Operations sent, warm-up included. */
  sent: number;
  p50: number;
  p99: number;
  errors: number;
}

/**
 * Closed-loop clients (or paced ones, every `intervalMs`): a warm-up (JIT, connections, document
 * cache), then `seconds` measured. `measure` brackets the measured window (CPU readings).
 */
async function load(
  clientCount: number,
  operation: (client: number, n: number) => Promise<boolean>,
  measure: { start(): void; end(): void },
  intervalMs?: number,
): Promise<Load> {
  const latencies: number[] = [];
  let errors = 0;
  let sent = 0;
  const warmUntil = performance.now() + warmUpSeconds * 1000;
  const until = warmUntil + seconds * 1000;
  let measuring = false;
  const started = setTimeout(() => {
    measuring = true;
    measure.start();
  }, warmUpSeconds * 1000);
  await Promise.all(
    Array.from({ length: clientCount }, async (_, client) => {
      for (let n = 0; ; n++) {
        const begin = performance.now();
        if (begin >= until) return;
        sent++;
        const ok = await operation(client, n);
        const end = performance.now();
        if (measuring && begin >= warmUntil) {
          latencies.push(end - begin);
          if (!ok) errors++;
        }
        if (intervalMs !== undefined) await sleep(Math.max(0, begin + intervalMs - performance.now()));
      }
    }),
  );
  clearTimeout(started);
  measure.end();
  latencies.sort((a, b) => a - b);
  return { operations: latencies.length, sent, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), errors };
}

/** The CPU two processes spent between `start()` and `end()`. */
function cpuMeter(pids: number[]) {
  let before: number[] = [];
  const spent: number[] = [];
  return {
    start: () => {
      before = pids.map(cpuMs);
    },
    end: () => {
      pids.forEach((pid, i) => {
        spent[i] = cpuMs(pid) - before[i]!;
      });
    },
    spent,
  };
}

/**
 * The open loop (`bench/workload.ts`) at `rate`: operation `i` goes as client `i % spread`, enough id sets
 * that operations in flight together rarely share a call.
 */
async function openLoopLoad(rate: number, spread: number, operation: (client: number, n: number) => Promise<boolean>): Promise<Load> {
  const { timed, sent } = await openLoop(rate, seconds, (i) => operation(i % spread, Math.floor(i / spread)));
  const latencies = timed.map((t) => t.end - t.due).sort((a, b) => a - b);
  const errors = timed.filter((t) => !t.ok).length;
  return { operations: latencies.length, sent, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), errors };
}

// ——— One scenario —————————————————————————————————————————————————————————————————————————————

async function run(scenario: Scenario, subgraph: Subgraph, upstreams: Upstreams): Promise<ScenarioResult> {
  const clientCount = scenario.clients ?? clients;
  // Connections enough for the open loop's operations in flight (the closed loop opens one per client).
  const graphPool = new Pool(subgraph.origin, { connections: 64, pipelining: 1 });
  const target = scenario.deployment === 'peer' || scenario.deployment === 'floor' ? scenario.deployment : 'subgraph';
  // Neither the peer nor the floor counts its upstream calls: their probe's requests are their calls per operation.
  const uncounted = target !== 'subgraph';
  const send = async (client: number, n: number) => {
    const request = scenario.body(client, n);
    const res = await graphPool.request({
      method: 'POST',
      path: subgraph.path,
      headers: { 'content-type': 'application/json' },
      body: request,
    });
    return { status: res.statusCode, text: await res.body.text(), request };
  };
  const whole = (answer: { status: number; text: string; request: string }) =>
    answer.status === 200 && scenario.complete(JSON.parse(answer.text), answer.request);
  const ask = async (client: number, n: number) => whole(await send(client, n));
  // The open loop only checks that none failed: parsing there would add this process's own garbage
  // collection pauses to the latencies it takes. The probe and the closed loop check whole answers.
  const unparsedOk = scenario.unparsedOk ?? ((text: string) => !text.includes('"errors"'));
  const askUnparsed = async (client: number, n: number) => {
    const { status, text } = await send(client, n);
    return status === 200 && unparsedOk(text);
  };

  // 1. The probe: a whole answer, and the upstream requests one operation makes.
  let probe = { status: 0, text: '', request: '' };
  const captured = await upstreams.capture(async () => {
    probe = await send(clientCount - 1, 0);
  });
  if (!whole(probe)) throw new Error(`${scenario.name}: the probe operation failed: ${probe.text.slice(0, 600)}`);

  // 2. The raw phase: the same upstream requests, straight at the emulators, the clients back to back.
  const pools = new Map<string, Pool>();
  for (const request of captured) {
    const { origin } = new URL(request.url);
    // Connections enough for the open loop's operations in flight.
    if (!pools.has(origin)) pools.set(origin, new Pool(origin, { connections: 64, pipelining: 1 }));
  }
  const replay = async () => {
    const statuses = await Promise.all(
      captured.map(async (request) => {
        const url = new URL(request.url);
        const res = await pools.get(url.origin)!.request({
          method: request.method as 'GET',
          path: url.pathname + url.search,
          headers: request.headers,
          ...(request.body === '' ? {} : { body: request.body }),
        });
        await res.body.text();
        return res.statusCode;
      }),
    );
    return statuses.every((status) => status === 200);
  };
  const hasRaw = captured.length > 0;
  const none = { start() {}, end() {} };
  const raw = hasRaw ? await load(clientCount, replay, none, scenario.intervalMs) : undefined;
  if (raw !== undefined && raw.errors > 0) throw new Error(`${scenario.name}: ${raw.errors} raw upstream replays failed`);

  // 3. The subgraph phase, the clients back to back: CPU per operation and throughput. The peer has no
  // counter of its upstream calls: its probe's requests are its calls per operation.
  const calls = () => (uncounted ? Promise.resolve(0) : counterSum(subgraph.origin, 'users_subgraph_upstream_requests_total'));
  const callsBefore = await calls();
  const cpu = cpuMeter([subgraph.child.pid!, upstreams.child.pid!]);
  const result = await load(clientCount, ask, cpu, scenario.intervalMs);
  const callsAfter = await calls();

  // 4. Latency at one fixed rate for both, half the subgraph's throughput: a comparison of latencies
  // at saturation would compare queues (each process at its own maximum), not the work of an operation.
  let atRate: { rate: number; subgraph: Load; upstream: Load | undefined } | undefined;
  if (scenario.intervalMs === undefined) {
    const rate = Math.max(1, Math.round(result.operations / seconds / 2));
    const spread = scenario.spread ?? clientCount;
    const upstream = hasRaw ? await openLoopLoad(rate, spread, replay) : undefined;
    atRate = { rate, subgraph: await openLoopLoad(rate, spread, askUnparsed), upstream };
  }
  await graphPool.close();
  await Promise.all([...pools.values()].map((pool) => pool.close()));

  const latency = atRate?.subgraph ?? result;
  return {
    name: scenario.name,
    label: scenario.label,
    path: scenario.deployment === 'x-warm' ? 'warm' : 'cold',
    target,
    ...(uncounted ? {} : { cache: scenario.deployment === 'x-cold' || scenario.deployment === 'all-cold' ? 'off' : 'on' }),
    operations: result.operations,
    operationsPerSecond: result.operations / seconds,
    p50Ms: latency.p50,
    p99Ms: latency.p99,
    rateOpsPerSecond: atRate?.rate ?? null,
    saturation: { p50Ms: result.p50, p99Ms: result.p99, upstreamP99Ms: raw?.p99 ?? null },
    errors: result.errors + (atRate?.subgraph.errors ?? 0),
    subgraphCpuMsPerOp: cpu.spent[0]! / result.operations,
    upstreamCpuMsPerOp: cpu.spent[1]! / result.operations,
    upstreamP99Ms: (atRate === undefined ? raw?.p99 : atRate.upstream?.p99) ?? null,
    upstreamOperationsPerSecond: raw === undefined ? null : raw.operations / seconds,
    // Warm-up operations made calls too: per operation sent.
    upstreamCallsPerOp: uncounted ? captured.length : (callsAfter - callsBefore) / result.sent,
    rssMiB: rssMiB(subgraph.child.pid!),
  };
}

// ——— Report ————————————————————————————————————————————————————————————————————————————————————

function table(results: ScenarioResult[]): string {
  const f = (value: number | null, digits: number) => (value === null || Number.isNaN(value) ? 'n/a' : value.toFixed(digits));
  const rows = results.map(
    (r) =>
      `| ${r.label}${r.path === 'warm' ? ' (cache on)' : ''} | ${f(r.operationsPerSecond, 0)} | ${f(r.upstreamOperationsPerSecond, 0)} | ${f(r.subgraphCpuMsPerOp, 3)} | ${f(r.upstreamCpuMsPerOp, 3)} | ${f(r.rateOpsPerSecond ?? null, 0)} | ${f(r.p50Ms, 1)} / ${f(r.p99Ms, 1)} | ${f(r.upstreamP99Ms, 1)} | ${f(r.saturation?.p99Ms ?? null, 1)} / ${f(r.saturation?.upstreamP99Ms ?? null, 1)} | ${f(r.upstreamCallsPerOp, 3)} | ${f(r.rssMiB, 0)} | ${r.errors} |`,
  );
  return [
    '| scenario | ops/s | upstream ops/s | subgraph (or peer) CPU ms/op | upstream CPU ms/op | at ops/s | p50 / p99 ms | upstream p99 ms | saturated p99 / upstream ms | calls/op | RSS MiB | errors |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

/**
 * The subgraph against the peer, per size measured for both: each process's CPU per operation over the
 * upstream's own in the same phase, the peer's over the subgraph's, and their RSS. The subgraph as
 * shipped (cache on) when it ran, else with the cache off.
 */
function comparisonsOf(results: ScenarioResult[]): Comparison[] {
  const byName = new Map(results.map((r) => [r.name, r]));
  return scenarios.flatMap((scenario) => {
    const peer = byName.get(scenario.name);
    if (scenario.deployment !== 'peer' || scenario.compare === undefined || peer === undefined) return [];
    // The floor that did the same work as the subgraph's scenario the peer is compared with.
    const floorScenario = scenarios.find((other) => other.deployment === 'floor' && other.compare?.subgraph === scenario.compare!.subgraph);
    const floor = floorScenario && byName.get(floorScenario.name);
    const subgraph = byName.get(`${scenario.compare.subgraph}-cached`) ?? byName.get(scenario.compare.subgraph);
    if (subgraph === undefined) return [];
    return [
      {
        size: scenario.compare.size,
        subgraph: subgraph.name,
        peer: peer.name,
        subgraphCache: subgraph.cache ?? 'on',
        subgraphOverUpstream: subgraph.subgraphCpuMsPerOp / (subgraph.upstreamCpuMsPerOp ?? Number.NaN),
        peerOverUpstream: peer.subgraphCpuMsPerOp / (peer.upstreamCpuMsPerOp ?? Number.NaN),
        peerOverSubgraph: peer.subgraphCpuMsPerOp / subgraph.subgraphCpuMsPerOp,
        subgraphRssMiB: subgraph.rssMiB,
        peerRssMiB: peer.rssMiB,
        ...(floor === undefined
          ? {}
          : {
              floorOverUpstream: floor.subgraphCpuMsPerOp / (floor.upstreamCpuMsPerOp ?? Number.NaN),
              subgraphOverFloor: subgraph.subgraphCpuMsPerOp / floor.subgraphCpuMsPerOp,
              floorRssMiB: floor.rssMiB,
            }),
      },
    ];
  });
}

/** Issue 17: a miss costs at most this much CPU with the cache on as with it off. */
const MISS_COST_GOAL = 1.1;

/** Each cold scenario measured with the cache off and on in this run: what storing its misses cost. */
function missCostsOf(results: ScenarioResult[]): MissCost[] {
  const byName = new Map(results.map((r) => [r.name, r]));
  return results.flatMap((on) => {
    const off = on.cache === 'on' && on.name.endsWith('-cached') ? byName.get(on.name.slice(0, -'-cached'.length)) : undefined;
    if (off === undefined) return [];
    return [
      {
        off: off.name,
        on: on.name,
        cpuOnOverOff: on.subgraphCpuMsPerOp / off.subgraphCpuMsPerOp,
        rssOffMiB: off.rssMiB,
        rssOnMiB: on.rssMiB,
      },
    ];
  });
}

function missCostLine(c: MissCost): string {
  const met = c.cpuOnOverOff <= MISS_COST_GOAL ? 'met' : 'not met';
  return `${c.on}: CPU/op cache on ÷ off = ${c.cpuOnOverOff.toFixed(2)} (goal ≤ ${MISS_COST_GOAL}: ${met}); RSS ${c.rssOffMiB.toFixed(0)} → ${c.rssOnMiB.toFixed(0)} MiB`;
}

function comparisonLine(c: Comparison): string {
  const x = (value: number) => (Number.isFinite(value) ? `${value.toFixed(1)}×` : 'n/a');
  return (
    `${c.size}: subgraph (cache ${c.subgraphCache}) CPU/op ÷ upstream = ${x(c.subgraphOverUpstream)}, peer ÷ upstream = ${x(c.peerOverUpstream)},` +
    ` peer ÷ subgraph = ${x(c.peerOverSubgraph)}; RSS subgraph ${c.subgraphRssMiB.toFixed(0)} MiB, peer ${c.peerRssMiB.toFixed(0)} MiB` +
    (c.floorOverUpstream === undefined
      ? ''
      : `; floor ÷ upstream = ${x(c.floorOverUpstream)}, subgraph ÷ floor = ${x(c.subgraphOverFloor!)}, RSS floor ${c.floorRssMiB!.toFixed(0)} MiB`)
  );
}

async function main(): Promise<void> {
  buildSubgraph();
  const chosen = scenarios.filter((s) => (only === undefined || only.includes(s.name)) && (withPeer || s.deployment !== 'peer'));
  const upstreams = await startUpstreams(emulatorMode);
  const results: ScenarioResult[] = [];
  try {
    // The two cold deployments run side by side, alternating: each scenario with the cache on right after
    // the same scenario with it off, so a machine that gets busier between them does not pass for the cache.
    for (const group of [['x-cold', 'x-cold-cached'], ['all-cold'], ['x-warm'], ['peer'], ['floor']] as const) {
      const own = chosen.filter((s) => (group as readonly Deployment[]).includes(s.deployment));
      const started = new Map<Deployment, Subgraph>();
      try {
        for (const scenario of own) {
          let subgraph = started.get(scenario.deployment);
          if (subgraph === undefined) {
            subgraph = await startDeployment(scenario.deployment, upstreams.env);
            started.set(scenario.deployment, subgraph);
          }
          const result = await run(scenario, subgraph, upstreams);
          results.push(result);
          console.log(table([result]).split('\n')[2]);
        }
      } finally {
        for (const subgraph of started.values()) await stop(subgraph.child);
      }
    }
  } finally {
    upstreams.child.disconnect();
    await stop(upstreams.child);
  }

  // Each scenario's run with the cache on right after its run with it off, in the order they are declared.
  const order = (name: string) => scenarios.findIndex((scenario) => scenario.name === name);
  results.sort((a, b) => order(a.name) - order(b.name));
  const commit = measuredCommit();
  const measuredPeer = results.some((r) => r.target === 'peer');
  const comparisons = comparisonsOf(results);
  const missCosts = missCostsOf(results);
  const report: BenchResults = {
    version: 1,
    date: new Date().toISOString(),
    commit,
    machine: machineInfo(),
    settings: {
      seconds,
      clients,
      loadGenerator: 'node (undici, closed loop)',
      emulatorMode,
      ...(measuredPeer ? { peer: peerDescription() } : {}),
    },
    scenarios: results,
    ...(comparisons.length > 0 ? { comparisons } : {}),
    ...(missCosts.length > 0 ? { missCosts } : {}),
    goals: { cpuMsPerHundredUserOp: 0.7, p99OverUpstream: 2, rssMiB: 140, missCpuOnOverOff: MISS_COST_GOAL },
  };
  mkdirSync(outDir, { recursive: true });
  writeFileSync(`${outDir}/latest.json`, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(`${outDir}/latest.svg`, renderPlot(report));
  const m = report.machine;
  console.log(
    `\n${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}; ${clients} clients, ${seconds} s per phase, emulator ${emulatorMode}\n`,
  );
  console.log(table(results));
  if (measuredPeer) console.log(`\npeer: ${report.settings.peer}`);
  for (const comparison of comparisons) console.log(comparisonLine(comparison));
  if (missCosts.length > 0) console.log('');
  for (const cost of missCosts) console.log(missCostLine(cost));
  console.log(`\nwritten: ${outDir}/latest.json, ${outDir}/latest.svg`);
}

await main();
