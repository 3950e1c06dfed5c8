import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { escapeGlob } from '../cache/redis-cache.js';

/**
 * Redis for tests. The run's own redis-server (started on a free port by the test run's global setup,
 * `test/support/redis-global-setup.ts`, never one that happens to answer on this machine) is never
 * stopped, flushed or reconfigured by a test: each test writes under a prefix of its own and deletes its
 * keys afterwards. A test that loses Redis on purpose starts its own `redis-server` and kills it when done.
 */
export const SHARED_REDIS_URL = runRedisUrl();

function runRedisUrl(): string {
  const url = process.env.TEST_REDIS_URL;
  // Outside a test run (a module that only imports the helpers below) nothing may reach for it.
  return url ?? 'redis://127.0.0.1:1';
}

/** A key prefix no other test (or run) uses. */
export function uniquePrefix(name: string): string {
  return `test:${name}:${process.pid}:${randomUUID().slice(0, 8)}:`;
}

/** A client of the shared Redis for a test's own reads and clean-up. */
export function sharedRedis(): Redis {
  return new Redis(SHARED_REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: false });
}

/** Every key under `prefix` (a literal), as SCAN finds them. */
export async function keysUnder(client: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}

/** Deletes every key under `prefix`; resolves how many there were. */
export async function deleteKeysUnder(client: Redis, prefix: string): Promise<number> {
  if (prefix.length < 6) throw new Error('refusing to delete under a prefix this short');
  const keys = await keysUnder(client, prefix);
  if (keys.length > 0) await client.unlink(...keys);
  return keys.length;
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
  port: number;
  /** `redis://[:password@]127.0.0.1:<port>`. */
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

export async function startOwnRedis(options: { password?: string; port?: number; command?: string } = {}): Promise<OwnRedis> {
  const port = options.port ?? (await freePort());
  let child: ChildProcess | undefined;
  const launch = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
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
    url: `redis://${auth}127.0.0.1:${port}`,
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
