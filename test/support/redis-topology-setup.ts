import { inject } from 'vitest';
import type { RedisTopology } from '../../src/core/settings.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The Cluster or Sentinel set the project's global setup started (redis-cluster-global-setup.ts, redis-sentinel-global-setup.ts). */
    sharedRedisTopology: RedisTopology;
  }
}

/**
 * In each test file of the projects `sharing on Cluster` and `sharing on Sentinel` (vitest.config.ts), before it
 * is imported: TEST_REDIS_TOPOLOGY names the topology the project's global setup started, for
 * `SHARED_REDIS_TOPOLOGY` (src/testing/redis.ts). Provided to the project, not put in the run's environment:
 * the other projects' workers, forked from the same process, keep the run's one redis-server.
 */
process.env.TEST_REDIS_TOPOLOGY = JSON.stringify(inject('sharedRedisTopology'));
