import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisLink } from '../redis/link.js';
import { deleteKeysUnder, type OwnRedis, SHARED_REDIS_URL, startOwnRedis, uniquePrefix } from '../testing/redis.js';
import type { CacheEntry } from './entry.js';
import { MemoryCache } from './memory-cache.js';
import { RedisCache } from './redis-cache.js';
import { RedisOrMemoryCache } from './redis-or-memory-cache.js';

/**
 * The record cache with Redis and a memory path, against a redis-server of this test's own that it
 * kills and starts again mid-way: every read and write keeps answering, from memory while Redis is
 * gone, from Redis again once the link is back. Waits are on the link's own events, never on guessed
 * sleeps.
 */

const silent = pino({ level: 'silent' });
const now = Date.UTC(2025, 0, 1);

function entry(id: string): CacheEntry {
  return { record: { id }, fields: ['a'], freshUntil: now + 60_000, staleUntil: now + 120_000 };
}

/** Entries as read, without when they were written (Redis keeps it, this process's memory does not). */
/** What was read, without when it was written nor whether it came from Redis (`shared`). */
function timeless(entries: ReadonlyArray<CacheEntry | undefined>): Array<CacheEntry | undefined> {
  return entries.map((read) => {
    if (read === undefined) return undefined;
    const { at: _at, shared: _shared, ...rest } = read;
    return rest;
  });
}

interface Setup {
  link: RedisLink;
  memory: MemoryCache;
  cache: RedisOrMemoryCache;
  ns: string;
  /** The test's own view of the same Redis. */
  admin: Redis;
}

async function setUp(url: string): Promise<Setup> {
  const link = new RedisLink({ url, prefix: uniquePrefix('fallback-cache'), commandTimeoutMs: 500, logger: silent });
  await link.connect();
  const ns = link.key('cache', '');
  const memory = new MemoryCache(1024 * 1024, () => now);
  const cache = new RedisOrMemoryCache(link, new RedisCache(link, ns, () => now), memory);
  // Lazy, and retrying forever without a queue: a view that survives the restarts of the test's Redis.
  const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  return { link, memory, cache, ns, admin };
}

describe('RedisOrMemoryCache: Redis killed and restarted', () => {
  let own: OwnRedis;
  let s: Setup;

  beforeAll(async () => {
    own = await startOwnRedis();
    s = await setUp(own.url);
  });

  afterAll(async () => {
    await s.link.close();
    s.admin.disconnect();
    await own.close();
  });

  it('reads and writes Redis while it is up, and keeps nothing in memory', async () => {
    await s.cache.set([[`${s.ns}x|1`, entry('1')]]);
    expect(JSON.parse((await s.admin.get(`${s.ns}x|1`))!)).toEqual({ ...entry('1'), v: 1, place: `${s.ns}x|1`, at: now });
    expect(s.memory.size.entries).toBe(0);
    expect(timeless(await s.cache.get([`${s.ns}x|1`, `${s.ns}x|2`]))).toEqual([entry('1'), undefined]);
  });

  it('answers every call at the moment Redis dies, before the link has noticed', async () => {
    const calls = [s.cache.get([`${s.ns}x|1`]), s.cache.set([[`${s.ns}x|3`, entry('3')]])];
    const killed = own.kill();
    calls.push(s.cache.get([`${s.ns}x|1`]), s.cache.set([[`${s.ns}x|4`, entry('4')]]));
    await killed;
    calls.push(s.cache.get([`${s.ns}x|1`]), s.cache.set([[`${s.ns}x|5`, entry('5')]]));
    const outcomes = await Promise.allSettled(calls);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(Array(6).fill('fulfilled'));
    await s.link.waitUntil(false);
  });

  it('while Redis is gone, keeps and answers from memory', async () => {
    expect(s.link.up).toBe(false);
    const mget = vi.spyOn(s.link.client, 'mget');
    await s.cache.set([[`${s.ns}x|6`, entry('6')]]);
    expect(timeless(await s.cache.get([`${s.ns}x|6`, `${s.ns}x|1`]))).toEqual([entry('6'), undefined]); // x|1 was in Redis only
    expect(mget).not.toHaveBeenCalled(); // the link is down: Redis is not even tried
    mget.mockRestore();
    expect(s.memory.size.entries).toBeGreaterThanOrEqual(2); // x|6, and the writes that failed as Redis died
  });

  it('evicts from memory and says that Redis was not reached', async () => {
    await s.cache.set([[`${s.ns}x|7`, entry('7')]]);
    await expect(s.cache.evict(`${s.ns}x|`, '|7')).rejects.toThrow(/1 cache entries evicted from this process only/);
    expect(timeless(await s.cache.get([`${s.ns}x|7`]))).toEqual([undefined]);
  });

  it('uses Redis again once it is back, and still answers what it kept alone meanwhile', async () => {
    await own.restart();
    await s.link.waitUntil(true);
    await s.cache.set([[`${s.ns}x|8`, entry('8')]]);
    expect(await s.admin.exists(`${s.ns}x|8`)).toBe(1);
    const before = s.memory.size.entries;
    expect(timeless(await s.cache.get([`${s.ns}x|8`, `${s.ns}x|6`, `${s.ns}x|1`]))).toEqual([entry('8'), entry('6'), undefined]);
    expect(s.memory.size.entries).toBe(before); // x|8 went to Redis only

    // Both: what memory kept during the outage, and x|8 in Redis (the restarted Redis is empty otherwise).
    expect(await s.cache.evict(`${s.ns}x|`)).toBe(before + 1);
    expect(s.memory.size.entries).toBe(0);
    expect(timeless(await s.cache.get([`${s.ns}x|8`, `${s.ns}x|6`]))).toEqual([undefined, undefined]);
  });
});

describe('RedisOrMemoryCache: a command that fails while the link is up', () => {
  let s: Setup;

  beforeAll(async () => {
    s = await setUp(SHARED_REDIS_URL);
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  afterAll(async () => {
    await deleteKeysUnder(s.admin, s.link.prefix);
    await s.link.close();
    s.admin.disconnect();
  });

  it('answers that call from memory, with no error reaching the caller', async () => {
    vi.spyOn(s.link.client, 'mget').mockRejectedValueOnce(new Error('Command timed out'));
    vi.spyOn(s.link.client, 'pipeline').mockImplementationOnce(() => {
      throw new Error('Connection is closed.');
    });
    await s.cache.set([[`${s.ns}x|1`, entry('1')]]); // Redis failed: kept in memory
    expect(s.memory.size.entries).toBe(1);
    expect(timeless(await s.cache.get([`${s.ns}x|1`]))).toEqual([entry('1')]); // MGET failed: from memory
  });
});
