import DataLoader from 'dataloader';
import type { Logger } from 'pino';
import { batchFailure, ProviderError } from '../core/errors.js';
import type { ProviderId } from '../core/types.js';

/**
 * The answers for a batch of distinct keys, keyed by the (normalized) key they answer. Order and
 * completeness are not assumed: a key absent from the map was not found.
 */
export type FetchBatch<V> = (keys: readonly string[]) => Promise<Map<string, V | ProviderError>>;

export interface BatchLoaderOptions<V> {
  provider: ProviderId;
  /** Most keys one `fetch` takes; larger batches are split. Unbounded unless given (the shared layer chunks). */
  maxBatchSize?: number;
  fetch: FetchBatch<V>;
  /** Keys that name the same record (usernames that differ only in case) share one cache entry. */
  cacheKey?: (key: string) => string;
  logger: Logger;
}

/**
 * A DataLoader around one provider lookup for one request: every `load(key)` made in the same tick
 * becomes one `fetch` of its distinct keys, a repeated key is asked once per request, and each key
 * gets its own record or its own `ProviderError`, so one missing id, or one failed call, never sinks
 * the rest.
 */
export function createBatchLoader<V>(options: BatchLoaderOptions<V>): DataLoader<string, V, string> {
  const { provider, fetch, logger } = options;
  const cacheKey = options.cacheKey ?? ((key: string) => key);

  async function batch(keys: readonly string[]): Promise<Array<V | ProviderError>> {
    let found: Map<string, V | ProviderError>;
    try {
      found = await fetch(keys);
    } catch (error) {
      // A whole-call failure (rate limit, outage, credentials, or a bug) is reported at every key it covered.
      const failure = batchFailure(error, provider, logger);
      return keys.map((key) => failure.forId(key));
    }
    return keys.map((key) => found.get(cacheKey(key)) ?? new ProviderError({ code: 'NOT_FOUND', provider, id: key }));
  }

  return new DataLoader<string, V, string>(batch, { maxBatchSize: options.maxBatchSize ?? Number.POSITIVE_INFINITY, cacheKeyFn: cacheKey });
}
