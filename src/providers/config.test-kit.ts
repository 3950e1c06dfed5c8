import type { z } from 'zod';
import { type Config, ConfigError } from '../config.js';
import { problemsOf } from '../core/env.js';
import type { ConfigIO, Env } from '../core/types.js';
import type { Provider } from './provider.js';

/**
 * What a provider's configuration tests use: its own schema over an environment, typed by its config
 * (a `Provider` keeps its config inside). Not part of the build (`*.test-kit.ts`).
 */

/** The provider's config from `env`, `undefined` when none of its credentials are set, or the ConfigError. */
export function configureWith<C>(
  schema: (io: ConfigIO) => z.ZodType<C | undefined, Env>,
  env: Env,
  io: ConfigIO,
): C | undefined | ConfigError {
  const result = schema(io).safeParse(env);
  return result.success ? result.data : new ConfigError(problemsOf(result.error));
}

/** The config `loadConfig` took for `provider`: `undefined` unless `config` lists it configured. */
export function configIn<C>(
  config: Config,
  provider: Provider,
  schema: (io: ConfigIO) => z.ZodType<C | undefined, Env>,
  env: Env,
  io: ConfigIO,
): C | undefined {
  if (!config.configured.some((setup) => setup.provider === provider)) return undefined;
  const outcome = configureWith(schema, env, io);
  if (outcome instanceof ConfigError) throw outcome;
  return outcome;
}
