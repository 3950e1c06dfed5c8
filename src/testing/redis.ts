import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import calculateSlot from 'cluster-key-slot';
import { Cluster, type Redis } from 'ioredis';
import { escapeGlob } from '../cache/redis-cache.js';
import type { RedisAddress, RedisTopology } from '../core/settings.js';
import { clientFor } from '../redis/link.js';
import { redisTlsArgs, type TlsFiles } from './redis-tls.js';

/**
 * Redis for tests. The run's own Redis (started by the test run's global setup, never one that happens to
 * answer on this machine) is never stopped, flushed or reconfigured by a test: each test writes under a prefix
 * of its own and deletes its keys afterwards. A test that loses Redis on purpose starts its own `redis-server`
 * and kills it when done.
 *
 * The tests that share state between replicas (the sharing suite) run on `SHARED_REDIS_TOPOLOGY`: the run's one
 * redis-server (`test/support/redis-global-setup.ts`), or, in the vitest projects `sharing on Cluster` and
 * `sharing on Sentinel` (vitest.config.ts), a Cluster or a Sentinel set that project started. They reach it only
 * through the helpers below, whatever it is.
 */

/**
 * The run's one redis-server (`TEST_REDIS_URL`): for a test that needs one node whatever the topology of the
 * run (the sharing suite uses `SHARED_REDIS_TOPOLOGY`).
 */
export const SHARED_REDIS_URL = runRedisUrl();

function runRedisUrl(): string {
  const url = process.env.TEST_REDIS_URL;
  // Outside a test run (a module that only imports the helpers below) nothing may reach for it.
  return url ?? 'redis://127.0.0.1:1';
}

/**
 * The Redis the sharing suite runs on: TEST_REDIS_TOPOLOGY (JSON of a `RedisTopology`), set in the workers of
 * the Cluster and Sentinel projects by `test/support/redis-topology-setup.ts`; else the run's one
 * redis-server. For `new RedisLink({ topology: SHARED_REDIS_TOPOLOGY, … })`.
 */
export const SHARED_REDIS_TOPOLOGY: RedisTopology = runRedisTopology();

function runRedisTopology(): RedisTopology {
  const json = process.env.TEST_REDIS_TOPOLOGY;
  if (json === undefined || json === '') return { kind: 'node', url: SHARED_REDIS_URL };
  const topology = JSON.parse(json) as RedisTopology;
  if (!['node', 'cluster', 'sentinel'].includes(topology?.kind))
    throw new Error(`TEST_REDIS_TOPOLOGY is no Redis topology (kind node, cluster or sentinel): ${json}`);
  return topology;
}

/**
 * The environment a subgraph process (or a harness) needs to use `topology` (by default the shared one), as a
 * user would set it (docs/configuration.md): REDIS_URL; or REDIS_CLUSTER_NODES; or REDIS_SENTINELS and
 * REDIS_SENTINEL_NAME; with REDIS_USERNAME, REDIS_PASSWORD, REDIS_SENTINEL_PASSWORD and REDIS_TLS when set.
 */
export function sharedRedisEnvironment(topology: RedisTopology = SHARED_REDIS_TOPOLOGY): Record<string, string> {
  if (topology.kind === 'node') return { REDIS_URL: topology.url };
  const list = (addresses: readonly RedisAddress[]) =>
    addresses.map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`).join(',');
  return {
    ...(topology.kind === 'cluster'
      ? { REDIS_CLUSTER_NODES: list(topology.nodes) }
      : {
          REDIS_SENTINELS: list(topology.sentinels),
          REDIS_SENTINEL_NAME: topology.name,
          ...(topology.sentinelPassword === undefined ? {} : { REDIS_SENTINEL_PASSWORD: topology.sentinelPassword }),
        }),
    ...(topology.username === undefined ? {} : { REDIS_USERNAME: topology.username }),
    ...(topology.password === undefined ? {} : { REDIS_PASSWORD: topology.password }),
    ...(topology.tls ? { REDIS_TLS: '1' } : {}),
  };
}

/** A key prefix no other test (or run) uses. */
export function uniquePrefix(name: string): string {
  return `test:${name}:${process.pid}:${randomUUID().slice(0, 8)}:`;
}

/**
 * A client of the shared Redis (`SHARED_REDIS_TOPOLOGY`) for a test's own reads and clean-up: of the node, of
 * the master the Sentinels name, or of the Cluster (a command across slots is refused there: use `keysUnder`,
 * `deleteKeysUnder`, one key per command).
 */
export function sharedRedis(topology: RedisTopology = SHARED_REDIS_TOPOLOGY): Redis | Cluster {
  // The link's own client (TLS, passwords, Sentinel), but one that queues commands until it is connected.
  return clientFor(topology, { maxRetriesPerRequest: 1, lazyConnect: false, enableOfflineQueue: true });
}

/** The connections a SCAN must go through to see every key of `client`: each master of a Cluster, once it knows them. */
export async function scannedNodes(client: Redis | Cluster): Promise<Redis[]> {
  if (!(client instanceof Cluster)) return [client];
  // A Cluster client learns its masters on connecting: before it is ready, `nodes('master')` misses some or all.
  if (client.status !== 'ready') await client.ping();
  return client.nodes('master');
}

/** Every key under `prefix` (a literal), as SCAN finds them (on a Cluster, on every master). */
export async function keysUnder(client: Redis | Cluster, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for (const node of await scannedNodes(client)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', 1000);
      cursor = next;
      found.push(...keys);
    } while (cursor !== '0');
  }
  return found;
}

/** Deletes every key under `prefix` (on a Cluster, slot by slot); resolves how many there were. */
export async function deleteKeysUnder(client: Redis | Cluster, prefix: string): Promise<number> {
  if (prefix.length < 6) throw new Error('refusing to delete under a prefix this short');
  const keys = await keysUnder(client, prefix);
  await Promise.all(bySlot(client, keys).map((group) => client.unlink(...group)));
  return keys.length;
}

/**
 * `GET` of each of `keys`, in their order: one MGET on one node, one per hash slot on a Cluster (an MGET
 * across slots is refused there with CROSSSLOT).
 */
export async function getEach(client: Redis | Cluster, keys: readonly string[]): Promise<Array<string | null>> {
  const groups = bySlot(client, keys);
  const answers = await Promise.all(groups.map((group) => client.mget(...group)));
  const values = new Map(groups.flatMap((group, g) => group.map((key, i) => [key, answers[g]![i] ?? null] as const)));
  return keys.map((key) => values.get(key) ?? null);
}

/** `keys` in groups one command may take: all of them on one node, one group per hash slot on a Cluster. */
function bySlot(client: Redis | Cluster, keys: readonly string[]): string[][] {
  if (keys.length === 0) return [];
  if (!(client instanceof Cluster)) return [[...keys]];
  const groups = new Map<number, string[]>();
  for (const key of keys) {
    const slot = calculateSlot(key);
    const group = groups.get(slot);
    if (group === undefined) groups.set(slot, [key]);
    else group.push(key);
  }
  return [...groups.values()];
}

/** A port nothing listens on now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface OwnRedis {
  /** Its port (with `tls`, its TLS port: it has no plaintext one). */
  port: number;
  /** `redis://[:password@]127.0.0.1:<port>` (`rediss://` with `tls`). */
  url: string;
  /** Whether the server runs now. */
  readonly running: boolean;
  /** SIGKILL: gone at once, connections reset, nothing saved. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>;
  /** SIGSTOP: the process hangs, its connections stay open and unanswered. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Kills it if it runs (afterEach/afterAll). */
  close(): Promise<void>;
}

/** Starts `redis-server` on a free loopback port (or `port`), without persistence; resolves once it accepts connections. */
/** What a run without `redis-server` is told: the prerequisite, named, and the way around it. */
export const MISSING_REDIS_SERVER =
  'redis-server is not installed (or not on PATH): the tests start their own on a free port. Install it ' +
  '(Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis), see docs/contributing.md';

export async function startOwnRedis(
  options: {
    password?: string;
    port?: number;
    command?: string;
    /** TLS only, on `port` (`--port 0 --tls-port <port>`), with these files (src/testing/redis-tls.ts). */
    tls?: TlsFiles;
  } = {},
): Promise<OwnRedis> {
  const port = options.port ?? (await freePort());
  let child: ChildProcess | undefined;
  const launch = async () => {
    const listen = options.tls === undefined ? ['--port', String(port)] : ['--port', '0', ...redisTlsArgs(options.tls, port)];
    const args = [...listen, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    if (options.password !== undefined) args.push('--requirepass', options.password);
    const started = spawn(options.command ?? 'redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const onData = (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('Ready to accept connections')) {
          started.stdout!.off('data', onData);
          resolve();
        }
      };
      started.stdout!.on('data', onData);
      started.once('exit', (code) => reject(new Error(`redis-server on ${port} exited ${code}: ${out}`)));
      // ENOENT: without this the run dies of an unhandled 'error' event that never says what is missing.
      started.once('error', (error: NodeJS.ErrnoException) =>
        reject(new Error(error.code === 'ENOENT' ? MISSING_REDIS_SERVER : `redis-server could not start: ${error.message}`)),
      );
    });
  };
  const kill = async () => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGKILL');
    await exited;
  };
  await launch();
  const auth = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`;
  return {
    port,
    url: `${options.tls === undefined ? 'redis' : 'rediss'}://${auth}127.0.0.1:${port}`,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    kill,
    restart: launch,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    close: async () => {
      child?.kill('SIGCONT');
      await kill();
    },
  };
}
