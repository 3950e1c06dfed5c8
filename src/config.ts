import { existsSync } from 'node:fs';
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
  return {
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    // With no provider configured there is nothing to serve but the demo (contract.md, "Commands").
    demo: e.DEMO || (x === undefined && telegram === undefined),
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
  };
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
