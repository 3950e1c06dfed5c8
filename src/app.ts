import type { Logger } from 'pino';
import { SharedLookups } from './batching/shared-lookups.js';
import { type FetchClaims, RedisFetchClaims } from './cache/fetch-claims.js';
import { MemoryCache } from './cache/memory-cache.js';
import type { RecordCache } from './cache/record-cache.js';
import { RedisCache } from './cache/redis-cache.js';
import { RedisOrMemoryCache } from './cache/redis-or-memory-cache.js';
import type { Config } from './config.js';
import { startDemo } from './demo.js';
import { providers } from './providers/registry.js';
import { RedisLink } from './redis/link.js';
import { type RunningServer, startServer } from './server.js';
import { createClients } from './services.js';
import { type Clock, systemClock } from './upstream/clock.js';
import { initProviderMetrics } from './upstream/metrics.js';
import { leaseMsFor } from './upstream/shared-pacer.js';

/**
 * The whole subgraph, assembled from a configuration: the demo's emulators when asked for, one
 * client per configured provider, and the HTTP server. `close()` takes it down in the reverse order.
 */
export interface App {
  url: string;
  server: RunningServer;
  /** Drains and stops (README, "HTTP endpoints"); resolves whether every request finished by itself. */
  close(): Promise<{ drained: boolean }>;
}

export interface StartOptions {
  /** Transports of in-process emulators, by provider name (tests). */
  transports?: ReadonlyMap<string, unknown>;
  /** What the providers' clients time their waits, pacing and tokens on (tests move a manual one). */
  clock?: Clock;
}

/**
 * The layer under every request's loaders (README, "Sharing upstream calls"): the record cache and
 * coalescing. With Redis, the cache is shared by every replica (this process's memory while Redis is
 * lost), its keys under `<REDIS_KEY_PREFIX>cache:`.
 */
function createSharedLookups(config: Config, logger: Logger, clock: Clock = systemClock, redis?: RedisLink): SharedLookups {
  const { sharing } = config;
  const memory = new MemoryCache(sharing.maxBytes, () => clock.wallNow());
  let cache: RecordCache = memory;
  let keyPrefix: string | undefined;
  let claims: FetchClaims | undefined;
  if (redis !== undefined) {
    keyPrefix = redis.key('cache', '');
    const shared = new RedisCache(redis, keyPrefix, () => clock.wallNow());
    cache = new RedisOrMemoryCache(redis, shared, memory, logger.child({ component: 'record-cache' }));
    // A claim lasts about one upstream attempt: shorter than the operations waiting on it (OPERATION_TIMEOUT_MS),
    // so that a replica that died holding one delays the others, never makes them miss their deadline.
    claims = new RedisFetchClaims(redis, keyPrefix, redis.key('claim', ''), leaseMsFor(config.upstream.timeoutMs));
  }
  return new SharedLookups({
    cache,
    ...(keyPrefix === undefined ? {} : { keyPrefix }),
    ...(claims === undefined ? {} : { claims }),
    policy: (provider) => {
      const own = sharing.providers.get(provider.name);
      return {
        // With Redis, CACHE_MAX_BYTES=0 leaves the shared cache alone (no memory path while Redis is lost).
        enabled: (own?.enabled ?? false) && (sharing.maxBytes > 0 || redis !== undefined),
        ttlMs: own?.ttlMs ?? 0,
        missingTtlMs: sharing.missingTtlMs,
        staleMs: sharing.staleMs,
      };
    },
    windowMs: sharing.coalesceWindowMs,
    clock,
    logger,
  });
}

export async function startApp(config: Config, logger: Logger, options: StartOptions = {}): Promise<App> {
  const demo = config.demo ? await startDemo(logger) : undefined;
  const setups = demo?.setups ?? config.providers;
  const redis =
    config.redis && new RedisLink({ ...config.redis, prefix: config.redis.keyPrefix, logger: logger.child({ component: 'redis' }) });
  if (redis !== undefined && (await redis.connect())) logger.info('Redis connected: cache, budgets and tokens shared with every replica');
  const running = await createClients(setups, config.upstream, logger, demo?.transports ?? options.transports, options.clock, redis);
  for (const provider of providers) {
    if (!running.clients.has(provider.id.name)) {
      logger.warn({ provider: provider.id.name }, 'provider not configured: its fields answer PROVIDER_NOT_CONFIGURED');
    }
  }
  initProviderMetrics(providers.map((provider) => provider.id.name));
  const shared = createSharedLookups(config, logger, options.clock, redis);
  const server = await startServer(config, running.clients, logger, { circuits: running.circuits, shared });
  logger.info({ endpoint: `${server.url}/graphql` }, 'users-subgraph ready');
  return {
    url: server.url,
    server,
    async close() {
      const outcome = await server.close(config.shutdownGraceMs);
      await running.close();
      await redis?.close();
      await demo?.close();
      return outcome;
    },
  };
}
