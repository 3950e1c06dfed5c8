import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, ConfigError, knownVariables, loadConfig } from './config.js';
import type { Env } from './core/types.js';
import type { RunningEmulator } from './providers/kit.js';
import { kits } from './providers/kits.js';
import { providers } from './providers/registry.js';

/**
 * The core's own settings, and what the core does with the providers as a whole. Each provider's
 * variables are tested beside its schema (`src/providers/<name>/config.test.ts`); here a provider is
 * only ever "whichever the registry holds", configured through its emulator's variables.
 */

function configError(env: Env): ConfigError {
  try {
    loadConfig(providers, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected a ConfigError for ${Object.keys(env).join(', ')}`);
}

/** The headers of callers' own credentials when no variable renames them (docs/access-control.md, "Per-caller credentials"). */
const DEFAULT_CALLER_HEADERS = new Map<string, Record<string, string>>([
  ['x', { token: 'x-caller-x-token' }],
  ['bitrix24', { token: 'x-caller-bitrix24-token', portal: 'x-caller-bitrix24-portal' }],
]);

/** The variables a problem names: the text before the first colon of each problem line. */
const named = (error: ConfigError) => error.problems.map((p) => p.slice(0, p.indexOf(':')));

type Provider = (typeof providers)[number];
const registry = providers;
const cases = registry.map((provider) => ({ name: provider.id.name, provider }));

/** Every provider's emulator (its test kit's), started once: its variables are a complete, valid configuration of that provider. */
const running = new Map<Provider, RunningEmulator>();
beforeAll(async () => {
  for (const kit of kits) running.set(kit.provider, await kit.start('test'));
});
afterAll(async () => {
  for (const emulator of running.values()) await emulator.close();
});
const envOf = (provider: Provider): Env => running.get(provider)!.env;

describe('loadConfig defaults', () => {
  it('gives the documented defaults for an empty environment, in demo mode with no provider', () => {
    const expected: Config = {
      production: false,
      warnings: [],
      port: 4001,
      host: '0.0.0.0',
      logLevel: 'info',
      demo: true,
      introspection: true,
      explorer: 'graphiql',
      accessDirectivesInSdl: false,
      inlineTraces: false,
      executor: 'compiled',
      compileAfterRuns: 1,
      compileBudgetMs: 100,
      auth: { sharedSecret: undefined, jwt: undefined, enforced: false },
      callerHeaders: DEFAULT_CALLER_HEADERS,
      maxRequestBytes: 1024 * 1024,
      headersTimeoutMs: 10_000,
      keepAliveTimeoutMs: 65_000,
      maxOperationsInFlight: 1000,
      maxConnections: 10_000,
      maxEventLoopDelayMs: 1_000,
      documentCacheEntries: 1000,
      shutdownGraceMs: 10_000,
      sharing: {
        maxBytes: 64 * 1024 * 1024,
        staleMs: 3_600_000,
        missingTtlMs: 60_000,
        coalesceWindowMs: 2,
        providers: new Map([
          ['x', { enabled: true, ttlMs: 900_000 }],
          ['telegram', { enabled: true, ttlMs: 600_000 }],
          ['bitrix24', { enabled: true, ttlMs: 600_000 }],
          ['nexudus', { enabled: true, ttlMs: 600_000 }],
        ]),
      },
      limits: {
        timeoutMs: 10_000,
        maxIdsPerProvider: 1000,
        maxListItems: 10_000,
        maxResultValues: 100_000,
        maxResultValuesInFlight: 400_000,
        maxTokens: 5_000,
        maxDepth: 15,
        maxAliases: 50,
        maxFields: 2_000,
        maxRootFields: 20,
        maxDirectives: 50,
        maxResponseBytes: 16 * 1024 * 1024,
      },
      upstream: {
        timeoutMs: 5_000,
        connections: 32,
        retry: { maxAttempts: 3, maxTotalWaitMs: 2_000, baseDelayMs: 100 },
        circuit: { failures: 5, coolDownMs: 30_000 },
        planner: { maxHoldMs: 2_000, maxQueuedIds: 10_000 },
      },
      providers,
      configured: [],
    };
    expect(loadConfig(providers, {})).toEqual(expected);
  });

  it('treats empty values as unset', () => {
    const config = loadConfig(providers, {
      PORT: '',
      HOST: '',
      LOG_LEVEL: '',
      INTROSPECTION: '',
      MAX_IDS_PER_OPERATION: '',
      MAX_REQUEST_BYTES: '',
      UPSTREAM_TIMEOUT_MS: '',
      UPSTREAM_MAX_ATTEMPTS: '',
      UPSTREAM_MAX_RETRY_WAIT_MS: '',
      UPSTREAM_CONNECTIONS: '',
    });
    expect(config).toEqual(loadConfig(providers, {}));
  });

  it('treats an empty LOG_LEVEL as unset, like every other variable', () => {
    expect(loadConfig(providers, { LOG_LEVEL: '' }).logLevel).toBe('info');
  });

  it('ignores variables it does not know', () => {
    expect(loadConfig(providers, { SOME_OTHER_SETTING: 'anything at all', PATH: '/usr/bin' })).toEqual(loadConfig(providers, {}));
  });

  it("reports variables with this service's prefixes that nothing reads, with the name a typo most likely meant", () => {
    const config = loadConfig(providers, { X_BEARER_TOKN: 'secret-value-1', CACHE_MAX_BYTE: '1', REDIS_CLUSTER: 'x', OTHER_THING: '1' });
    expect(config.warnings).toEqual([
      'CACHE_MAX_BYTE is not a variable of this service (did you mean CACHE_MAX_BYTES?)',
      'REDIS_CLUSTER is not a variable of this service',
      'X_BEARER_TOKN is not a variable of this service (did you mean X_BEARER_TOKEN?)',
    ]);
    // The name only: a mistyped credential's value is still a secret.
    expect(config.warnings.join('\n')).not.toContain('secret-value-1');
  });

  it('knows every variable a provider, the access rules and the caller headers read', () => {
    const known = knownVariables(providers);
    for (const name of [
      'PORT',
      'DEMO',
      'AUTH_SHARED_SECRET_SCOPES',
      'AUTH_DIRECTIVES_IN_SDL',
      'X_CACHE_TTL_SECONDS',
      'X_CALLER_TOKEN_HEADER',
    ]) {
      expect(known, name).toContain(name);
    }
    for (const provider of registry) {
      for (const name of Object.keys(envOf(provider))) expect(known, name).toContain(name);
    }
  });

  it('reads every variable it knows', () => {
    const config = loadConfig(providers, {
      PORT: '8080',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'debug',
      INTROSPECTION: 'false',
      GRAPHQL_EXECUTOR: 'graphql-js',
      GRAPHQL_COMPILE_AFTER_RUNS: '3',
      GRAPHQL_COMPILE_BUDGET_MS: '50',
      MAX_IDS_PER_OPERATION: '50',
      MAX_REQUEST_BYTES: '2048',
      UPSTREAM_TIMEOUT_MS: '750',
      UPSTREAM_MAX_ATTEMPTS: '5',
      UPSTREAM_MAX_RETRY_WAIT_MS: '0',
      UPSTREAM_CONNECTIONS: '8',
      UPSTREAM_CIRCUIT_FAILURES: '3',
      UPSTREAM_CIRCUIT_COOL_DOWN_MS: '1000',
      OPERATION_TIMEOUT_MS: '2500',
      SHUTDOWN_GRACE_MS: '0',
      MAX_LIST_ITEMS_PER_OPERATION: '500',
      MAX_QUERY_TOKENS: '900',
      MAX_QUERY_DEPTH: '7',
      MAX_QUERY_ALIASES: '0',
      MAX_QUERY_FIELDS: '300',
      MAX_ROOT_FIELDS: '4',
      MAX_QUERY_DIRECTIVES: '2',
      MAX_RESPONSE_BYTES: '65536',
      CACHE_MAX_BYTES: '1048576',
      CACHE_STALE_SECONDS: '30',
      CACHE_MISSING_TTL_SECONDS: '5',
      COALESCE_WINDOW_MS: '0',
      UPSTREAM_MAX_HOLD_MS: '1500',
      UPSTREAM_MAX_QUEUED_IDS: '500',
      HTTP_HEADERS_TIMEOUT_MS: '2000',
      HTTP_KEEP_ALIVE_TIMEOUT_MS: '30000',
      MAX_OPERATIONS_IN_FLIGHT: '50',
      MAX_CONNECTIONS: '300',
      MAX_EVENT_LOOP_DELAY_MS: '0',
      MAX_RESULT_VALUES_PER_OPERATION: '5000',
      MAX_RESULT_VALUES_IN_FLIGHT: '20000',
      GRAPHQL_DOCUMENT_CACHE_ENTRIES: '20',
      AUTH_DIRECTIVES_IN_SDL: '1',
    });
    expect(config).toEqual({
      production: false,
      warnings: [],
      accessDirectivesInSdl: true,
      port: 8080,
      host: '127.0.0.1',
      logLevel: 'debug',
      demo: true,
      introspection: false,
      explorer: 'off',
      inlineTraces: false,
      executor: 'graphql-js',
      compileAfterRuns: 3,
      compileBudgetMs: 50,
      auth: { sharedSecret: undefined, jwt: undefined, enforced: false },
      callerHeaders: DEFAULT_CALLER_HEADERS,
      maxRequestBytes: 2048,
      headersTimeoutMs: 2000,
      keepAliveTimeoutMs: 30_000,
      maxOperationsInFlight: 50,
      maxConnections: 300,
      maxEventLoopDelayMs: 0,
      documentCacheEntries: 20,
      shutdownGraceMs: 0,
      sharing: {
        maxBytes: 1048576,
        staleMs: 30_000,
        missingTtlMs: 5_000,
        coalesceWindowMs: 0,
        providers: new Map([
          ['x', { enabled: true, ttlMs: 900_000 }],
          ['telegram', { enabled: true, ttlMs: 600_000 }],
          ['bitrix24', { enabled: true, ttlMs: 600_000 }],
          ['nexudus', { enabled: true, ttlMs: 600_000 }],
        ]),
      },
      limits: {
        timeoutMs: 2500,
        maxIdsPerProvider: 50,
        maxListItems: 500,
        maxResultValues: 5000,
        maxResultValuesInFlight: 20000,
        maxTokens: 900,
        maxDepth: 7,
        maxAliases: 0,
        maxFields: 300,
        maxRootFields: 4,
        maxDirectives: 2,
        maxResponseBytes: 65536,
      },
      upstream: {
        timeoutMs: 750,
        connections: 8,
        retry: { maxAttempts: 5, maxTotalWaitMs: 0, baseDelayMs: 100 },
        circuit: { failures: 3, coolDownMs: 1000 },
        planner: { maxHoldMs: 1500, maxQueuedIds: 500 },
      },
      providers,
      configured: [],
    });
  });

  it('runs operations on graphql-js whenever inline traces are on (they time fields through its resolvers), and refuses an unknown executor', () => {
    expect(loadConfig(providers, { INLINE_TRACES: '1', GRAPHQL_EXECUTOR: 'compiled' }).executor).toBe('graphql-js');
    expect(loadConfig(providers, { INLINE_TRACES: '0' }).executor).toBe('compiled');
    expect(configError({ GRAPHQL_EXECUTOR: 'jit' }).message).toContain('GRAPHQL_EXECUTOR');
  });

  it('accepts the bounds of numeric variables', () => {
    expect(loadConfig(providers, { PORT: '0' }).port).toBe(0);
    expect(loadConfig(providers, { PORT: '65535' }).port).toBe(65535);
    expect(loadConfig(providers, { UPSTREAM_TIMEOUT_MS: '50' }).upstream.timeoutMs).toBe(50);
    expect(loadConfig(providers, { UPSTREAM_TIMEOUT_MS: '120000' }).upstream.timeoutMs).toBe(120_000);
    expect(loadConfig(providers, { MAX_IDS_PER_OPERATION: '1' }).limits.maxIdsPerProvider).toBe(1);
    expect(loadConfig(providers, { MAX_IDS_PER_OPERATION: '100000' }).limits.maxIdsPerProvider).toBe(100_000);
    expect(loadConfig(providers, { MAX_REQUEST_BYTES: '1024' }).maxRequestBytes).toBe(1024);
    expect(loadConfig(providers, { MAX_REQUEST_BYTES: String(64 * 1024 * 1024) }).maxRequestBytes).toBe(64 * 1024 * 1024);
    expect(loadConfig(providers, { UPSTREAM_MAX_ATTEMPTS: '1' }).upstream.retry.maxAttempts).toBe(1);
    expect(loadConfig(providers, { UPSTREAM_MAX_ATTEMPTS: '10' }).upstream.retry.maxAttempts).toBe(10);
    expect(loadConfig(providers, { UPSTREAM_MAX_RETRY_WAIT_MS: '60000' }).upstream.retry.maxTotalWaitMs).toBe(60_000);
    expect(loadConfig(providers, { UPSTREAM_CONNECTIONS: '1' }).upstream.connections).toBe(1);
    expect(loadConfig(providers, { UPSTREAM_CONNECTIONS: '1024' }).upstream.connections).toBe(1024);
  });

  it.each([
    ['1', true],
    ['true', true],
    ['yes', true],
    ['0', false],
    ['false', false],
    ['no', false],
  ])('INTROSPECTION=%s reads as %s', (value, expected) => {
    expect(loadConfig(providers, { INTROSPECTION: value }).introspection).toBe(expected);
  });
});

describe('loadConfig demo mode', () => {
  it('runs the demo with no provider configured outside production, and with DEMO=1 in production', () => {
    for (const env of [{}, { NODE_ENV: 'development' }, { NODE_ENV: 'production', DEMO: '1' }]) {
      const config = loadConfig(providers, env);
      expect(config.demo).toBe(true);
      expect(config.configured).toEqual([]);
    }
  });

  it('refuses a production start with no provider configured, naming what to set', () => {
    const error = configError({ NODE_ENV: 'production' });
    expect(error.problems).toEqual([
      expect.stringMatching(/^no provider is configured: set the credentials of at least one \(X_BEARER_TOKEN, .*DEMO=1/),
    ]);
  });

  it.each(['', '0', 'false', 'no', 'true', 'yes', ' 1'])('refuses DEMO=%j: only 1 or unset', (value) => {
    expect(configError({ DEMO: value }).problems).toEqual(['DEMO: must be 1 (serve the built-in emulators) or unset']);
    expect(configError({ NODE_ENV: 'production', ...envOf(registry[0]!), DEMO: value }).problems).toEqual([
      'DEMO: must be 1 (serve the built-in emulators) or unset',
    ]);
  });

  it.each(cases)('refuses $name with a credential set but empty or blank, naming it and not the others', ({ provider }) => {
    const [credential] = Object.keys(envOf(provider)).filter((name) => /TOKEN|HASH|SECRET|PASSWORD|WEBHOOK|API_ID|USERNAME/.test(name));
    expect(credential, `a credential variable of ${provider.id.name}`).toBeDefined();
    for (const blank of ['', ' ', '\t\n']) {
      const error = configError({ ...envOf(provider), [credential!]: blank });
      expect(error.problems).toEqual([`${credential}: is set but empty: give it a value, or unset it`]);
      // In production too, the blank credential alone: not also "no provider is configured", which it caused.
      expect(configError({ ...envOf(provider), [credential!]: blank, NODE_ENV: 'production' }).problems).toEqual([
        `${credential}: is set but empty: give it a value, or unset it`,
      ]);
    }
  });

  it.each(cases)('does not run the demo once $name is configured, and lists it alone', ({ provider }) => {
    const config = loadConfig(providers, envOf(provider));
    expect(config.demo).toBe(false);
    expect(config.configured.map((p) => p.provider)).toEqual([provider]);
    expect(config.configured[0]?.configured.start).toBeTypeOf('function');
  });

  it('lists every configured provider, in registry order', () => {
    const env = Object.assign({}, ...registry.map(envOf)) as Env;
    const config = loadConfig(providers, env);
    expect(config.demo).toBe(false);
    expect(config.configured.map((p) => p.provider)).toEqual(registry);
  });

  it.each(cases)('DEMO=1 forces the demo with $name configured, keeping its settings', ({ provider }) => {
    const live = loadConfig(providers, envOf(provider));
    const config = loadConfig(providers, { ...envOf(provider), DEMO: '1' });
    expect(config.demo).toBe(true);
    expect(config.configured.map((p) => p.provider)).toEqual(live.configured.map((p) => p.provider));
  });

  it.each(cases)('$name configured in production is live, and introspection is off there unless asked for', ({ provider }) => {
    const config = loadConfig(providers, { ...envOf(provider), NODE_ENV: 'production' });
    expect(config).toMatchObject({ demo: false, production: true, introspection: false, explorer: 'off' });
  });
});

describe('loadConfig errors', () => {
  const invalid: Array<[string, string]> = [
    ['PORT', 'abc'],
    ['PORT', '-1'],
    ['PORT', '65536'],
    ['PORT', '80.5'],
    ['MAX_IDS_PER_OPERATION', '0'],
    ['MAX_IDS_PER_OPERATION', '100001'],
    ['MAX_IDS_PER_OPERATION', 'lots'],
    ['MAX_REQUEST_BYTES', '1023'],
    ['MAX_REQUEST_BYTES', '1MB'],
    ['UPSTREAM_TIMEOUT_MS', '49'],
    ['UPSTREAM_TIMEOUT_MS', '120001'],
    ['UPSTREAM_TIMEOUT_MS', '5s'],
    ['UPSTREAM_MAX_ATTEMPTS', '0'],
    ['UPSTREAM_MAX_ATTEMPTS', '11'],
    ['UPSTREAM_MAX_RETRY_WAIT_MS', '60001'],
    ['UPSTREAM_CONNECTIONS', '0'],
    ['UPSTREAM_CONNECTIONS', '1025'],
    ['UPSTREAM_MAX_HOLD_MS', '60001'],
    ['UPSTREAM_MAX_HOLD_MS', '2s'],
    ['UPSTREAM_MAX_HOLD_MS', '-1'],
    ['UPSTREAM_MAX_QUEUED_IDS', '0'],
    ['UPSTREAM_MAX_QUEUED_IDS', 'lots'],
    ['DEMO', 'maybe'],
    ['DEMO', 'on'],
    ['INTROSPECTION', 'maybe'],
    ['LOG_LEVEL', 'verbose'],
    ['LOG_LEVEL', 'INFO'],
  ];

  it.each(invalid)('names %s (value %j) in the message, and only it', (name, value) => {
    const error = configError({ [name]: value });
    expect(error.name).toBe('ConfigError');
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toMatch(/^Invalid configuration:/);
    expect(error.message).toContain(`${name}: `);
    expect(named(error)).toEqual([name]);
  });

  it('refuses an UPSTREAM_MAX_HOLD_MS at or above OPERATION_TIMEOUT_MS, naming both and neither value', () => {
    for (const [hold, timeout] of [
      ['10000', undefined],
      ['4000', '4000'],
      ['60000', '5000'],
    ] as const) {
      const error = configError({ UPSTREAM_MAX_HOLD_MS: hold, ...(timeout === undefined ? {} : { OPERATION_TIMEOUT_MS: timeout }) });
      expect(named(error)).toEqual(['UPSTREAM_MAX_HOLD_MS']);
      expect(error.problems[0]).toContain('OPERATION_TIMEOUT_MS');
      for (const value of [hold, timeout ?? '10000']) expect(error.message).not.toContain(value);
    }
    expect(loadConfig(providers, { UPSTREAM_MAX_HOLD_MS: '3999', OPERATION_TIMEOUT_MS: '4000' }).upstream.planner.maxHoldMs).toBe(3999);
    expect(loadConfig(providers, { UPSTREAM_MAX_HOLD_MS: '0', OPERATION_TIMEOUT_MS: '100' }).upstream.planner.maxHoldMs).toBe(0);
  });

  it.each(cases)('names PORT alone with $name configured', ({ provider }) => {
    const error = configError({ ...envOf(provider), PORT: 'abc' });
    expect(named(error)).toEqual(['PORT']);
  });

  it('says what is wrong with a numeric value', () => {
    expect(configError({ PORT: '65536' }).problems).toEqual(['PORT: must be at most 65535']);
    expect(configError({ UPSTREAM_TIMEOUT_MS: '10' }).problems).toEqual(['UPSTREAM_TIMEOUT_MS: must be at least 50']);
    expect(configError({ MAX_IDS_PER_OPERATION: 'lots' }).problems).toEqual([
      'MAX_IDS_PER_OPERATION: must be a whole number from 1 to 100000',
    ]);
  });

  it('reports several problems together', () => {
    const error = configError({
      PORT: 'abc',
      MAX_IDS_PER_OPERATION: '0',
      UPSTREAM_TIMEOUT_MS: '10',
      UPSTREAM_CONNECTIONS: '0',
      DEMO: 'maybe',
      LOG_LEVEL: 'verbose',
    });
    expect(new Set(named(error))).toEqual(
      new Set(['PORT', 'MAX_IDS_PER_OPERATION', 'UPSTREAM_TIMEOUT_MS', 'UPSTREAM_CONNECTIONS', 'DEMO', 'LOG_LEVEL']),
    );
    expect(error.problems).toHaveLength(6);
    for (const problem of error.problems) expect(error.message).toContain(`  - ${problem}`);
  });

  it('never repeats an invalid value in the message', () => {
    const values: Env = {
      PORT: 'v4lu3PORT',
      MAX_IDS_PER_OPERATION: 'v4lu3MAX',
      MAX_REQUEST_BYTES: 'v4lu3BYTES',
      UPSTREAM_TIMEOUT_MS: 'v4lu3TIMEOUT',
      UPSTREAM_MAX_ATTEMPTS: 'v4lu3ATTEMPTS',
      UPSTREAM_MAX_RETRY_WAIT_MS: 'v4lu3WAIT',
      UPSTREAM_CONNECTIONS: 'v4lu3CONNECTIONS',
      DEMO: 'v4lu3DEMO',
      INTROSPECTION: 'v4lu3INTROSPECTION',
      LOG_LEVEL: 'v4lu3LOG',
    };
    const error = configError(values);
    expect(error.problems).toHaveLength(10);
    for (const text of [error.message, String(error.stack), JSON.stringify(error), ...error.problems]) {
      expect(text).not.toContain('v4lu3');
    }
  });

  // Every value of the provider's variables garbled (a space, a non-ASCII character): at least one of
  // them is then refused by the provider's schema, and reported with the core's own problem.
  it.each(cases)("reports $name's problems together with the core's, naming only variables", ({ provider }) => {
    const providerVariables = Object.keys(envOf(provider));
    const garbled = Object.fromEntries(providerVariables.map((name) => [name, `g4rbl3d ${name} \u00e9`]));
    const error = configError({ ...garbled, PORT: 'abc' });
    const names = named(error);
    expect(names).toContain('PORT');
    expect(names.filter((name) => name !== 'PORT').length).toBeGreaterThan(0);
    for (const name of names) expect(['PORT', ...providerVariables]).toContain(name);
    for (const text of [error.message, String(error.stack), JSON.stringify(error), ...error.problems]) {
      expect(text).not.toContain('g4rbl3d');
    }
  });
});

describe('Redis as users run it', () => {
  const redis = (env: Env) => loadConfig(providers, env).redis;

  it('one node from REDIS_URL, a Cluster from REDIS_CLUSTER_NODES, a master through REDIS_SENTINELS', () => {
    expect(redis({ REDIS_URL: 'rediss://:pw@cache.internal:6380' })?.topology).toEqual({
      kind: 'node',
      url: 'rediss://:pw@cache.internal:6380',
    });
    expect(
      redis({ REDIS_CLUSTER_NODES: 'r1.internal:7000, 10.0.0.2:7001,[::1]:7002', REDIS_PASSWORD: 'cluster-pass', REDIS_TLS: '1' })
        ?.topology,
    ).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'r1.internal', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: '::1', port: 7002 },
      ],
      password: 'cluster-pass',
      tls: true,
    });
    expect(
      redis({ REDIS_SENTINELS: 's1:26379,s2:26379', REDIS_SENTINEL_NAME: 'users', REDIS_USERNAME: 'app', REDIS_SENTINEL_PASSWORD: 'sp' })
        ?.topology,
    ).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
      ],
      name: 'users',
      username: 'app',
      sentinelPassword: 'sp',
      tls: false,
    });
    expect(redis({})).toBeUndefined();
  });

  it('claims, windows and records wait out a failover (REDIS_FAILOVER_WAIT_MS) only where there is one: a Cluster or Sentinel', () => {
    expect(redis({ REDIS_URL: 'redis://a:6379' })?.failoverWaitMs).toBe(0);
    expect(redis({ REDIS_CLUSTER_NODES: 'a:7000' })?.failoverWaitMs).toBe(3_000);
    expect(redis({ REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_NAME: 'm', REDIS_FAILOVER_WAIT_MS: '500' })?.failoverWaitMs).toBe(500);
  });

  it.each([
    [
      { REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: 'b:7000' },
      'REDIS_CLUSTER_NODES: set one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS',
    ],
    [{ REDIS_SENTINELS: 's1:26379' }, 'REDIS_SENTINEL_NAME: is required with REDIS_SENTINELS'],
    [{ REDIS_SENTINEL_NAME: 'users' }, 'REDIS_SENTINEL_NAME: is set but REDIS_SENTINELS is not'],
    [{ REDIS_URL: 'redis://a:6379', REDIS_PASSWORD: 'secret-pw-1' }, 'REDIS_PASSWORD: goes in REDIS_URL itself'],
    [{ REDIS_PASSWORD: 'secret-pw-1' }, 'REDIS_PASSWORD: is set but no Redis is'],
    [{ REDIS_CLUSTER_NODES: 'no-port' }, 'REDIS_CLUSTER_NODES.0: must be comma-separated host:port'],
    [{ REDIS_CLUSTER_NODES: 'a:7000', REDIS_PASSWORD: ' ' }, 'REDIS_PASSWORD: is set but empty'],
    [{ REDIS_URL: 'redis://a:6379', REDIS_KEY_PREFIX: 'app{1}:' }, 'REDIS_KEY_PREFIX: must not contain { or }'],
  ])('refuses %j, naming the variable and never a password', (env, message) => {
    const error = configError(env as Env);
    expect(error.problems.join('\n')).toContain(message);
    expect(error.message).not.toContain('secret-pw-1');
  });
});
