import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // graphql 16 ships CJS (`main`) and ESM (`module`). Node loads the CJS build for everyone, Apollo
    // included; Vite would hand our code the ESM build, and two graphql instances refuse each other's
    // schemas ("from another module or realm"). Point Vite at the build Node uses.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    // A redis-server of the run's own (src/testing/redis.ts), never one that happens to answer on this machine.
    globalSetup: ['./test/support/redis-global-setup.ts'],
    // Servers and emulators bind loopback ports; 2 cores, so keep parallelism modest.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
