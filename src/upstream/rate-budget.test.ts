import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RedisTopology } from '../core/settings.js';
import { RedisLink } from '../redis/link.js';
import { ManualClock } from '../testing/manual-clock.js';
import {
  deleteKeysUnder,
  keysUnder,
  type OwnRedis,
  SHARED_REDIS_TOPOLOGY,
  sharedRedis,
  startOwnRedis,
  uniquePrefix,
} from '../testing/redis.js';
import { MemoryRateBudget, type RateBudgetKey, RedisRateBudget } from './rate-budget.js';

/**
 * Rate budgets: in memory on a manual clock, and shared through a real Redis by "replicas" that are
 * separate links and separate clocks reading the same wall time. Nothing waits on real time: every
 * wait asserted is read from a clock the test moves.
 */

const silent = pino({ level: 'silent' });
const USERS: RateBudgetKey = { provider: 'x', scope: '', label: 'GET /2/users' };

describe('MemoryRateBudget', () => {
  it('blocks a key from an answer saying none remain until its reset, to the millisecond', async () => {
    const clock = new ManualClock();
    const budget = new MemoryRateBudget(clock);
    expect(await budget.blockedForMs(USERS)).toBe(0);
    await budget.note(USERS, { remaining: 0, resetInMs: 400 });
    expect(await budget.blockedForMs(USERS)).toBe(400);
    await clock.advance(399);
    expect(await budget.blockedForMs(USERS)).toBe(1);
    await clock.advance(1);
    expect(await budget.blockedForMs(USERS)).toBe(0);
    expect(clock.pending).toBe(0); // a block is a time, not a timer
  });

  it('keeps sending while budget remains, and ignores a spent budget whose reset is already past', async () => {
    const budget = new MemoryRateBudget(new ManualClock());
    await budget.note(USERS, { remaining: 3, resetInMs: 90_000 });
    expect(await budget.blockedForMs(USERS)).toBe(0);
    await budget.note(USERS, { remaining: 0, resetInMs: 0 });
    expect(await budget.blockedForMs(USERS)).toBe(0);
  });

  it('a late answer of the blocked window does not lift the block; an answer of a later window does', async () => {
    const clock = new ManualClock();
    const budget = new MemoryRateBudget(clock);
    await budget.note(USERS, { remaining: 0, resetInMs: 60_000 });
    // A call that left before the window was spent answers afterwards, counted earlier: same reset.
    await clock.advance(200);
    expect(budget.noteNow(USERS, { remaining: 2, resetInMs: 59_800 })).toBe('unchanged');
    expect(await budget.blockedForMs(USERS)).toBe(59_800);
    // The upstream opened a new window early: its answer resets 15 minutes on.
    expect(budget.noteNow(USERS, { remaining: 299, resetInMs: 900_000 })).toBe('lifted');
    expect(await budget.blockedForMs(USERS)).toBe(0);
  });

  it('keeps the later of two blocks', async () => {
    const budget = new MemoryRateBudget(new ManualClock());
    expect(budget.noteNow(USERS, { remaining: 0, resetInMs: 90_000 })).toBe('blocked');
    expect(budget.noteNow(USERS, { remaining: 0, resetInMs: 30_000 })).toBe('unchanged');
    expect(await budget.blockedForMs(USERS)).toBe(90_000);
  });

  it('forgets blocks whose reset passed once many are held (a scope per caller, never read again)', async () => {
    const clock = new ManualClock();
    const budget = new MemoryRateBudget(clock);
    for (let i = 0; i < 1_000; i++) budget.noteNow({ ...USERS, scope: `caller-${i}` }, { remaining: 0, resetInMs: 1_000 });
    await budget.note(USERS, { remaining: 0, resetInMs: 60_000 });
    expect(budget.size).toBe(1_001); // none expired yet: all kept
    await clock.advance(1_000);
    await budget.note({ ...USERS, label: 'GET /2/tweets' }, { remaining: 0, resetInMs: 60_000 });
    expect(budget.size).toBe(2);
    expect(await budget.blockedForMs(USERS)).toBe(59_000);
  });

  it('keeps one budget per provider, credential scope and label', async () => {
    const budget = new MemoryRateBudget(new ManualClock());
    await budget.note(USERS, { remaining: 0, resetInMs: 5_000 });
    expect(await budget.blockedForMs({ ...USERS, label: 'GET /2/tweets' })).toBe(0);
    expect(await budget.blockedForMs({ ...USERS, scope: 'caller-hash' })).toBe(0);
    expect(await budget.blockedForMs({ ...USERS, provider: 'other' })).toBe(0);
    expect(await budget.blockedForMs({ ...USERS })).toBe(5_000);
  });
});

describe('RedisRateBudget: shared by replicas through Redis', () => {
  const admin = sharedRedis();
  const links: RedisLink[] = [];
  let prefix: string;

  /** One replica: its own link and its own clock, at the same wall time as the others unless moved. */
  async function replica(
    topology: RedisTopology = SHARED_REDIS_TOPOLOGY,
    commandTimeoutMs = 1_000,
  ): Promise<{ budget: RedisRateBudget; clock: ManualClock; link: RedisLink }> {
    const link = new RedisLink({ topology, prefix, commandTimeoutMs, logger: silent });
    links.push(link);
    await link.connect();
    const clock = new ManualClock();
    return { budget: new RedisRateBudget(link, clock), clock, link };
  }

  beforeAll(() => {
    prefix = uniquePrefix('rate-budget');
  });

  afterEach(async () => {
    await Promise.all(links.splice(0).map((link) => link.close()));
    await deleteKeysUnder(admin, prefix);
  });

  afterAll(async () => {
    await admin.quit();
  });

  it("one replica's spent budget blocks another, which then knows it without asking Redis again", async () => {
    const a = await replica();
    const b = await replica();
    await a.budget.note(USERS, { remaining: 0, resetInMs: 90_000 });

    const [key] = await keysUnder(admin, prefix);
    expect(key).toBe(`${prefix}budget:x::GET%20%2F2%2Fusers`);
    expect(Number(await admin.get(key!))).toBe(a.clock.wallNow() + 90_000);
    const ttl = await admin.pttl(key!);
    expect(ttl).toBeGreaterThan(80_000); // expires at the reset
    expect(ttl).toBeLessThanOrEqual(90_000);

    expect(await b.budget.blockedForMs(USERS)).toBe(90_000);
    await b.clock.advance(30_000);
    expect(await b.budget.blockedForMs(USERS)).toBe(60_000);

    // B learnt it: with the key gone from Redis, B is still blocked, a replica that never read it is not.
    await admin.del(key!);
    expect(await b.budget.blockedForMs(USERS)).toBe(60_000);
    const c = await replica();
    expect(await c.budget.blockedForMs(USERS)).toBe(0);
  });

  it('keeps one shared budget per provider, credential scope and label, whatever characters they hold', async () => {
    const a = await replica();
    const b = await replica();
    await a.budget.note({ provider: 'x', scope: 'a:b', label: 'c' }, { remaining: 0, resetInMs: 5_000 });
    await a.budget.note({ provider: 'x', scope: '*', label: 'GET /2/users' }, { remaining: 0, resetInMs: 5_000 });
    // Parts that would run together if they were only joined with ':'.
    expect(await b.budget.blockedForMs({ provider: 'x', scope: 'a', label: 'b:c' })).toBe(0);
    expect(await b.budget.blockedForMs({ provider: 'x:a', scope: 'b', label: 'c' })).toBe(0);
    // A glob character is a scope like any other.
    expect(await b.budget.blockedForMs({ provider: 'x', scope: '', label: 'GET /2/users' })).toBe(0);
    expect(await b.budget.blockedForMs({ provider: 'x', scope: '*', label: 'GET /2/users' })).toBe(5_000);
    expect(await b.budget.blockedForMs({ provider: 'x', scope: 'a:b', label: 'c' })).toBe(5_000);
    expect(await keysUnder(admin, prefix)).toHaveLength(2);
  });

  it('keeps the later block when replicas heard different windows, in either order', async () => {
    const a = await replica();
    const b = await replica();
    await a.budget.note(USERS, { remaining: 0, resetInMs: 90_000 });
    await b.budget.note(USERS, { remaining: 0, resetInMs: 30_000 }); // B did not know A's
    const c = await replica();
    expect(await c.budget.blockedForMs(USERS)).toBe(90_000);
  });

  it('an answer of a later window lifts the shared block; a late answer of the blocked window does not', async () => {
    const a = await replica();
    const b = await replica();
    await a.budget.note(USERS, { remaining: 0, resetInMs: 10_000 });
    await a.budget.note(USERS, { remaining: 4, resetInMs: 9_900 });
    expect(await b.budget.blockedForMs(USERS)).toBe(10_000);

    await a.budget.note(USERS, { remaining: 299, resetInMs: 900_000 });
    expect(await a.budget.blockedForMs(USERS)).toBe(0);
    expect(await keysUnder(admin, prefix)).toEqual([]);
    const c = await replica();
    expect(await c.budget.blockedForMs(USERS)).toBe(0);
  });

  it('writes nothing for answers that leave budget', async () => {
    const a = await replica();
    for (let i = 0; i < 5; i++) await a.budget.note(USERS, { remaining: 100 - i, resetInMs: 60_000 });
    expect(await keysUnder(admin, prefix)).toEqual([]);
  });

  // Kill and pause a redis-server of their own: one node, whatever the topology the suite runs on (the default
  // project runs them).
  describe('without Redis', { skip: SHARED_REDIS_TOPOLOGY.kind !== 'node' }, () => {
    const node = (): RedisTopology => ({ kind: 'node', url: own!.url });
    let own: OwnRedis | undefined;
    afterEach(async () => {
      await own?.close();
      own = undefined;
    });

    it('answers from memory alone, never failing, while Redis is lost; shares again once it is back', async () => {
      own = await startOwnRedis();
      const a = await replica(node());
      const b = await replica(node());
      await a.budget.note(USERS, { remaining: 0, resetInMs: 5_000 });
      expect(await b.budget.blockedForMs(USERS)).toBe(5_000);

      await own.kill();
      await Promise.all([a.link.waitUntil(false), b.link.waitUntil(false)]);
      const c = await replica(node()); // starts with Redis down
      expect(c.link.up).toBe(false);
      expect(await c.budget.blockedForMs(USERS)).toBe(0); // it cannot know: not blocked
      expect(await a.budget.blockedForMs(USERS)).toBe(5_000); // what A heard itself
      const other = { ...USERS, label: 'GET /2/tweets' };
      await c.budget.note(other, { remaining: 0, resetInMs: 7_000 }); // kept locally, no rejection
      expect(await c.budget.blockedForMs(other)).toBe(7_000);

      await own.restart();
      await Promise.all([a.link.waitUntil(true), c.link.waitUntil(true)]);
      await a.budget.note(other, { remaining: 0, resetInMs: 3_000 });
      const d = await replica(node());
      expect(await d.budget.blockedForMs(other)).toBe(3_000);
    });

    it('a command that fails while the link looks up answers from memory', async () => {
      own = await startOwnRedis();
      const a = await replica(node());
      await a.budget.note(USERS, { remaining: 0, resetInMs: 5_000 });
      const b = await replica(node(), 100);
      own.pause(); // hangs: the GET times out
      expect(await b.budget.blockedForMs(USERS)).toBe(0);
      expect(b.link.up).toBe(false); // the link counts a timeout as lost until a PING answers
      expect(await a.budget.blockedForMs(USERS)).toBe(5_000);
      own.resume();
      await b.link.waitUntil(true);
      expect(await b.budget.blockedForMs(USERS)).toBe(5_000);
    });
  });
});
