import { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { MISSING_REDIS_SERVER, SHARED_REDIS_URL, startOwnRedis } from './redis.js';

// A TEST_REDIS_URL given to the run is the operator's choice; only a Redis the run started is checked for being its own.
it.skipIf(!process.env.TEST_REDIS_STARTED)(
  "the tests' Redis is the run's own redis-server, not one that happens to answer at 6379",
  async () => {
    expect(process.env.TEST_REDIS_URL).toBeDefined();
    expect(SHARED_REDIS_URL).toBe(process.env.TEST_REDIS_URL);
    expect(new URL(SHARED_REDIS_URL).port).not.toBe('6379');
    const client = new Redis(SHARED_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
    expect(await client.ping()).toBe('PONG');
    // A run's server keeps nothing on disk.
    expect(await client.config('GET', 'save')).toEqual(['save', '']);
    client.disconnect();
  },
);

it('a machine without redis-server is told so, by name, with how to install it', async () => {
  await expect(startOwnRedis({ command: 'redis-server-that-is-not-installed' })).rejects.toThrow(MISSING_REDIS_SERVER);
  expect(MISSING_REDIS_SERVER).toMatch(/^redis-server is not installed .*apt-get install redis-server/);
});
