import type { Logger } from 'pino';
import type { CachePolicy } from './batching/cache-triage.js';
import { SharedLookups } from './batching/shared-lookups.js';
import { type FetchClaims, RedisFetchClaims } from './cache/fetch-claims.js';
import { MemoryCache } from './cache/memory-cache.js';
import type { RecordCache } from './cache/record-cache.js';
import { RedisCache } from './cache/redis-cache.js';
import { RedisOrMemoryCache } from './cache/redis-or-memory-cache.js';
import type { Config } from './config.js';
import { type Clock, systemClock } from './core/clock.js';
import { startDemo } from './demo.js';
import { type RunningServer, startServer } from './http/server.js';
import { RedisLink } from './redis/link.js';
import { createClients } from './services.js';
import { demoServed, initProviderMetrics, observeMemoryCache } from './telemetry/metrics.js';
import { leaseMsFor } from './upstream/shared-pacer.js';

/**
 * The whole subgraph, assembled from a configuration: the demo's emulators when asked for, one
 * client per configured provider, and the HTTP server. `close()` takes it down in the reverse order.
 */
export interface App {
  url: string;
  server: RunningServer;
  /** Drains and stops (docs/operations.md, "HTTP endpoints"); resolves whether every request finished by itself. */
  close(): Promise<{ drained: boolean }>;
}

export interface StartOptions {
  /** Transports of in-process emulators, by provider name (tests). */
  transports?: ReadonlyMap<string, unknown>;
  /** What the providers' clients time their waits, pacing and tokens on (tests move a manual one). */
  clock?: Clock;
}

/**
 * The layer under every request's loaders (docs/sharing.md, "Sharing upstream calls"): the record cache and
 * coalescing. With Redis, the cache is shared by every replica (this process's memory while Redis is
 * lost), its keys under `<REDIS_KEY_PREFIX>cache:`.
 */
function createSharedLookups(config: Config, logger: Logger, clock: Clock = systemClock, redis?: RedisLink): SharedLookups {
  const { sharing } = config;
  const memory = new MemoryCache(sharing.maxBytes, () => clock.wallNow());
  observeMemoryCache(() => memory.size);
  let cache: RecordCache = memory;
  let keyPrefix: string | undefined;
  let claims: FetchClaims | undefined;
  if (redis !== undefined) {
    keyPrefix = redis.key('cache', '');
    const shared = new RedisCache(redis, keyPrefix, () => clock.wallNow());
    cache = new RedisOrMemoryCache(redis, shared, memory);
    // A claim lasts about one upstream attempt: shorter than the operations waiting on it (OPERATION_TIMEOUT_MS),
    // so that a replica that died holding one delays the others, never makes them miss their deadline.
    // A claimed key may wait up to UPSTREAM_MAX_HOLD_MS for its call to fill before it goes: the lease covers that too.
    const leaseMs = leaseMsFor(config.upstream.timeoutMs) + config.upstream.planner.maxHoldMs;
    claims = new RedisFetchClaims(redis, keyPrefix, redis.key('claim', ''), leaseMs);
  }
  // Each provider's policy, made once: it is asked for every batch and every answer.
  const policies = new Map<string, CachePolicy>();
  for (const [name, own] of sharing.providers) {
    policies.set(name, {
      // With Redis, CACHE_MAX_BYTES=0 leaves the shared cache alone (no memory path while Redis is lost).
      enabled: own.enabled && (sharing.maxBytes > 0 || redis !== undefined),
      ttlMs: own.ttlMs,
      missingTtlMs: sharing.missingTtlMs,
      staleMs: sharing.staleMs,
    });
  }
  const OFF: CachePolicy = { enabled: false, ttlMs: 0, missingTtlMs: 0, staleMs: 0 };
  return new SharedLookups({
    cache,
    ...(keyPrefix === undefined ? {} : { keyPrefix }),
    ...(claims === undefined ? {} : { claims }),
    policy: (provider) => policies.get(provider.name) ?? OFF,
    windowMs: sharing.coalesceWindowMs,
    hold: { maxHoldMs: config.upstream.planner.maxHoldMs, maxQueuedKeys: config.upstream.planner.maxQueuedIds },
    clock,
    logger,
  });
}

export async function startApp(config: Config, logger: Logger, options: StartOptions = {}): Promise<App> {
  // What has been started so far, closed again should a later step fail: a Redis link reconnects forever,
  // and would keep a process (or a test run) alive that failed to start.
  const started: Array<() => Promise<unknown>> = [];
  try {
    // A typo in a variable name would otherwise pass unseen: the provider it meant simply stays off.
    for (const warning of config.warnings) logger.warn(warning);
    const demo = config.demo ? await startDemo(logger) : undefined;
    demoServed.set(demo === undefined ? 0 : 1);
    if (demo !== undefined) started.unshift(() => demo.close());
    const setups = demo?.setups ?? config.configured;
    const redis =
      config.redis && new RedisLink({ ...config.redis, prefix: config.redis.keyPrefix, logger: logger.child({ component: 'redis' }) });
    if (redis !== undefined) started.unshift(() => redis.close());
    if (redis !== undefined && (await redis.connect())) logger.info('Redis connected: cache, budgets and tokens shared with every replica');
    const running = await createClients(setups, config.upstream, logger, demo?.transports ?? options.transports, options.clock, redis);
    started.unshift(() => running.close());
    for (const provider of config.providers) {
      if (!running.started.has(provider.id.name)) {
        logger.warn({ provider: provider.id.name }, 'provider not configured: its fields answer PROVIDER_NOT_CONFIGURED');
      }
    }
    initProviderMetrics(config.providers.map((provider) => provider.id.name));
    const shared = createSharedLookups(config, logger, options.clock, redis);
    const server = await startServer(config, running.runtime, logger, { circuits: running.circuits, budgets: running.budgets, shared });
    logger.info({ endpoint: `${server.url}/graphql` }, 'users-subgraph ready');
    return {
      url: server.url,
      server,
      async close() {
        const outcome = await server.close(config.shutdownGraceMs);
        for (const close of started) await close();
        return outcome;
      },
    };
  } catch (error) {
    for (const close of started) await close().catch(() => {});
    throw error;
  }
}
