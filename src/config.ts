import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { type AuthConfig, authEnv, resolveAuth } from './auth/config.js';
import { flag, int, optionalFlag, problemsOf, secret, variablesOf } from './core/env.js';
import type { OperationLimits, RedisAddress, RedisTopology, UpstreamSettings } from './core/settings.js';
import type { ConfigIO, Env } from './core/types.js';
import { type CallerHeaderNames, callerHeaderSettings } from './credentials/headers.js';
import type { Configured, Provider } from './providers/registry.js';

/**
 * Configuration from the environment (docs/configuration.md), validated once at start-up: the core's
 * own settings here, each provider's variables by the provider's own schema. A bad value stops the
 * process with a message naming the variable, and never repeating its value: some are secrets. Every
 * variable's `.describe()` is its line in docs/configuration.md (`npm run docs:config`); it is called
 * last on each entry, since zod's `.describe()` returns a copy with only that description as metadata.
 */

/** Comma-separated `host:port` (a name, an IPv4 address or a bracketed IPv6 one); unset or empty is `undefined`. */
const addressList = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.split(',').map((part) => part.trim())))
  .pipe(z.array(z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be comma-separated host:port')).optional())
  .transform((list): RedisAddress[] | undefined =>
    list?.map((entry) => {
      const at = entry.lastIndexOf(':');
      return { host: entry.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(entry.slice(at + 1)) };
    }),
  );

/** How the server listens, what it serves to browsers and tools, and what runs operations. */
const serverSettings = z.object({
  PORT: int(0, 65535, 4001).describe('The TCP port the HTTP server listens on, 0–65,535; `0` lets the system pick a free one.'),
  HOST: z
    .string()
    .optional()
    .transform((v) => v || '0.0.0.0')
    .describe('The address to listen on. In the container keep `0.0.0.0`: its `HEALTHCHECK` asks `127.0.0.1`.'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent', ''])
    .optional()
    .transform((v) => v || 'info')
    .describe(
      'The pino level of the JSON log lines on stdout: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`. ' +
        '`debug` adds a line per upstream retry; `warn` and quieter levels drop the `info` line each request ends with.',
    ),
  // Only `1` or unset: `DEMO=0` or `DEMO=false` reads as "not the demo" but would mean nothing, so it is refused.
  // Unset is `undefined`, not `false`, so that the reference gives it no default: `0` is not a value it takes.
  DEMO: z
    .enum(['1'], { message: 'must be 1 (serve the built-in emulators) or unset' })
    .optional()
    .transform((v) => (v === '1' ? true : undefined))
    .describe(
      '`1` serves the embedded demo (built-in emulators of all four upstream APIs, on loopback) even when credentials are set ' +
        'or `NODE_ENV=production`; any other value, `0`, `true` and empty included, is refused. ' +
        'Unset: the demo runs only when no provider is configured and `NODE_ENV` is not `production`.',
    ),
  // Unset: on in the demo and outside production (docs/access-control.md, "Introspection and inline traces").
  INTROSPECTION: optionalFlag.describe(
    '`1` or `0` turns schema introspection on or off. Unset: on in the demo and wherever `NODE_ENV` is not `production`, ' +
      'off otherwise; `_service { sdl }` is served either way.',
  ),
  // Unset: GraphiQL wherever introspection is on, none where it is off (docs/operations.md, "Explorer").
  EXPLORER: z
    .enum(['graphiql', 'sandbox', 'off', ''])
    .optional()
    .transform((v) => v || undefined)
    .describe(
      "What a browser's GET of `/graphql` or `/` gets: `graphiql` (GraphiQL in one page, which works offline), " +
        "`sandbox` (Apollo Sandbox, loaded from Apollo's CDN) or `off` (404). " +
        'Unset: `graphiql` wherever introspection is on, `off` wherever it is off.',
    ),
  INLINE_TRACES: flag(false).describe(
    '`1` answers `apollo-federation-include-trace: ftv1` with inline traces, the per-field timings a router reports to GraphOS; ' +
      'operations then run on graphql-js, whatever `GRAPHQL_EXECUTOR` says.',
  ),
  // Off: `_service { sdl }` composes with @apollo/gateway, Hive Gateway and a Router without GraphOS (docs/supergraph.md).
  AUTH_DIRECTIVES_IN_SDL: flag(false).describe(
    'Whether `_service { sdl }` carries `@authenticated` and `@requiresScopes`. `0` leaves them out, so the SDL composes with ' +
      "@apollo/gateway's `IntrospectAndCompose`, Hive Gateway and a Router without GraphOS; `1` is for a Router connected to " +
      'GraphOS (Enterprise), which enforces them too; the subgraph enforces access itself either way.',
  ),
  GRAPHQL_EXECUTOR: z
    .enum(['compiled', 'graphql-js', ''])
    .optional()
    .transform((v) => v || 'compiled')
    .describe(
      'What runs operations: `compiled` (queries compiled by graphql-jit, with graphql-js for what it cannot compile) or ' +
        '`graphql-js` alone. With `INLINE_TRACES=1` operations always run on graphql-js.',
    ),
  GRAPHQL_COMPILE_AFTER_RUNS: int(0, 1_000_000, 1).describe(
    'How many times a document runs on graphql-js before it is compiled, 0–1,000,000: a document sent once is not worth ' +
      'compiling. `0` compiles it on its first run.',
  ),
  GRAPHQL_COMPILE_BUDGET_MS: int(0, 1_000_000, 100).describe(
    'Milliseconds of event-loop time compiling may take at once, 0–1,000,000, refilled at a tenth of it a second; a document ' +
      'that finds it spent runs on graphql-js, and one over 8,192 characters is never compiled. `0` compiles nothing.',
  ),
  GRAPHQL_DOCUMENT_CACHE_ENTRIES: int(0, 100_000, 1_000).describe(
    'Parsed documents kept, each with its compiled query (about 34 KB), 0–100,000: a flood of distinct documents cannot grow ' +
      'the process past this. `0` keeps none.',
  ),
  HTTP_HEADERS_TIMEOUT_MS: int(100, 120_000, 10_000).describe(
    "Milliseconds a connection may take to send a request's headers, 100–120,000, a socket that sends nothing included; " +
      'past it Node answers 408 and closes the connection.',
  ),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: int(1_000, 600_000, 65_000).describe(
    'Milliseconds an idle keep-alive connection stays open, 1,000–600,000. Keep it above the idle timeout of the load balancer ' +
      'in front (60 s on common ones), so that the balancer closes first.',
  ),
  SHUTDOWN_GRACE_MS: int(0, 600_000, 10_000).describe(
    'On SIGTERM or SIGINT, milliseconds the requests in flight may take to finish, 0–600,000; those still running then are ' +
      'cancelled and the process exits 1. `0` cancels them at once.',
  ),
});

/** What one operation, and all operations at once, may cost (docs/limits.md). */
const limitSettings = z.object({
  MAX_IDS_PER_OPERATION: int(1, 100_000, 1000).describe(
    'Most distinct ids one operation may ask of one provider, per credential scope and Bitrix24 portal, 1–100,000, counted ' +
      'after coercion with default values included; each id beyond answers `null` with `BAD_USER_INPUT`, alone.',
  ),
  MAX_LIST_ITEMS_PER_OPERATION: int(1, 1_000_000, 10_000).describe(
    'Most items of id lists and `_entities` representations one operation may hold in all, duplicates included, ' +
      '1–1,000,000; each item beyond answers `null` with `BAD_USER_INPUT` and is never resolved.',
  ),
  MAX_RESULT_VALUES_PER_OPERATION: int(1, 100_000_000, 100_000).describe(
    'Most values the items of those lists may answer in one operation, 1–100,000,000, estimated before they run as items × ' +
      'fields selected per item (fragments and nested objects included); the items beyond answer `null`, with one ' +
      '`BAD_USER_INPUT` per list.',
  ),
  MAX_RESULT_VALUES_IN_FLIGHT: int(0, 1_000_000_000, 400_000).describe(
    'Most values all operations at once may be answering, 0–1,000,000,000, as estimated before each runs (only operations of ' +
      'at least a tenth of `MAX_RESULT_VALUES_PER_OPERATION` count); one that would pass it is answered 503 `OVERLOADED` with ' +
      '`Retry-After: 1` before it runs. `0` counts nothing.',
  ),
  MAX_QUERY_TOKENS: int(100, 1_000_000, 5_000).describe(
    'Most tokens a document may have, 100–1,000,000, counted while it is parsed; a longer one is refused with HTTP 400 ' +
      '`GRAPHQL_PARSE_FAILED`.',
  ),
  MAX_QUERY_DEPTH: int(1, 1000, 15).describe(
    'Deepest field nesting a document may have, counted through its fragments, 1–1,000; a deeper one is refused with HTTP 400 ' +
      '`GRAPHQL_VALIDATION_FAILED`.',
  ),
  MAX_QUERY_ALIASES: int(0, 10_000, 50).describe(
    'Most aliases a document may have, counted through its fragments, 0–10,000 (`0`: none); more are refused with HTTP 400 ' +
      '`GRAPHQL_VALIDATION_FAILED`.',
  ),
  MAX_QUERY_FIELDS: int(1, 1_000_000, 2_000).describe(
    'Most field selections a document may have, counted as if its fragments were expanded, 1–1,000,000; more are refused ' +
      'with HTTP 400 `GRAPHQL_VALIDATION_FAILED`.',
  ),
  MAX_ROOT_FIELDS: int(1, 10_000, 20).describe(
    'Most root fields an operation may select, fragments spread at the root included and `__typename` free, 1–10,000; more ' +
      'are refused with HTTP 400 `GRAPHQL_VALIDATION_FAILED`.',
  ),
  MAX_QUERY_DIRECTIVES: int(0, 10_000, 50).describe(
    'Most directives a document may use, counted through its fragments, 0–10,000 (`0`: none); more are refused with HTTP 400 ' +
      '`GRAPHQL_VALIDATION_FAILED`.',
  ),
  MAX_REQUEST_BYTES: int(1024, 64 * 1024 * 1024, 1024 * 1024).describe(
    'Largest request body in bytes, 1,024–67,108,864 (64 MiB); a larger one is answered 413 `REQUEST_TOO_LARGE`. ' +
      'The default, 1 MiB, holds some 30,000 X representations.',
  ),
  MAX_RESPONSE_BYTES: int(1024, 1024 * 1024 * 1024, 16 * 1024 * 1024).describe(
    'Largest answer in bytes, 1,024–1,073,741,824 (1 GiB; the default is 16 MiB); a larger one is replaced by a ' +
      '`RESPONSE_TOO_LARGE` error.',
  ),
  OPERATION_TIMEOUT_MS: int(100, 300_000, 10_000).describe(
    'Deadline of a whole operation in milliseconds, reading its body included, 100–300,000. A body still arriving then is ' +
      'answered 408 `REQUEST_TIMEOUT`; upstream work still queued or in flight is dropped, and its items answer `DEADLINE_EXCEEDED`.',
  ),
  MAX_OPERATIONS_IN_FLIGHT: int(1, 100_000, 1_000).describe(
    'GraphQL requests in progress at most, 1–100,000; beyond, a request is answered 503 `OVERLOADED` with `Retry-After: 1` at ' +
      'once (`/health` and `/ready` never are).',
  ),
  MAX_CONNECTIONS: int(1, 1_000_000, 10_000).describe(
    'Open connections at most, 1–1,000,000; one beyond is closed as it is accepted (`users_subgraph_connections_dropped_total`), ' +
      'and the connections already open carry on.',
  ),
  MAX_EVENT_LOOP_DELAY_MS: int(0, 60_000, 1_000).describe(
    'How many milliseconds late the event loop may run (measured every 10 ms) before new GraphQL requests are answered 503 ' +
      '`OVERLOADED` with `Retry-After: 1`, 0–60,000. `0` never turns one away for it.',
  ),
});

/** The record cache, coalescing, and the Redis replicas share them through (docs/sharing.md). */
const sharingSettings = z.object({
  CACHE_MAX_BYTES: int(0, 64 * 1024 * 1024 * 1024, 64 * 1024 * 1024).describe(
    'Bytes the in-memory record cache may hold, 0–68,719,476,736 (64 GiB; the default is 64 MiB); with `REDIS_URL` it bounds ' +
      'only the memory path used while Redis is lost. `0` keeps no memory cache, so without Redis there is no record cache at all.',
  ),
  CACHE_STALE_SECONDS: int(0, 7 * 24 * 3600, 3600).describe(
    'Seconds after it expires that a record may still be served, marked in `extensions.stale`, while its upstream is rate ' +
      'limited or unavailable, 0–604,800 (7 days). `0` never serves a stale record.',
  ),
  CACHE_MISSING_TTL_SECONDS: int(0, 24 * 3600, 60).describe(
    "Seconds a `NOT_FOUND` (or X's `SUSPENDED`) stays cached, 0–86,400 (1 day); other errors are never cached. `0` caches none.",
  ),
  // Turns on POST /cache/evict for whoever sends it as a bearer token.
  CACHE_ADMIN_TOKEN: secret
    .pipe(z.string().min(16, 'must be at least 16 characters').optional())
    .describe(
      'A credential of 16 or more printable ASCII characters without spaces: a caller sending it as ' +
        '`Authorization: Bearer` may remove record-cache entries with `POST /cache/evict`; set but blank is refused. ' +
        'Unset: that endpoint answers 404.',
    ),
  COALESCE_WINDOW_MS: int(0, 1000, 2).describe(
    "Milliseconds a request's ids wait for other requests' ids to join the same upstream call, 0–1,000: it adds at most this " +
      'to a cache miss. `0` joins only what arrives in the same turn of the event loop.',
  ),
  // May hold a password: never repeated in a message.
  REDIS_URL: secret
    .pipe(
      z
        .string()
        .regex(/^rediss?:\/\/[^\s]*$/, 'must be a redis:// or rediss:// URL')
        .optional(),
    )
    .describe(
      'A `redis://` or `rediss://` URL of a Redis every replica shares its record cache, fetch claims, rate budgets, pacing ' +
        'and tokens through; it may hold a password, is never logged, and set but blank is refused. ' +
        'Unset: each process shares only with itself.',
    ),
  REDIS_CLUSTER_NODES: addressList.describe(
    'Instead of `REDIS_URL`: a Redis Cluster (or Valkey in cluster mode), as comma-separated `host:port` of some of its nodes ' +
      '(the rest are discovered). Keys that one script or command touches together share a hash tag per upstream and ' +
      'credential scope; record reads are grouped by slot.',
  ),
  REDIS_SENTINELS: addressList.describe(
    'Instead of `REDIS_URL`: Sentinels, as comma-separated `host:port`, that name the master of `REDIS_SENTINEL_NAME`; the link ' +
      'follows a failover to the new master.',
  ),
  REDIS_SENTINEL_NAME: z
    .string()
    .optional()
    .transform((v) => v?.trim() || undefined)
    .describe('The master name the Sentinels monitor (`sentinel monitor <name> …`); required with `REDIS_SENTINELS`.'),
  REDIS_USERNAME: z
    .string()
    .optional()
    .transform((v) => v?.trim() || undefined)
    .describe('ACL user of the Cluster nodes or of the Sentinel-managed master (with `REDIS_URL`, put it in the URL).'),
  REDIS_PASSWORD: secret.describe(
    'Password of the Cluster nodes or of the Sentinel-managed master (with `REDIS_URL`, put it in the URL); never logged, ' +
      'and set but blank is refused.',
  ),
  REDIS_SENTINEL_PASSWORD: secret.describe(
    "The Sentinels' own password, when they ask for one; never logged, and set but blank is refused.",
  ),
  REDIS_TLS: flag(false).describe('`1`: TLS to the Cluster nodes, or to the Sentinels and the master (with `REDIS_URL`, use `rediss://`).'),
  REDIS_KEY_PREFIX: z
    .string()
    .optional()
    .transform((v) => v || 'users-subgraph:')
    // A brace would make part of the prefix the hash tag of every key: all of them in one Cluster slot.
    .refine((v) => !/[{}]/.test(v), 'must not contain { or }')
    .describe(
      'Starts every Redis key this deployment writes: give each deployment that shares one Redis a prefix of its own. ' +
        'No `{` or `}` (they would make it the Cluster hash tag of every key).',
    ),
  REDIS_FAILOVER_WAIT_MS: int(0, 60_000, 3_000).describe(
    'With a Cluster or Sentinel: how long, from the start of an outage, the record cache, fetch claims and the upstream windows ' +
      "wait for a failover to finish (tried again every 50 ms) before they answer from this process's memory, 0–60,000. From " +
      'memory, two replicas may ask for the same id and spend one window twice. One node has no failover: it answers from memory at once.',
  ),
  REDIS_COMMAND_TIMEOUT_MS: int(10, 60_000, 250).describe(
    "Longest wait for one Redis command in milliseconds, 10–60,000; past it that call is answered from this process's memory, " +
      'and Redis counts as lost until a `PING` answers.',
  ),
});

/** How every provider calls its upstream: deadlines, retries, connections, circuits, the budget planner. */
const upstreamSettings = z.object({
  UPSTREAM_TIMEOUT_MS: int(50, 120_000, 5_000).describe(
    'Deadline of one upstream attempt (an HTTP request or a Telegram RPC) in milliseconds, 50–120,000.',
  ),
  UPSTREAM_MAX_ATTEMPTS: int(1, 10, 3).describe(
    'Attempts per upstream call, the first included, 1–10: 429s, 5xx, timeouts and refused connections are tried again. ' +
      '`1` never retries.',
  ),
  UPSTREAM_MAX_RETRY_WAIT_MS: int(0, 60_000, 2_000).describe(
    'Most milliseconds one upstream call may wait between its attempts in all, 0–60,000 (`0`: no waiting, so in effect no ' +
      "retries); an upstream asking for longer (X's rate-limit reset, a `Retry-After`) fails the call at once with " +
      '`retryAfter`. Telegram calls are bounded by `TELEGRAM_FLOOD_WAIT_THRESHOLD_SECONDS` instead.',
  ),
  UPSTREAM_CONNECTIONS: int(1, 1024, 32).describe('Most open keep-alive connections to each HTTP upstream, 1–1,024.'),
  UPSTREAM_CIRCUIT_FAILURES: int(1, 1000, 5).describe(
    'Calls in a row that find an upstream unavailable (timeouts, 5xx, refused connections, after their retries) before its ' +
      'circuit opens, 1–1,000; its other answers (401, 403, 429, not found) never count.',
  ),
  UPSTREAM_CIRCUIT_COOL_DOWN_MS: int(100, 600_000, 30_000).describe(
    "Milliseconds an open circuit fails its upstream's calls at once with `UPSTREAM_UNAVAILABLE` and `retryAfter`, " +
      '100–600,000; then one call is tried.',
  ),
  UPSTREAM_MAX_HOLD_MS: int(0, 60_000, 2_000).describe(
    "Longest a cache miss waits, in milliseconds, for its upstream call to fill while the upstream's rate budget is scarce, " +
      '0–60,000, below `OPERATION_TIMEOUT_MS`; an ample budget holds nothing. `0`: a partial call never waits.',
  ),
  UPSTREAM_MAX_QUEUED_IDS: int(1, 1_000_000, 10_000).describe(
    'Ids waiting at most for one upstream, credential scope and partition (a Bitrix24 portal), 1–1,000,000; beyond, a new id ' +
      'answers `RATE_LIMITED` at once.',
  ),
});

/** The core's own settings, every group of them: what `loadConfig` reads. */
const settings = z.object({
  ...serverSettings.shape,
  ...limitSettings.shape,
  ...sharingSettings.shape,
  ...upstreamSettings.shape,
});

/** The record cache and coalescing (docs/sharing.md). */
export interface SharingSettings {
  /** Most bytes the in-memory record cache holds. */
  maxBytes: number;
  /** How long an expired entry may still be served when the upstream cannot answer. */
  staleMs: number;
  /** How long a negative answer (NOT_FOUND, SUSPENDED) is fresh. */
  missingTtlMs: number;
  /** How long keys wait for other requests' keys before their upstream call goes. */
  coalesceWindowMs: number;
  /** The bearer token of `POST /cache/evict`; the endpoint is off without one. */
  adminToken?: string;
  /** Per provider name: whether its answers are cached, and how long a record is fresh. */
  providers: ReadonlyMap<string, { enabled: boolean; ttlMs: number }>;
}

/** Redis, when `REDIS_URL` is set: what replicas share (docs/sharing.md, "Redis: one cache and one budget for every replica"). */
export interface RedisSettings {
  /** One node, a Cluster, or a master through Sentinel. */
  topology: RedisTopology;
  /** Starts every key this deployment writes. */
  keyPrefix: string;
  /** Longest wait for one command before the in-memory path is taken. */
  commandTimeoutMs: number;
  /** How long claims and windows wait out a failover of a Cluster or Sentinel (0 for one node). */
  failoverWaitMs: number;
}

/** A provider whose credentials are set: how to start it. */
export interface ProviderSetup {
  provider: Provider;
  configured: Configured;
}

export interface Config {
  /** `NODE_ENV=production`: the demo must be asked for (DEMO=1), and introspection is off unless set. */
  production: boolean;
  /** What the start-up should tell the operator: variables with this service's prefixes that nothing reads. */
  warnings: readonly string[];
  port: number;
  host: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Run the embedded emulators instead of the real APIs. */
  demo: boolean;
  introspection: boolean;
  /** What a browser gets at `/graphql` and `/`: GraphiQL (inlined, works offline), Apollo Sandbox (its CDN), or nothing. */
  explorer: 'graphiql' | 'sandbox' | 'off';
  /**
   * Whether `_service { sdl }` carries `@authenticated`/`@requiresScopes` (AUTH_DIRECTIVES_IN_SDL): for an
   * Apollo Router connected to GraphOS, which enforces them too. The subgraph enforces them either way.
   */
  accessDirectivesInSdl: boolean;
  /** Answer `apollo-federation-include-trace: ftv1` with per-field timings. */
  inlineTraces: boolean;
  /**
   * What runs operations (`src/execution/`): queries compiled by graphql-jit (graphql-js for what it
   * cannot compile), or graphql-js alone. Inline traces time each field through graphql-js's resolvers
   * hooks, so they run on graphql-js.
   */
  executor: 'compiled' | 'graphql-js';
  /** Runs of a document on graphql-js before it is compiled: a document sent once is not worth compiling. */
  compileAfterRuns: number;
  /** Compiling time allowed at once, refilled at a tenth of it a second (`src/execution/`). */
  compileBudgetMs: number;
  /** Who may see the fields the schema protects (`src/auth/`). */
  auth: AuthConfig;
  /** The headers of callers' own credentials, by provider and role (docs/access-control.md, "Per-caller credentials"). */
  callerHeaders: CallerHeaderNames;
  maxRequestBytes: number;
  /**
   * How long a connection may take to send a request's headers (HTTP_HEADERS_TIMEOUT_MS); a socket idle
   * longer than this and OPERATION_TIMEOUT_MS together is closed (one that never sends a byte, too).
   */
  /** Open connections at most (MAX_CONNECTIONS); one beyond is closed as it is accepted. */
  maxConnections: number;
  headersTimeoutMs: number;
  /** GraphQL requests in progress at most (MAX_OPERATIONS_IN_FLIGHT); beyond, 503 OVERLOADED with Retry-After at once. */
  maxOperationsInFlight: number;
  /** How late the event loop may run before GraphQL requests are answered 503 OVERLOADED at once (MAX_EVENT_LOOP_DELAY_MS; 0: never). */
  maxEventLoopDelayMs: number;
  /** Parsed documents (and their compiled queries) kept at most (GRAPHQL_DOCUMENT_CACHE_ENTRIES). */
  documentCacheEntries: number;
  /** How long an idle keep-alive connection stays open (HTTP_KEEP_ALIVE_TIMEOUT_MS; above a load balancer's own). */
  keepAliveTimeoutMs: number;
  /** How long a shutdown lets requests in flight finish before it cancels them. */
  shutdownGraceMs: number;
  limits: OperationLimits;
  sharing: SharingSettings;
  /** Absent: everything is shared within this process only. */
  redis?: RedisSettings;
  upstream: UpstreamSettings;
  /** Every provider served (the registry's), configured or not, in its order. */
  providers: readonly Provider[];
  /** The configured providers, in registry order; a provider absent here answers PROVIDER_NOT_CONFIGURED. */
  configured: readonly ProviderSetup[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Each provider's cache switch and freshness, from variables named after it: `X_CACHE=0` turns X's
 * record cache off; `X_CACHE_TTL_SECONDS` sets how long its records are fresh (the provider's default).
 */
const cachingSettings = (providers: readonly Provider[]) =>
  z
    .object(
      Object.fromEntries(
        providers.flatMap((provider) => {
          const name = provider.id.name.toUpperCase();
          const { label } = provider.id;
          return [
            [
              `${name}_CACHE`,
              flag(true).describe(
                `Whether ${label}'s records are kept in the record cache; \`0\` sends every ${label} lookup upstream ` +
                  '(coalescing still applies).',
              ),
            ],
            [
              `${name}_CACHE_TTL_SECONDS`,
              int(0, 7 * 24 * 3600, provider.cacheTtlSeconds).describe(
                `Seconds ${label}'s records stay fresh in the record cache, 0–604,800 (7 days); it also caps the ` +
                  `\`max-age\` of answers that select ${label} fields. \`0\`: never fresh, so every lookup goes upstream, ` +
                  'though a record may still be served stale (`CACHE_STALE_SECONDS`).',
              ),
            ],
          ];
        }),
      ),
    )
    .transform((vars) => {
      const settings = vars as Record<string, boolean | number>;
      return new Map(
        providers.map((provider) => {
          const name = provider.id.name.toUpperCase();
          return [
            provider.id.name,
            { enabled: settings[`${name}_CACHE`] as boolean, ttlMs: (settings[`${name}_CACHE_TTL_SECONDS`] as number) * 1000 },
          ];
        }),
      );
    });

export const realIO: ConfigIO = { readFile: (path) => readFileSync(path, 'utf8'), exists: existsSync };

/**
 * Which Redis, from the one variable that names it: REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS (at
 * most one). The Cluster's and Sentinel's credentials come in their own variables; a node's in its URL.
 */
function redisTopologyOf(vars: z.output<typeof settings>, problems: string[]): RedisTopology | undefined {
  const named = (['REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS'] as const).filter((name) => vars[name] !== undefined);
  if (named.length > 1) {
    problems.push(`${named[1]}: set one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS, not ${named.join(' and ')}`);
    return undefined;
  }
  const auth = {
    ...(vars.REDIS_USERNAME === undefined ? {} : { username: vars.REDIS_USERNAME }),
    ...(vars.REDIS_PASSWORD === undefined ? {} : { password: vars.REDIS_PASSWORD }),
    tls: vars.REDIS_TLS,
  };
  const forNodes = ['REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_SENTINEL_PASSWORD', 'REDIS_TLS'] as const;
  if (vars.REDIS_SENTINELS === undefined) {
    if (vars.REDIS_SENTINEL_NAME !== undefined) problems.push('REDIS_SENTINEL_NAME: is set but REDIS_SENTINELS is not');
    if (vars.REDIS_SENTINEL_PASSWORD !== undefined) problems.push('REDIS_SENTINEL_PASSWORD: is set but REDIS_SENTINELS is not');
  }
  if (vars.REDIS_URL !== undefined) {
    for (const name of forNodes) {
      if (name !== 'REDIS_SENTINEL_PASSWORD' && vars[name] !== undefined && vars[name] !== false) {
        problems.push(`${name}: goes in REDIS_URL itself (redis://user:password@host, rediss:// for TLS)`);
      }
    }
    return { kind: 'node', url: vars.REDIS_URL };
  }
  if (vars.REDIS_CLUSTER_NODES !== undefined) return { kind: 'cluster', nodes: vars.REDIS_CLUSTER_NODES, ...auth };
  if (vars.REDIS_SENTINELS !== undefined) {
    if (vars.REDIS_SENTINEL_NAME === undefined) {
      problems.push('REDIS_SENTINEL_NAME: is required with REDIS_SENTINELS');
      return undefined;
    }
    return {
      kind: 'sentinel',
      sentinels: vars.REDIS_SENTINELS,
      name: vars.REDIS_SENTINEL_NAME,
      ...(vars.REDIS_SENTINEL_PASSWORD === undefined ? {} : { sentinelPassword: vars.REDIS_SENTINEL_PASSWORD }),
      ...auth,
    };
  }
  for (const name of forNodes) {
    if (vars[name] !== undefined && vars[name] !== false)
      problems.push(`${name}: is set but no Redis is (REDIS_CLUSTER_NODES or REDIS_SENTINELS)`);
  }
  return undefined;
}

/** Prefixes of this service's variables: one of them that nothing reads is most likely a typo. */
const OWN_PREFIXES = /^(X|TELEGRAM|BITRIX24|NEXUDUS|AUTH|CACHE|REDIS)_/;

/** Every variable the configuration of `providers` reads, each with the schema it is read with, by group. */
export function configurationVariables(providers: readonly Provider[]): ReadonlyArray<{
  group: string;
  variables: ReadonlyArray<readonly [string, z.ZodType]>;
}> {
  const access = variablesOf(authEnv);
  const accessNames = new Set(access.map(([name]) => name));
  return [
    { group: 'Server', variables: variablesOf(serverSettings) },
    { group: 'Limits', variables: variablesOf(limitSettings) },
    { group: 'Sharing and Redis', variables: variablesOf(sharingSettings) },
    { group: 'Record cache per provider', variables: variablesOf(cachingSettings(providers)) },
    { group: 'Upstream calls', variables: variablesOf(upstreamSettings) },
    { group: 'Access control', variables: access },
    {
      group: 'Per-caller credentials',
      // The caller headers' schema reads AUTH_SHARED_SECRET_HEADER too, only to keep clear of it: it is listed once, above.
      variables: variablesOf(callerHeaderSettings(providers)).filter(([name]) => !accessNames.has(name)),
    },
    ...providers.map((provider) => ({ group: provider.id.label, variables: variablesOf(provider.environment(realIO)) })),
  ];
}

/** The names of every variable the configuration of `providers` reads. */
export function knownVariables(providers: readonly Provider[]): ReadonlySet<string> {
  return new Set(configurationVariables(providers).flatMap(({ variables }) => variables.map(([name]) => name)));
}

/** One line per variable with this service's prefixes that nothing reads, with the known name it is closest to. */
function unknownVariables(providers: readonly Provider[], env: Env): string[] {
  const known = knownVariables(providers);
  return Object.keys(env)
    .filter((name) => OWN_PREFIXES.test(name) && !known.has(name))
    .sort()
    .map((name) => {
      const near = closest(name, known);
      return near === undefined
        ? `${name} is not a variable of this service`
        : `${name} is not a variable of this service (did you mean ${near}?)`;
    });
}

/** The known name within two edits of `name`, if there is one. */
function closest(name: string, known: ReadonlySet<string>): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(name, candidate);
    if (distance <= 2 && (best === undefined || distance < best.distance)) best = { name: candidate, distance };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The configuration of a process serving `providers` (the registry's: `src/main.ts` gives them). */
export function loadConfig(providers: readonly Provider[], env: Env = process.env, io: Partial<ConfigIO> = {}): Config {
  const fullIO = { ...realIO, ...io };
  const problems: string[] = [];
  const parsed = settings.safeParse(env);
  if (!parsed.success) problems.push(...problemsOf(parsed.error));
  const caching = cachingSettings(providers).safeParse(env);
  if (!caching.success) problems.push(...problemsOf(caching.error));
  const auth = authEnv.safeParse(env);
  if (!auth.success) problems.push(...problemsOf(auth.error));
  const callerHeaders = callerHeaderSettings(providers).safeParse(env);
  if (!callerHeaders.success) problems.push(...problemsOf(callerHeaders.error));

  const configured: ProviderSetup[] = [];
  for (const provider of providers) {
    const outcome = provider.configure(env, fullIO);
    if (outcome === undefined) continue;
    if ('problems' in outcome) problems.push(...outcome.problems);
    else configured.push({ provider, configured: outcome });
  }
  const production = env.NODE_ENV === 'production';
  // Fail closed: a production start with no provider is a deployment whose credentials did not arrive,
  // not a request for made-up users (said only when nothing else is wrong: a refused credential is why). Outside production, `npm start` on a fresh clone runs the demo.
  if (problems.length === 0 && parsed.success && !parsed.data.DEMO && configured.length === 0 && production) {
    problems.push(
      'no provider is configured: set the credentials of at least one (X_BEARER_TOKEN, TELEGRAM_API_ID, ' +
        'BITRIX24_WEBHOOK_URL, NEXUDUS_TOKEN…; docs/configuration.md), or DEMO=1 to serve the built-in emulators',
    );
  }
  const redisTopology = parsed.success ? redisTopologyOf(parsed.data, problems) : undefined;
  // An id held until the operation's deadline answers DEADLINE_EXCEEDED: the stale record or RATE_LIMITED that ends a hold never comes.
  if (parsed.success && parsed.data.UPSTREAM_MAX_HOLD_MS >= parsed.data.OPERATION_TIMEOUT_MS) {
    problems.push('UPSTREAM_MAX_HOLD_MS: must be below OPERATION_TIMEOUT_MS, or a held id answers DEADLINE_EXCEEDED');
  }
  // A refused start lists the unknown variables too: `X_BEARER_TOKN` is most often why nothing is configured.
  const warnings = unknownVariables(providers, env);
  if (problems.length > 0 || !parsed.success || !auth.success || !caching.success || !callerHeaders.success)
    throw new ConfigError([...problems, ...warnings]);

  const vars = parsed.data;
  // With no provider configured outside production there is nothing to serve but the demo (README, "Run it").
  const demo = vars.DEMO || configured.length === 0;
  const introspection = vars.INTROSPECTION ?? (demo || !production);
  return {
    production,
    warnings,
    port: vars.PORT,
    host: vars.HOST,
    logLevel: vars.LOG_LEVEL,
    demo,
    introspection,
    explorer: vars.EXPLORER ?? (introspection ? 'graphiql' : 'off'),
    accessDirectivesInSdl: vars.AUTH_DIRECTIVES_IN_SDL,
    inlineTraces: vars.INLINE_TRACES,
    executor: vars.INLINE_TRACES ? 'graphql-js' : vars.GRAPHQL_EXECUTOR,
    compileAfterRuns: vars.GRAPHQL_COMPILE_AFTER_RUNS,
    compileBudgetMs: vars.GRAPHQL_COMPILE_BUDGET_MS,
    auth: resolveAuth(auth.data, demo),
    callerHeaders: callerHeaders.data,
    maxRequestBytes: vars.MAX_REQUEST_BYTES,
    headersTimeoutMs: vars.HTTP_HEADERS_TIMEOUT_MS,
    maxConnections: vars.MAX_CONNECTIONS,
    maxOperationsInFlight: vars.MAX_OPERATIONS_IN_FLIGHT,
    maxEventLoopDelayMs: vars.MAX_EVENT_LOOP_DELAY_MS,
    documentCacheEntries: vars.GRAPHQL_DOCUMENT_CACHE_ENTRIES,
    keepAliveTimeoutMs: vars.HTTP_KEEP_ALIVE_TIMEOUT_MS,
    shutdownGraceMs: vars.SHUTDOWN_GRACE_MS,
    limits: {
      timeoutMs: vars.OPERATION_TIMEOUT_MS,
      maxIdsPerProvider: vars.MAX_IDS_PER_OPERATION,
      maxListItems: vars.MAX_LIST_ITEMS_PER_OPERATION,
      maxResultValues: vars.MAX_RESULT_VALUES_PER_OPERATION,
      maxResultValuesInFlight: vars.MAX_RESULT_VALUES_IN_FLIGHT,
      maxTokens: vars.MAX_QUERY_TOKENS,
      maxDepth: vars.MAX_QUERY_DEPTH,
      maxAliases: vars.MAX_QUERY_ALIASES,
      maxFields: vars.MAX_QUERY_FIELDS,
      maxRootFields: vars.MAX_ROOT_FIELDS,
      maxDirectives: vars.MAX_QUERY_DIRECTIVES,
      maxResponseBytes: vars.MAX_RESPONSE_BYTES,
    },
    sharing: {
      maxBytes: vars.CACHE_MAX_BYTES,
      staleMs: vars.CACHE_STALE_SECONDS * 1000,
      missingTtlMs: vars.CACHE_MISSING_TTL_SECONDS * 1000,
      coalesceWindowMs: vars.COALESCE_WINDOW_MS,
      ...(vars.CACHE_ADMIN_TOKEN === undefined ? {} : { adminToken: vars.CACHE_ADMIN_TOKEN }),
      providers: caching.data,
    },
    ...(redisTopology === undefined
      ? {}
      : {
          redis: {
            topology: redisTopology,
            keyPrefix: vars.REDIS_KEY_PREFIX,
            commandTimeoutMs: vars.REDIS_COMMAND_TIMEOUT_MS,
            failoverWaitMs: redisTopology.kind === 'node' ? 0 : vars.REDIS_FAILOVER_WAIT_MS,
          },
        }),
    upstream: {
      timeoutMs: vars.UPSTREAM_TIMEOUT_MS,
      connections: vars.UPSTREAM_CONNECTIONS,
      retry: { maxAttempts: vars.UPSTREAM_MAX_ATTEMPTS, maxTotalWaitMs: vars.UPSTREAM_MAX_RETRY_WAIT_MS, baseDelayMs: 100 },
      circuit: { failures: vars.UPSTREAM_CIRCUIT_FAILURES, coolDownMs: vars.UPSTREAM_CIRCUIT_COOL_DOWN_MS },
      planner: { maxHoldMs: vars.UPSTREAM_MAX_HOLD_MS, maxQueuedIds: vars.UPSTREAM_MAX_QUEUED_IDS },
    },
    providers,
    configured,
  };
}
