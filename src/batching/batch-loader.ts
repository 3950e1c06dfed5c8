import DataLoader from 'dataloader';
import type { Logger } from 'pino';
import type { ProviderId } from '../providers/provider.js';
import { ProviderError } from '../upstream/errors.js';
import { upstreamBatchSize } from '../upstream/metrics.js';

/**
 * One upstream "get many by id" call, as a provider implements it: given distinct keys (at most
 * `maxBatchSize`), one call upstream, and what came back keyed by the key it answers. Order and
 * completeness are not assumed: a key absent from the map was not found.
 */
export type FetchBatch<V> = (keys: readonly string[]) => Promise<Map<string, V | ProviderError>>;

export interface BatchLoaderOptions<V> {
  provider: ProviderId;
  /** Most keys one upstream call takes; larger batches are split into calls of this size. */
  maxBatchSize: number;
  fetch: FetchBatch<V>;
  /** Keys that name the same record (usernames that differ only in case) share one cache entry. */
  cacheKey?: (key: string) => string;
  logger: Logger;
}

/**
 * A DataLoader around one provider lookup: every `load(key)` made in the same tick of one request
 * becomes ceil(distinct keys / maxBatchSize) upstream calls, a repeated key is fetched once per
 * request, and each key gets its own record or its own `ProviderError`, so one missing id, or one
 * failed chunk, never sinks the rest.
 */
export function createBatchLoader<V>(options: BatchLoaderOptions<V>): DataLoader<string, V, string> {
  const { provider, fetch, logger } = options;
  const cacheKey = options.cacheKey ?? ((key: string) => key);

  async function batch(keys: readonly string[]): Promise<Array<V | ProviderError>> {
    upstreamBatchSize.observe({ provider: provider.name }, keys.length);
    let found: Map<string, V | ProviderError>;
    try {
      found = await fetch(keys);
    } catch (error) {
      // A whole-call failure (rate limit, outage, credentials) is reported at every key it covered.
      // A ProviderError is an upstream's answer; anything else is a bug here, logged with its stack so
      // that it is not mistaken for an outage, and answered as one (the caller can do nothing else).
      if (!(error instanceof ProviderError))
        logger.error({ provider: provider.name, err: error }, 'batch function failed: a bug, not an upstream answer');
      const failure = error instanceof ProviderError ? error : new ProviderError({ code: 'UPSTREAM_UNAVAILABLE', provider });
      return keys.map((key) => failure.forId(key));
    }
    return keys.map((key) => found.get(cacheKey(key)) ?? new ProviderError({ code: 'NOT_FOUND', provider, id: key }));
  }

  return new DataLoader<string, V, string>(batch, { maxBatchSize: options.maxBatchSize, cacheKeyFn: cacheKey });
}
