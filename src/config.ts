import { existsSync, readFileSync } from 'node:fs';
import type { PortalAccess } from './providers/bitrix24/client.js';
import type { RateLimit } from './upstream/leaky-bucket.js';
import type { NexudusCredentials } from './providers/nexudus/token.js';
import { z } from 'zod';

/**
 * Configuration from the environment (contract.md, "Configuration"), validated once at start-up.
 * A bad value stops the process with a message naming the variable, and never repeating its value:
 * some of these variables are secrets.
 */
const flag = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', ''])
  .optional()
  .transform((v) => v === '1' || v === 'true' || v === 'yes');

const int = (min: number, max: number, fallback: number) =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v === '' ? String(fallback) : v))
    .pipe(z.string().regex(/^\d+$/, `must be a whole number from ${min} to ${max}`))
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const httpUrl = (fallback: string) =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v === '' ? fallback : v))
    .pipe(
      z.string().refine((v) => {
        try {
          const url = new URL(v);
          return url.protocol === 'https:' || url.protocol === 'http:';
        } catch {
          return false;
        }
      }, 'must be an http(s) URL'),
    );

const secret = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()))
  .pipe(z.string().regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces').optional());

/** A Bitrix24 incoming webhook URL, and a portal address: the pattern and what to say when it does not match. */
const BITRIX24_WEBHOOK = [/^https?:\/\/[^/\s]+\/rest\/\d+\/[^/\s]+\/?$/, 'must look like https://<portal>/rest/<user id>/<secret>/'] as const;
const BITRIX24_PORTAL = [/^https?:\/\/[^/\s]+\/?$/, 'must be the portal address, e.g. https://acme.bitrix24.com'] as const;

const environment = z.object({
  PORT: int(0, 65535, 4001),
  HOST: z.string().optional().transform((v) => v || '0.0.0.0'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent', ''])
    .optional()
    .transform((v) => v || 'info'),
  DEMO: flag,
  INTROSPECTION: z.enum(['1', '0', 'true', 'false', '']).optional().transform((v) => v !== '0' && v !== 'false'),
  MAX_IDS_PER_OPERATION: int(1, 100_000, 1000),
  MAX_REQUEST_BYTES: int(1024, 64 * 1024 * 1024, 1024 * 1024),
  UPSTREAM_TIMEOUT_MS: int(50, 120_000, 5_000),
  UPSTREAM_MAX_ATTEMPTS: int(1, 10, 3),
  UPSTREAM_MAX_RETRY_WAIT_MS: int(0, 60_000, 2_000),
  UPSTREAM_CONNECTIONS: int(1, 1024, 32),
  X_BEARER_TOKEN: secret,
  X_API_BASE_URL: httpUrl('https://api.x.com'),
  TELEGRAM_API_ID: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()))
    .pipe(z.string().regex(/^[1-9]\d{0,11}$/, 'must be the numeric api_id from my.telegram.org').optional()),
  TELEGRAM_API_HASH: secret.pipe(z.string().regex(/^[0-9a-f]{32}$/i, 'must be the 32-character api_hash from my.telegram.org').optional()),
  TELEGRAM_BOT_TOKEN: secret.pipe(z.string().regex(/^\d+:[A-Za-z0-9_-]{30,}$/, 'must be a bot token from @BotFather (<bot id>:<secret>)').optional()),
  TELEGRAM_SESSION_PATH: z.string().optional().transform((v) => v || 'telegram.session'),
  TELEGRAM_MAX_IDS_PER_CALL: int(1, 200, 100),
  TELEGRAM_FLOOD_WAIT_THRESHOLD_SECONDS: int(0, 600, 5),
  BITRIX24_WEBHOOK_URL: secret.pipe(
    z
      .string()
      .regex(...BITRIX24_WEBHOOK)
      .optional(),
  ),
  BITRIX24_PORTAL_URL: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()))
    .pipe(z.string().regex(...BITRIX24_PORTAL).optional()),
  BITRIX24_ACCESS_TOKEN: secret,
  BITRIX24_REFRESH_TOKEN: secret,
  BITRIX24_CLIENT_ID: secret,
  BITRIX24_CLIENT_SECRET: secret,
  BITRIX24_OAUTH_URL: httpUrl('https://oauth.bitrix.info'),
  BITRIX24_PORTALS_FILE: z.string().optional().transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim())),
  BITRIX24_MAX_IDS_PER_CALL: int(1, 500, 50),
  BITRIX24_RATE_PER_SECOND: int(1, 1000, 2),
  BITRIX24_RATE_BURST: int(1, 10_000, 50),
  NEXUDUS_BASE_URL: httpUrl('https://spaces.nexudus.com'),
  NEXUDUS_TOKEN: secret,
  NEXUDUS_USERNAME: z.string().optional().transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim())),
  NEXUDUS_PASSWORD: z.string().optional().transform((v) => (v === undefined || v === '' ? undefined : v)),
  NEXUDUS_MAX_IDS_PER_CALL: int(1, 500, 100),
  NEXUDUS_FULL_RECORD_CONCURRENCY: int(1, 32, 4),
});

export interface UpstreamSettings {
  timeoutMs: number;
  connections: number;
  retry: { maxAttempts: number; maxTotalWaitMs: number; baseDelayMs: number };
}

export interface Config {
  port: number;
  host: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Run the embedded emulators instead of the real APIs. */
  demo: boolean;
  introspection: boolean;
  maxIdsPerOperation: number;
  maxRequestBytes: number;
  upstream: UpstreamSettings;
  x: { bearerToken: string; baseUrl: string } | undefined;
  telegram: TelegramConfig | undefined;
  telegramLimits: TelegramLimits;
  bitrix24: { portals: Bitrix24PortalConfig[]; maxIdsPerCall: number };
  nexudus: NexudusConfig | undefined;
  nexudusLimits: NexudusLimits;
}

export interface NexudusConfig {
  baseUrl: string;
  credentials: NexudusCredentials;
}

export interface NexudusLimits {
  /** Ids per list call. */
  maxIdsPerCall: number;
  /** Single-record calls in flight at once. */
  fullRecordConcurrency: number;
}

export interface Bitrix24PortalConfig {
  name: string;
  access: PortalAccess;
  rate: RateLimit;
}

export interface TelegramLimits {
  /** Users per `users.getUsers` RPC. */
  maxIdsPerCall: number;
  /** A FLOOD_WAIT of at most this many seconds is waited out; a longer one answers RATE_LIMITED. */
  floodWaitThresholdSeconds: number;
}

export interface TelegramConfig {
  apiId: number;
  apiHash: string;
  /** Set: the subgraph acts as this bot. Unset: as the user whose session `npm run telegram:login` saved. */
  botToken: string | undefined;
  /** SQLite file holding the session and the peer cache (id -> access_hash, usernames). */
  sessionPath: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadOptions {
  /** Whether a Telegram session file exists (injectable for tests). */
  sessionExists?: (path: string) => boolean;
  /** Reads BITRIX24_PORTALS_FILE (injectable for tests). */
  readFile?: (path: string) => string;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, options: LoadOptions = {}): Config {
  const parsed = environment.safeParse(env);
  if (!parsed.success) {
    // Only the variable's name and what is wrong: the value may be a token.
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  }
  const e = parsed.data;
  const x = e.X_BEARER_TOKEN === undefined ? undefined : { bearerToken: e.X_BEARER_TOKEN, baseUrl: e.X_API_BASE_URL };
  const telegram = telegramConfig(e, options.sessionExists ?? existsSync);
  const bitrix24Portals = bitrix24Config(e, options.readFile ?? ((path) => readFileSync(path, 'utf8')));
  const nexudus = nexudusConfig(e);
  return {
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    // With no provider configured there is nothing to serve but the demo (contract.md, "Commands").
    demo: e.DEMO || (x === undefined && telegram === undefined && bitrix24Portals.length === 0 && nexudus === undefined),
    introspection: e.INTROSPECTION,
    maxIdsPerOperation: e.MAX_IDS_PER_OPERATION,
    maxRequestBytes: e.MAX_REQUEST_BYTES,
    upstream: {
      timeoutMs: e.UPSTREAM_TIMEOUT_MS,
      connections: e.UPSTREAM_CONNECTIONS,
      retry: { maxAttempts: e.UPSTREAM_MAX_ATTEMPTS, maxTotalWaitMs: e.UPSTREAM_MAX_RETRY_WAIT_MS, baseDelayMs: 100 },
    },
    x,
    telegram,
    telegramLimits: {
      maxIdsPerCall: e.TELEGRAM_MAX_IDS_PER_CALL,
      floodWaitThresholdSeconds: e.TELEGRAM_FLOOD_WAIT_THRESHOLD_SECONDS,
    },
    bitrix24: { portals: bitrix24Portals, maxIdsPerCall: e.BITRIX24_MAX_IDS_PER_CALL },
    nexudus,
    nexudusLimits: { maxIdsPerCall: e.NEXUDUS_MAX_IDS_PER_CALL, fullRecordConcurrency: e.NEXUDUS_FULL_RECORD_CONCURRENCY },
  };
}

/** Nexudus is on with a token, or with a username and password to exchange for one. */
function nexudusConfig(e: z.infer<typeof environment>): NexudusConfig | undefined {
  const common = { baseUrl: e.NEXUDUS_BASE_URL };
  if (e.NEXUDUS_TOKEN !== undefined) {
    if (e.NEXUDUS_USERNAME !== undefined || e.NEXUDUS_PASSWORD !== undefined) {
      throw new ConfigError(['NEXUDUS_TOKEN: set either it or NEXUDUS_USERNAME and NEXUDUS_PASSWORD, not both']);
    }
    return { ...common, credentials: { kind: 'token', token: e.NEXUDUS_TOKEN } };
  }
  if (e.NEXUDUS_USERNAME === undefined && e.NEXUDUS_PASSWORD === undefined) return undefined;
  if (e.NEXUDUS_USERNAME === undefined) throw new ConfigError(['NEXUDUS_USERNAME: required with NEXUDUS_PASSWORD']);
  if (e.NEXUDUS_PASSWORD === undefined) throw new ConfigError(['NEXUDUS_PASSWORD: required with NEXUDUS_USERNAME']);
  return { ...common, credentials: { kind: 'password', username: e.NEXUDUS_USERNAME, password: e.NEXUDUS_PASSWORD } };
}

/** One portal in BITRIX24_PORTALS_FILE: a webhook, or OAuth tokens; an optional name and rate. */
const portalEntry = z
  .object({
    name: z.string().min(1).optional(),
    webhookUrl: z.string().regex(...BITRIX24_WEBHOOK).optional(),
    portalUrl: z.string().regex(...BITRIX24_PORTAL).optional(),
    accessToken: z.string().min(1).optional(),
    refreshToken: z.string().min(1).optional(),
    clientId: z.string().min(1).optional(),
    clientSecret: z.string().min(1).optional(),
    rate: z.object({ perSecond: z.number().positive(), burst: z.number().int().positive() }).optional(),
  })
  .strict()
  .refine((p) => (p.webhookUrl === undefined) !== (p.portalUrl === undefined), 'give either webhookUrl or portalUrl')
  .refine((p) => p.portalUrl === undefined || p.accessToken !== undefined, 'portalUrl needs accessToken');
const portalsFile = z.object({ portals: z.array(portalEntry).min(1) }).strict();

/**
 * Bitrix24 portals: the one the BITRIX24_* variables describe, plus those of BITRIX24_PORTALS_FILE.
 * Problems name the variable (or the file and the entry), never a value: webhook URLs are secrets.
 */
function bitrix24Config(e: z.infer<typeof environment>, readFile: (path: string) => string): Bitrix24PortalConfig[] {
  const rate = { perSecond: e.BITRIX24_RATE_PER_SECOND, burst: e.BITRIX24_RATE_BURST };
  const oauthUrl = e.BITRIX24_OAUTH_URL;
  const portals: Bitrix24PortalConfig[] = [];
  const problems: string[] = [];
  const refreshFor = (refreshToken?: string, clientId?: string, clientSecret?: string) =>
    refreshToken && clientId && clientSecret ? { refreshToken, clientId, clientSecret, oauthUrl } : undefined;

  if (e.BITRIX24_WEBHOOK_URL !== undefined && e.BITRIX24_PORTAL_URL !== undefined) {
    problems.push('BITRIX24_WEBHOOK_URL: set either it or BITRIX24_PORTAL_URL (use BITRIX24_PORTALS_FILE for several portals)');
  } else if (e.BITRIX24_WEBHOOK_URL !== undefined) {
    portals.push({ name: new URL(e.BITRIX24_WEBHOOK_URL).host, access: { kind: 'webhook', webhookUrl: withSlash(e.BITRIX24_WEBHOOK_URL) }, rate });
  } else if (e.BITRIX24_PORTAL_URL !== undefined) {
    if (e.BITRIX24_ACCESS_TOKEN === undefined) problems.push('BITRIX24_ACCESS_TOKEN: required with BITRIX24_PORTAL_URL');
    else {
      portals.push({
        name: new URL(e.BITRIX24_PORTAL_URL).host,
        access: {
          kind: 'oauth',
          portalUrl: e.BITRIX24_PORTAL_URL,
          accessToken: e.BITRIX24_ACCESS_TOKEN,
          refresh: refreshFor(e.BITRIX24_REFRESH_TOKEN, e.BITRIX24_CLIENT_ID, e.BITRIX24_CLIENT_SECRET),
        },
        rate,
      });
    }
  }

  if (e.BITRIX24_PORTALS_FILE !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFile(e.BITRIX24_PORTALS_FILE));
    } catch {
      problems.push('BITRIX24_PORTALS_FILE: cannot read it as JSON');
    }
    if (parsed !== undefined) {
      const file = portalsFile.safeParse(parsed);
      if (!file.success) {
        for (const issue of file.error.issues) problems.push(`BITRIX24_PORTALS_FILE: ${issue.path.join('.') || 'file'}: ${issue.message}`);
      } else {
        for (const p of file.data.portals) {
          const url = p.webhookUrl ?? p.portalUrl!;
          const access: PortalAccess = p.webhookUrl
            ? { kind: 'webhook', webhookUrl: withSlash(p.webhookUrl) }
            : { kind: 'oauth', portalUrl: p.portalUrl!, accessToken: p.accessToken!, refresh: refreshFor(p.refreshToken, p.clientId, p.clientSecret) };
          portals.push({ name: p.name ?? new URL(url).host, access, rate: p.rate ?? rate });
        }
      }
    }
  }

  const names = portals.map((p) => p.name);
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate !== undefined) problems.push(`BITRIX24_PORTALS_FILE: two portals are named ${JSON.stringify(duplicate)}; give them distinct "name"s`);
  if (problems.length > 0) throw new ConfigError(problems);
  return portals;
}

function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

/**
 * Telegram is on when the app credentials are set and there is someone to act as: a bot token, or a
 * user session saved by `npm run telegram:login`. Half a configuration is an error, not "off".
 */
function telegramConfig(e: z.infer<typeof environment>, sessionExists: (path: string) => boolean): TelegramConfig | undefined {
  const anySet = e.TELEGRAM_API_ID !== undefined || e.TELEGRAM_API_HASH !== undefined || e.TELEGRAM_BOT_TOKEN !== undefined;
  if (!anySet) return undefined;
  const problems: string[] = [];
  if (e.TELEGRAM_API_ID === undefined) problems.push('TELEGRAM_API_ID: required with the other TELEGRAM_* variables');
  if (e.TELEGRAM_API_HASH === undefined) problems.push('TELEGRAM_API_HASH: required with the other TELEGRAM_* variables');
  if (e.TELEGRAM_BOT_TOKEN === undefined && !sessionExists(e.TELEGRAM_SESSION_PATH)) {
    problems.push(
      'TELEGRAM_BOT_TOKEN: set it to act as a bot, or run `npm run telegram:login` to save a user session at TELEGRAM_SESSION_PATH',
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    apiId: Number(e.TELEGRAM_API_ID),
    apiHash: e.TELEGRAM_API_HASH!,
    botToken: e.TELEGRAM_BOT_TOKEN,
    sessionPath: e.TELEGRAM_SESSION_PATH,
  };
}
