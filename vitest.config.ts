import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

/**
 * The sharing suite: the tests of what replicas share through Redis, on `SHARED_REDIS_TOPOLOGY`
 * (src/testing/redis.ts). They run in the default project on the run's one redis-server, and again in a
 * project of their own for each other topology users run (docs/sharing.md): a Cluster, and a master behind
 * Sentinels.
 */
const SHARING_SUITE = [
  'src/batching/replica-claims.test.ts',
  'src/cache/claim-watch.test.ts',
  'src/cache/redis-cache.test.ts',
  'src/upstream/call-budget.test.ts',
  'src/upstream/rate-budget.test.ts',
  'src/upstream/shared-queue.test.ts',
  'src/upstream/shared-pacer.test.ts',
  'src/upstream/shared-token.test.ts',
  'src/upstream/token-store.test.ts',
  'test/sharing/cached-record-checks.test.ts',
  'test/sharing/replicas.test.ts',
  'test/sharing/upstream-accounts.test.ts',
  // Its Redis part only (corrupted cache entries): its other two parts run in the default project alone.
  'test/fuzz-faults.test.ts',
];

export default defineConfig({
  resolve: {
    // graphql 16 ships CJS (`main`) and ESM (`module`). Node loads the CJS build for everyone, Apollo
    // included; Vite would hand our code the ESM build, and two graphql instances refuse each other's
    // schemas ("from another module or realm"). Point Vite at the build Node uses.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    // A redis-server of the run's own (src/testing/redis.ts), never one that happens to answer on this machine.
    globalSetup: ['./test/support/redis-global-setup.ts'],
    // Servers and emulators bind loopback ports; 2 cores, so keep parallelism modest.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 20_000,
    hookTimeout: 20_000,
    projects: [
      // Every test, the sharing suite on the run's one redis-server.
      { extends: true, test: { name: 'default', include: ['src/**/*.test.ts', 'test/**/*.test.ts'] } },
      // The sharing suite again on a Cluster (three masters, three replicas) and on Sentinel, each started by the
      // project's global setup and handed to its test files only (test/support/redis-topology-setup.ts).
      {
        extends: true,
        test: {
          name: 'sharing on Cluster',
          include: SHARING_SUITE,
          globalSetup: ['./test/support/redis-cluster-global-setup.ts'],
          setupFiles: ['./test/support/redis-topology-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'sharing on Sentinel',
          include: SHARING_SUITE,
          globalSetup: ['./test/support/redis-sentinel-global-setup.ts'],
          setupFiles: ['./test/support/redis-topology-setup.ts'],
        },
      },
    ],
  },
});
