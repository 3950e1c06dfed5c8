import { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { SHARED_REDIS_URL } from './redis.js';

it("the tests' Redis is the run's own redis-server, not one that happens to answer at 6379", async () => {
  expect(process.env.TEST_REDIS_URL).toBeDefined();
  expect(SHARED_REDIS_URL).toBe(process.env.TEST_REDIS_URL);
  expect(new URL(SHARED_REDIS_URL).port).not.toBe('6379');
  const client = new Redis(SHARED_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  expect(await client.ping()).toBe('PONG');
  // A run's server keeps nothing on disk.
  expect(await client.config('GET', 'save')).toEqual(['save', '']);
  client.disconnect();
});
