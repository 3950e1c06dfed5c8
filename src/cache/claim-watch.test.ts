import { Cluster, Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisLink } from '../redis/link.js';
import { ManualClock } from '../testing/manual-clock.js';
import { deleteKeysUnder, SHARED_REDIS_TOPOLOGY, sharedRedis, startOwnRedis, uniquePrefix } from '../testing/redis.js';
import { untilIo } from '../testing/until-io.js';
import { ClaimWatch } from './claim-watch.js';

/**
 * The watch on real Redis (the run's own, whatever its topology, under a prefix of this test's own), its looks
 * on a manual clock: what wakes a waiter, and what does not.
 */

const logger = pino({ level: 'silent' });
const admin = sharedRedis();
const prefix = uniquePrefix('claim-watch');
let link: RedisLink;

beforeAll(async () => {
  link = new RedisLink({ topology: SHARED_REDIS_TOPOLOGY, prefix, commandTimeoutMs: 2_000, logger });
  expect(await link.connect()).toBe(true);
});
afterEach(async () => {
  await deleteKeysUnder(admin, prefix);
});
afterAll(async () => {
  await link.close();
  await admin.quit();
});

/**
 * How many connections are subscribed to `channel`: PUBSUB NUMSUB counts those of the node asked, and a Cluster's
 * subscriber may be on any of its nodes.
 */
async function subscribers(channel: string): Promise<number> {
  const nodes = admin instanceof Cluster ? admin.nodes('all') : [admin];
  const counts = await Promise.all(nodes.map(async (node) => ((await node.pubsub('NUMSUB', channel)) as [string, number])[1]));
  return counts.reduce((sum, count) => sum + count, 0);
}

function watchOn(clock: ManualClock, on: RedisLink = link) {
  return new ClaimWatch(on, clock, `${prefix}released`, 5, 100);
}

/** A promise's state, without waiting for it. */
function track(promise: Promise<void>) {
  const state = { settled: false, error: undefined as unknown };
  promise.then(
    () => {
      state.settled = true;
    },
    (error: unknown) => {
      state.settled = true;
      state.error = error;
    },
  );
  return state;
}

describe('ClaimWatch', () => {
  it('a key still held keeps its waiters waiting; given back here, every waiter on it wakes at once, and the watch ends', async () => {
    const clock = new ManualClock();
    const watch = watchOn(clock);
    const key = `${prefix}claim:1`;
    await admin.set(key, 'another-replica', 'PX', 10_000);
    const waiters = Array.from({ length: 3 }, () => track(watch.wait([key], 10_000, new AbortController().signal)));
    await clock.advance(300); // several looks: the claim is still there
    expect(waiters.some((w) => w.settled)).toBe(false);
    expect(watch.size).toBe(1); // one watch for the three
    watch.released([key]);
    await untilIo(() => waiters.every((w) => w.settled));
    expect(waiters.every((w) => w.error === undefined)).toBe(true);
    expect(watch.size).toBe(0);
  });

  it('another replica’s release message wakes it, without a look', async () => {
    const clock = new ManualClock();
    const watch = watchOn(clock);
    const key = `${prefix}claim:2`;
    await admin.set(key, 'another-replica', 'PX', 10_000);
    const waiter = track(watch.wait([key], 10_000, new AbortController().signal));
    await clock.advance(1); // the subscription is made on the first wait
    // The subscription is in place once Redis counts it (asked, not slept on).
    while ((await subscribers(`${prefix}released`)) === 0);
    const publisher = sharedRedis();
    try {
      await publisher.publish(`${prefix}released`, `${prefix}claim:unrelated\n${key}`);
      await untilIo(() => waiter.settled);
    } finally {
      publisher.disconnect();
    }
    expect(clock.now()).toBe(1);
  });

  it('a claim that lapsed (its replica died: no message) is seen gone by the look', async () => {
    const clock = new ManualClock();
    const watch = watchOn(clock);
    const key = `${prefix}claim:3`; // never set: as a lapsed one
    const waiter = track(watch.wait([key], 10_000, new AbortController().signal));
    await clock.advance(5);
    await untilIo(() => waiter.settled);
    expect(waiter.error).toBeUndefined();
  });

  it("'stored' waits for the entry, not for a claim", async () => {
    const clock = new ManualClock();
    const watch = watchOn(clock);
    const entry = `${prefix}cache:4`;
    const waiter = track(watch.wait([entry], 10_000, new AbortController().signal, 'stored'));
    await clock.advance(300);
    expect(waiter.settled).toBe(false);
    await admin.set(entry, '{}', 'PX', 10_000);
    await clock.advance(100);
    await untilIo(() => waiter.settled);
  });

  it('gives up after its time, and an aborted wait rejects with the reason and leaves the watch', async () => {
    const clock = new ManualClock();
    const watch = watchOn(clock);
    const key = `${prefix}claim:5`;
    await admin.set(key, 'another-replica', 'PX', 10_000);
    const timed = track(watch.wait([key], 250, new AbortController().signal));
    const controller = new AbortController();
    const aborted = track(watch.wait([key], 10_000, controller.signal));
    await clock.advance(250);
    await untilIo(() => timed.settled);
    expect(aborted.settled).toBe(false);
    controller.abort(new Error('client gone'));
    await untilIo(() => aborted.settled);
    expect((aborted.error as Error).message).toBe('client gone');
    expect(watch.size).toBe(0);
  });

  // Kills a redis-server of its own: one node, whatever the topology the suite runs on (the default project runs it).
  it.skipIf(SHARED_REDIS_TOPOLOGY.kind !== 'node')('Redis unreachable: every waiter wakes to find out for itself', async () => {
    const own = await startOwnRedis();
    const ownLink = new RedisLink({ url: own.url, prefix, commandTimeoutMs: 200, logger });
    try {
      expect(await ownLink.connect()).toBe(true);
      const clock = new ManualClock();
      const watch = watchOn(clock, ownLink);
      const key = `${prefix}claim:6`;
      const raw = new Redis(own.url);
      await raw.set(key, 'another-replica', 'PX', 10_000);
      raw.disconnect();
      const waiter = track(watch.wait([key], 10_000, new AbortController().signal));
      await own.kill();
      await ownLink.waitUntil(false);
      await clock.advance(5);
      await untilIo(() => waiter.settled);
      expect(waiter.error).toBeUndefined();
    } finally {
      await ownLink.close();
      await own.close();
    }
  });
});
