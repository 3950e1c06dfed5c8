import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { startXEmulator, type XEmulator, type XEmulatorOptions } from '../../src/providers/x/emulator.js';
import { telegramClient } from '../../src/providers/telegram/connect.js';
import {
  TelegramEmulator,
  createEmulatedTelegramClient,
  type TelegramEmulatorOptions,
} from '../../src/providers/telegram/emulator.js';
import type { ITelegramStorageProvider } from '@mtcute/node';

/**
 * The real thing for tests: the X emulator on loopback and the subgraph over HTTP in front of it,
 * configured through the same environment variables a user sets. Every log line is kept, so tests
 * can assert that no secret was logged.
 */
export const X_TEST_TOKEN = 'test-bearer-AAAAAAAAAAAAAAAAAAAAAMLheAAAAAAA0%2BuSeid';

export interface Harness {
  app: App;
  url: string;
  x: XEmulator;
  /** The Telegram emulator answering this subgraph's RPCs in-process. */
  telegram: TelegramEmulator;
  logs: string[];
  /** POSTs an operation to /graphql; returns the HTTP status and the parsed body. */
  gql<T = any>(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<GqlResult<T>>;
  /** Requests the X emulator received (all of them: retries and refusals too). */
  xCalls(path?: string): XEmulator['requests'];
  reset(): void;
  close(): Promise<void>;
}

export interface GqlResult<T> {
  status: number;
  body: { data?: T; errors?: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, any> }> };
}

export interface HarnessOptions {
  emulator?: Partial<XEmulatorOptions>;
  telegram?: TelegramEmulatorOptions & {
    /** Act as a bot (may use access_hash 0 for unseen users); default true. */
    isBot?: boolean;
    /** mtcute storage for the session and peer cache; in-memory unless given. */
    storage?: ITelegramStorageProvider;
  };
  env?: Record<string, string>;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const x = await startXEmulator({ bearerToken: X_TEST_TOKEN, ...options.emulator });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    X_BEARER_TOKEN: X_TEST_TOKEN,
    X_API_BASE_URL: x.url,
    UPSTREAM_MAX_RETRY_WAIT_MS: '1500',
    ...options.env,
  });
  const telegram = new TelegramEmulator(options.telegram);
  const telegramRpc = createEmulatedTelegramClient(telegram, { storage: options.telegram?.storage });
  const app = await startApp(config, logger, {
    services: {
      telegram: telegramClient(telegramRpc, {
        isBot: options.telegram?.isBot ?? true,
        limits: config.telegramLimits,
        upstream: config.upstream,
        logger: logger.child({ provider: 'telegram' }),
        close: () => telegramRpc.destroy(),
      }),
    },
  });
  const url = app.url;
  return {
    app,
    url,
    x,
    telegram,
    logs,
    async gql(query, variables, headers = {}) {
      const res = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query, variables }),
      });
      return { status: res.status, body: (await res.json()) as any };
    },
    xCalls(path) {
      return path === undefined ? x.requests : x.requests.filter((r) => r.path === path);
    },
    reset() {
      x.reset();
      telegram.reset();
    },
    async close() {
      await app.close();
      await x.close();
    },
  };
}

/** The ids of one recorded `/2/users` or `/2/tweets` call. */
export function idsOf(request: { query: Record<string, string> }): string[] {
  return (request.query.ids ?? request.query.usernames ?? '').split(',').filter(Boolean);
}

/** `n` distinct demo ids starting at `from`, as strings. */
export function demoIds(n: number, from = 1): string[] {
  return Array.from({ length: n }, (_, i) => String(from + i));
}
