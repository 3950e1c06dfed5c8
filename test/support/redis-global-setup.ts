import { startOwnRedis } from '../../src/testing/redis.js';

/**
 * One redis-server for the whole test run, on a free loopback port, without persistence: the tests that
 * share state between replicas use it (each under a key prefix of its own, `SHARED_REDIS_URL`), whatever
 * else runs on this machine. Its URL reaches every test worker through TEST_REDIS_URL; it is killed when
 * the run ends. Tests that lose Redis on purpose start one of their own. A TEST_REDIS_URL already set
 * points the run at that Redis instead (never one that merely happens to be running).
 */
export default async function setup(): Promise<() => Promise<void>> {
  if (process.env.TEST_REDIS_URL) return async () => {};
  const redis = await startOwnRedis();
  process.env.TEST_REDIS_URL = redis.url;
  process.env.TEST_REDIS_STARTED = '1';
  return () => redis.close();
}
