import type { TestProject } from 'vitest/node';
import { startOwnCluster } from '../../src/testing/redis-topologies.js';

/**
 * The project `sharing on Cluster` (vitest.config.ts): the sharing suite on a Redis Cluster of its own, three
 * masters and three replicas on free loopback ports (src/testing/redis-topologies.ts), provided to the project's
 * test files (redis-topology-setup.ts) and killed, its temp dir removed, when the run ends.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cluster = await startOwnCluster();
  project.provide('sharedRedisTopology', { kind: 'cluster', nodes: cluster.startupNodes, tls: false });
  return () => cluster.close();
}
