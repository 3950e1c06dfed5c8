import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisLink } from '../redis/link.js';
import { type OwnRedis, startOwnRedis } from '../testing/redis.js';
import type { CacheEntry } from './entry.js';
import { RecordWrites, RedisFetchClaims } from './fetch-claims.js';
import { RedisCache } from './redis-cache.js';

/**
 * The order of a record's write and its claim's release on one node (a redis-server of this test's own: it is
 * paused). There both go down one connection, which Redis runs in order: the release is sent at once, never
 * waiting for the write, and a claim's read goes beside its script. The Cluster, where they may not wait, is in
 * `on-cluster.test.ts`.
 */

const silent = pino({ level: 'silent' });
const CACHE = 'fetch-claims:cache:';
const CLAIMS = 'fetch-claims:claim:';
const placeOf = (id: string) => `${CACHE}x|users|||${id}`;
const claimOf = (id: string) => `${CLAIMS}{x|users||}|${id}`;
const entry = (id: string): CacheEntry => ({
  record: { id },
  fields: ['id'],
  freshUntil: Date.now() + 60_000,
  staleUntil: Date.now() + 120_000,
  at: Date.now(),
});

describe('RecordWrites', () => {
  it('keeps each key until its latest write settles', async () => {
    const writes = new RecordWrites();
    expect(writes.settled(['a'])).toBeUndefined();
    let first!: () => void;
    let second!: () => void;
    writes.track(
      [
        ['a', null],
        ['b', null],
      ],
      new Promise<void>((resolve) => {
        first = resolve;
      }),
    );
    writes.track(
      [['b', null]],
      new Promise<void>((resolve) => {
        second = resolve;
      }),
    );
    expect(writes.settled(['c'])).toBeUndefined();
    let settled = false;
    void writes.settled(['a', 'b', 'c'])!.then(() => {
      settled = true;
    });
    first();
    await new Promise((resolve) => setImmediate(resolve));
    // `b`'s latest write, sent after the first down the same connection, is still pending.
    expect(settled).toBe(false);
    expect(writes.settled(['a'])).toBeUndefined();
    second();
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(true);
    expect(writes.size).toBe(0);
  });
});

describe('on one node', () => {
  let redis: OwnRedis;
  let admin: Redis;
  let holder: RedisLink;
  let waiter: RedisLink;

  beforeAll(async () => {
    redis = await startOwnRedis();
    admin = new Redis(redis.url, { maxRetriesPerRequest: 0 });
    // A held write must outlast no command timeout.
    holder = new RedisLink({ url: redis.url, prefix: 'fetch-claims:', commandTimeoutMs: 30_000, logger: silent });
    waiter = new RedisLink({ url: redis.url, prefix: 'fetch-claims:', commandTimeoutMs: 30_000, logger: silent });
    expect(await holder.connect()).toBe(true);
    expect(await waiter.connect()).toBe(true);
  });

  afterAll(async () => {
    await holder?.close();
    await waiter?.close();
    await admin?.quit();
    await redis?.close();
  });

  /** Resolves once `count` clients wait on the paused server (a client held by CLIENT PAUSE counts as blocked). */
  async function heldClients(count: number): Promise<void> {
    await expect.poll(async () => /blocked_clients:(\d+)/.exec(await admin.info('clients'))?.[1]).toBe(String(count));
  }

  it('gives a claim back at once, whatever write of its entry is pending: the write went down the same connection before', async () => {
    const writes = new RecordWrites();
    const claims = new RedisFetchClaims(holder, CACHE, CLAIMS, 20_000, undefined, undefined, writes);
    expect((await claims.claim([placeOf('1')], async () => null))[0]).toEqual(['nobody']);
    writes.track([[placeOf('1'), entry('1')]], new Promise<void>(() => {}));
    claims.release([placeOf('1')]);
    await expect.poll(() => admin.get(claimOf('1'))).toBeNull();
  });

  it("a claim taken once its holder gave it back reads the holder's answer, the read sent beside the claim", async () => {
    const mine = new RedisFetchClaims(holder, CACHE, CLAIMS, 20_000);
    const theirs = new RedisFetchClaims(waiter, CACHE, CLAIMS, 20_000);
    // Their script is cached: the claim and its read go out together.
    await theirs.claim([placeOf('warm')], async () => null);
    expect((await mine.claim([placeOf('2')], async () => null))[0]).toEqual(['nobody']);

    await admin.call('CLIENT', 'PAUSE', '30000', 'WRITE');
    let claimed: Promise<[unknown, Array<CacheEntry | undefined>]>;
    try {
      // The holder's write, then its release, sent without waiting; held by the paused server…
      void new RedisCache(holder, CACHE).set([[placeOf('2'), entry('2')]]);
      mine.release([placeOf('2')]);
      await heldClients(1);
      // …before their claim and its read, held behind them: Redis takes held clients back in the order it held them.
      claimed = theirs.claim([placeOf('2')], () => new RedisCache(waiter, CACHE).get([placeOf('2')]));
      await heldClients(2);
    } finally {
      await admin.call('CLIENT', 'UNPAUSE');
    }
    const [holders, entries] = await claimed;
    expect(holders).toEqual(['nobody']);
    expect(entries[0]?.record).toEqual({ id: '2' });
    theirs.release([placeOf('2'), placeOf('warm')]);
  });
});
