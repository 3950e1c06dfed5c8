import type { TestProject } from 'vitest/node';
import { startOwnSentinel } from '../../src/testing/redis-topologies.js';

/**
 * The project `sharing on Sentinel` (vitest.config.ts): the sharing suite on a Sentinel-managed master of its
 * own (a master, its replica and three Sentinels on free loopback ports, src/testing/redis-topologies.ts),
 * provided to the project's test files (redis-topology-setup.ts) and killed, its temp dir removed, when the run
 * ends.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const sentinel = await startOwnSentinel();
  project.provide('sharedRedisTopology', { kind: 'sentinel', sentinels: sentinel.sentinels, name: sentinel.name, tls: false });
  return () => sentinel.close();
}
