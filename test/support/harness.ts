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
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNexudusEmulator, type NexudusEmulator, type NexudusEmulatorOptions } from '../../src/providers/nexudus/emulator.js';
import {
  startBitrix24Emulator,
  type Bitrix24Emulator,
  type Bitrix24EmulatorOptions,
} from '../../src/providers/bitrix24/emulator.js';

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
  /** The Bitrix24 portals' emulators, by portal name (`HarnessOptions.bitrix24`). */
  bitrix24: Map<string, Bitrix24Emulator>;
  nexudus: NexudusEmulator;
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
  /** Bitrix24 portals to emulate, configured through BITRIX24_PORTALS_FILE; default one webhook portal "portal-a". */
  bitrix24?: Array<{ name: string; oauth?: boolean; emulator?: Partial<Bitrix24EmulatorOptions> }>;
  /** The Nexudus emulator's options; `auth: 'token'` configures NEXUDUS_TOKEN instead of the password grant. */
  nexudus?: Partial<NexudusEmulatorOptions> & { auth?: 'password' | 'token' };
  env?: Record<string, string>;
}

export const NEXUDUS_LOGIN = { username: 'ops@coworking.example', password: 'Pa55-w0rd!nexudus' };
export const NEXUDUS_STATIC_TOKEN = 'nx-static-t0ken-123';

export const BITRIX_TEST_SECRET = 'wh5ecr3tAbCdEf0123';
export const BITRIX_OAUTH = { clientId: 'app.test.1', clientSecret: 'cl1ent-s3cret-XYZ', accessToken: 'acc-t0ken-1', refreshToken: 'ref-t0ken-1' };

async function startBitrixPortals(specs: NonNullable<HarnessOptions['bitrix24']>) {
  const emulators = new Map<string, Bitrix24Emulator>();
  const portals = [];
  for (const spec of specs) {
    const emulator = await startBitrix24Emulator(
      spec.oauth ? { oauth: { ...BITRIX_OAUTH }, ...spec.emulator } : { webhook: { userId: 1, secret: BITRIX_TEST_SECRET }, ...spec.emulator },
    );
    emulators.set(spec.name, emulator);
    portals.push(
      spec.oauth
        ? { name: spec.name, portalUrl: emulator.url, ...BITRIX_OAUTH }
        : { name: spec.name, webhookUrl: emulator.webhookUrl },
    );
  }
  const file = join(mkdtempSync(join(tmpdir(), 'bitrix-portals-')), 'portals.json');
  writeFileSync(file, JSON.stringify({ portals }));
  const oauthSpec = specs.find((spec) => spec.oauth);
  return { emulators, file, oauthServer: oauthSpec && emulators.get(oauthSpec.name)!.url };
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const x = await startXEmulator({ bearerToken: X_TEST_TOKEN, ...options.emulator });
  const bitrix = await startBitrixPortals(options.bitrix24 ?? [{ name: 'portal-a' }]);
  const nexudus = await startNexudusEmulator({ ...NEXUDUS_LOGIN, staticToken: NEXUDUS_STATIC_TOKEN, ...options.nexudus });
  const nexudusAuth =
    options.nexudus?.auth === 'token'
      ? { NEXUDUS_TOKEN: NEXUDUS_STATIC_TOKEN }
      : { NEXUDUS_USERNAME: NEXUDUS_LOGIN.username, NEXUDUS_PASSWORD: NEXUDUS_LOGIN.password };
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
    BITRIX24_PORTALS_FILE: bitrix.file,
    NEXUDUS_BASE_URL: nexudus.url,
    ...nexudusAuth,
    // The emulator of an OAuth portal also plays Bitrix24's OAuth server.
    ...(bitrix.oauthServer === undefined ? {} : { BITRIX24_OAUTH_URL: bitrix.oauthServer }),
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
    bitrix24: bitrix.emulators,
    nexudus,
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
      for (const emulator of bitrix.emulators.values()) emulator.reset();
      nexudus.reset();
    },
    async close() {
      await app.close();
      await Promise.all([x.close(), nexudus.close(), ...[...bitrix.emulators.values()].map((e) => e.close())]);
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
