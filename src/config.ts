import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { flag, int, problemsOf } from './env.js';
import type { AnyProvider, ConfigIO, Env, ProviderDefinition } from './providers/provider.js';
import { providers } from './providers/registry.js';

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
  DEMO: flag(false),
  INTROSPECTION: flag(true),
  MAX_IDS_PER_OPERATION: int(1, 100_000, 1000),
  MAX_REQUEST_BYTES: int(1024, 64 * 1024 * 1024, 1024 * 1024),
  UPSTREAM_TIMEOUT_MS: int(50, 120_000, 5_000),
  UPSTREAM_MAX_ATTEMPTS: int(1, 10, 3),
  UPSTREAM_MAX_RETRY_WAIT_MS: int(0, 60_000, 2_000),
  UPSTREAM_CONNECTIONS: int(1, 1024, 32),
});

/** How every provider talks to its upstream: one set of settings, each provider's client reads them. */
export interface UpstreamSettings {
  timeoutMs: number;
  connections: number;
  retry: { maxAttempts: number; maxTotalWaitMs: number; baseDelayMs: number };
}

/** A provider whose credentials are set, with its parsed configuration. */
export interface ProviderSetup {
  definition: AnyProvider;
  config: unknown;
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
  /** The configured providers, in registry order; a provider absent here answers PROVIDER_NOT_CONFIGURED. */
  providers: readonly ProviderSetup[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const realIO: ConfigIO = { readFile: (path) => readFileSync(path, 'utf8'), exists: existsSync };

export function loadConfig(env: Env = process.env, io: Partial<ConfigIO> = {}): Config {
  const fullIO = { ...realIO, ...io };
  const problems: string[] = [];
  const parsed = settings.safeParse(env);
  if (!parsed.success) problems.push(...problemsOf(parsed.error));

  const configured: ProviderSetup[] = [];
  for (const definition of providers) {
    const outcome = configureProvider(definition, env, fullIO);
    if (outcome instanceof ConfigError) problems.push(...outcome.problems);
    else if (outcome !== undefined) configured.push({ definition, config: outcome });
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);

  const vars = parsed.data;
  return {
    port: vars.PORT,
    host: vars.HOST,
    logLevel: vars.LOG_LEVEL,
    // With no provider configured there is nothing to serve but the demo (README, "Run it").
    demo: vars.DEMO || configured.length === 0,
    introspection: vars.INTROSPECTION,
    maxIdsPerOperation: vars.MAX_IDS_PER_OPERATION,
    maxRequestBytes: vars.MAX_REQUEST_BYTES,
    upstream: {
      timeoutMs: vars.UPSTREAM_TIMEOUT_MS,
      connections: vars.UPSTREAM_CONNECTIONS,
      retry: { maxAttempts: vars.UPSTREAM_MAX_ATTEMPTS, maxTotalWaitMs: vars.UPSTREAM_MAX_RETRY_WAIT_MS, baseDelayMs: 100 },
    },
    providers: configured,
  };
}

/** One provider's variables through its schema: its config, `undefined` (not configured), or the problems. */
export function configureProvider(definition: AnyProvider, env: Env, io: ConfigIO = realIO): unknown {
  const result = definition.config(io).safeParse(env);
  return result.success ? result.data : new ConfigError(problemsOf(result.error));
}

/** The configuration of `definition` within `config`, typed; `undefined` when it is not configured. */
// biome-ignore lint/suspicious/noExplicitAny: only the config type matters here.
export function providerConfig<C>(config: Config, definition: ProviderDefinition<string, C, any, any>): C | undefined {
  return config.providers.find((p) => p.definition === definition)?.config as C | undefined;
}
