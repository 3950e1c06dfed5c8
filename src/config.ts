import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { type AuthConfig, authEnv, resolveAuth } from './auth/config.js';
import { flag, int, optionalFlag, problemsOf, secret, variablesOf } from './core/env.js';
import type { OperationLimits, UpstreamSettings } from './core/settings.js';
import type { ConfigIO, Env } from './core/types.js';
import { type CallerHeaderNames, callerHeaderSettings } from './credentials/headers.js';
import type { Configured, Provider } from './providers/registry.js';

/**
 * Configuration from the environment (README, "Configuration"), validated once at start-up: the
 * core's own settings here, each provider's variables by the provider's own schema. A bad value stops
 * the process with a message naming the variable, and never repeating its value: some are secrets.
 */
const settings = z.object({
  PORT: int(0, 65535, 4001),
  HOST: z
    .string()
    .optional()
    .transform((v) => v || '0.0.0.0'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent', ''])
    .optional()
    .transform((v) => v || 'info'),
  // Only `1` or unset: `DEMO=0` or `DEMO=false` reads as "not the demo" but would mean nothing, so it is refused.
  DEMO: z
    .enum(['1'], { message: 'must be 1 (serve the built-in emulators) or unset' })
    .optional()
    .transform((v) => v === '1'),
  // Unset: on in the demo and outside production (README, "Access control").
  INTROSPECTION: optionalFlag,
  // Unset: GraphiQL wherever introspection is on, none where it is off (README, "Explorer").
  EXPLORER: z
    .enum(['graphiql', 'sandbox', 'off', ''])
    .optional()
    .transform((v) => v || undefined),
  INLINE_TRACES: flag(false),
  // Off: `_service { sdl }` composes with @apollo/gateway, Hive Gateway and a Router without GraphOS (docs/supergraph.md).
  AUTH_DIRECTIVES_IN_SDL: flag(false),
  GRAPHQL_EXECUTOR: z
    .enum(['compiled', 'graphql-js', ''])
    .optional()
    .transform((v) => v || 'compiled'),
  GRAPHQL_COMPILE_AFTER_RUNS: int(0, 1_000_000, 1),
  GRAPHQL_COMPILE_BUDGET_MS: int(0, 1_000_000, 100),
  MAX_IDS_PER_OPERATION: int(1, 100_000, 1000),
  MAX_REQUEST_BYTES: int(1024, 64 * 1024 * 1024, 1024 * 1024),
  UPSTREAM_TIMEOUT_MS: int(50, 120_000, 5_000),
  UPSTREAM_MAX_ATTEMPTS: int(1, 10, 3),
  UPSTREAM_MAX_RETRY_WAIT_MS: int(0, 60_000, 2_000),
  UPSTREAM_CONNECTIONS: int(1, 1024, 32),
  UPSTREAM_CIRCUIT_FAILURES: int(1, 1000, 5),
  UPSTREAM_CIRCUIT_COOL_DOWN_MS: int(100, 600_000, 30_000),
  UPSTREAM_MAX_HOLD_MS: int(0, 60_000, 2_000),
  UPSTREAM_MAX_QUEUED_IDS: int(1, 1_000_000, 10_000),
  OPERATION_TIMEOUT_MS: int(100, 300_000, 10_000),
  SHUTDOWN_GRACE_MS: int(0, 600_000, 10_000),
  HTTP_HEADERS_TIMEOUT_MS: int(100, 120_000, 10_000),
  MAX_CONNECTIONS: int(1, 1_000_000, 10_000),
  MAX_OPERATIONS_IN_FLIGHT: int(1, 100_000, 1_000),
  MAX_EVENT_LOOP_DELAY_MS: int(0, 60_000, 1_000),
  GRAPHQL_DOCUMENT_CACHE_ENTRIES: int(0, 100_000, 1_000),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: int(1_000, 600_000, 65_000),
  MAX_LIST_ITEMS_PER_OPERATION: int(1, 1_000_000, 10_000),
  MAX_RESULT_VALUES_PER_OPERATION: int(1, 100_000_000, 100_000),
  MAX_RESULT_VALUES_IN_FLIGHT: int(0, 1_000_000_000, 400_000),
  MAX_QUERY_TOKENS: int(100, 1_000_000, 5_000),
  MAX_QUERY_DEPTH: int(1, 1000, 15),
  MAX_QUERY_ALIASES: int(0, 10_000, 50),
  MAX_QUERY_FIELDS: int(1, 1_000_000, 2_000),
  MAX_ROOT_FIELDS: int(1, 10_000, 20),
  MAX_QUERY_DIRECTIVES: int(0, 10_000, 50),
  MAX_RESPONSE_BYTES: int(1024, 1024 * 1024 * 1024, 16 * 1024 * 1024),
  CACHE_MAX_BYTES: int(0, 64 * 1024 * 1024 * 1024, 64 * 1024 * 1024),
  CACHE_STALE_SECONDS: int(0, 7 * 24 * 3600, 3600),
  CACHE_MISSING_TTL_SECONDS: int(0, 24 * 3600, 60),
  COALESCE_WINDOW_MS: int(0, 1000, 2),
  // May hold a password: never repeated in a message.
  REDIS_URL: secret.pipe(
    z
      .string()
      .regex(/^rediss?:\/\/[^\s]*$/, 'must be a redis:// or rediss:// URL')
      .optional(),
  ),
  REDIS_KEY_PREFIX: z
    .string()
    .optional()
    .transform((v) => v || 'users-subgraph:'),
  REDIS_COMMAND_TIMEOUT_MS: int(10, 60_000, 250),
  // Turns on POST /cache/evict for whoever sends it as a bearer token.
  CACHE_ADMIN_TOKEN: secret.pipe(z.string().min(16, 'must be at least 16 characters').optional()),
});

/** The record cache and coalescing (README, "Sharing upstream calls"). */
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

/** Redis, when `REDIS_URL` is set: what replicas share (README, "Sharing upstream calls"). */
export interface RedisSettings {
  url: string;
  /** Starts every key this deployment writes. */
  keyPrefix: string;
  /** Longest wait for one command before the in-memory path is taken. */
  commandTimeoutMs: number;
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
  /** The headers of callers' own credentials, by provider and role (README, "Per-caller credentials"). */
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
          return [
            [`${name}_CACHE`, flag(true)],
            [`${name}_CACHE_TTL_SECONDS`, int(0, 7 * 24 * 3600, provider.cacheTtlSeconds)],
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

/** Prefixes of this service's variables: one of them that nothing reads is most likely a typo. */
const OWN_PREFIXES = /^(X|TELEGRAM|BITRIX24|NEXUDUS|AUTH|CACHE|REDIS)_/;

/** Every variable the configuration of `providers` reads, each with the schema it is read with, by group. */
export function configurationVariables(providers: readonly Provider[]): ReadonlyArray<{
  group: string;
  variables: ReadonlyArray<readonly [string, z.ZodType]>;
}> {
  return [
    { group: 'Server', variables: variablesOf(settings) },
    { group: 'Access control', variables: variablesOf(authEnv) },
    { group: 'Per-caller credentials', variables: variablesOf(callerHeaderSettings(providers)) },
    { group: 'Record cache per provider', variables: variablesOf(cachingSettings(providers)) },
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
  // not a request for made-up users. Outside production, `npm start` on a fresh clone runs the demo.
  if (parsed.success && !parsed.data.DEMO && configured.length === 0 && production) {
    problems.push(
      'no provider is configured: set the credentials of at least one (X_BEARER_TOKEN, TELEGRAM_API_ID, ' +
        'BITRIX24_WEBHOOK_URL, NEXUDUS_TOKEN…; docs/configuration.md), or DEMO=1 to serve the built-in emulators',
    );
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
    ...(vars.REDIS_URL === undefined
      ? {}
      : { redis: { url: vars.REDIS_URL, keyPrefix: vars.REDIS_KEY_PREFIX, commandTimeoutMs: vars.REDIS_COMMAND_TIMEOUT_MS } }),
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
