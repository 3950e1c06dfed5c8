import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { NOTHING_TO_SEND } from '../core/lookup.js';
import { RedisLink } from '../redis/link.js';
import { captureLogs } from '../testing/log-capture.js';
import { ManualClock } from '../testing/manual-clock.js';
import { deleteKeysUnder, keysUnder, SHARED_REDIS_TOPOLOGY, sharedRedis, startOwnRedis, uniquePrefix } from '../testing/redis.js';
import { RedisWindowBudget } from './call-budget.js';
import { RedisSharedQueue } from './shared-queue.js';

/**
 * The queue the replicas share, on the run's shared Redis (one node, and a Cluster and a Sentinel's master in the
 * sharing projects, vitest.config.ts): replica A parks what it holds, replica B's
 * permit takes it along; A hears it was taken, once; nothing is taken without a permit, or past a call's
 * room; and every key the scripts touch carries one hash tag.
 */

const silent = captureLogs('silent').logger;
const WINDOW = { limit: 40, windowMs: 900_000 };
const links: RedisLink[] = [];
const prefixes: string[] = [];
const admin = sharedRedis();

afterEach(async () => {
  await Promise.all(links.splice(0).map((link) => link.close()));
  for (const prefix of prefixes.splice(0)) await deleteKeysUnder(admin, prefix);
});
afterAll(async () => {
  await admin.quit();
});

const now = () => Date.UTC(2026, 0, 1);

/** Two replicas' views of one queue (and its ledger), under a prefix of the test's own. */
async function twoReplicas(limit = WINDOW.limit): Promise<{ a: RedisSharedQueue; b: RedisSharedQueue; link: RedisLink; prefix: string }> {
  const prefix = uniquePrefix('shared-queue');
  prefixes.push(prefix);
  const link = new RedisLink({ topology: SHARED_REDIS_TOPOLOGY, prefix, commandTimeoutMs: 2_000, logger: silent });
  links.push(link);
  expect(await link.connect()).toBe(true);
  const ledger = link.key('{x:}', 'budget', 'GET /2/users');
  const queue = `${link.key('{x:}')}:queue:users`;
  const window = { ...WINDOW, limit };
  const local = new RedisWindowBudget(link, ledger, window, new ManualClock(), now);
  const replica = (me: string) => new RedisSharedQueue(link, ledger, queue, window, local, now, me);
  return { a: replica('replica-a'), b: replica('replica-b'), link, prefix };
}

const ids = (from: number, count: number) => Array.from({ length: count }, (_, i) => String(from + i));

describe('RedisSharedQueue', () => {
  it("a permit takes the other replica's parked keys, with their fields, into the call; the owner hears it once", async () => {
    const { a, b } = await twoReplicas();
    await a.park(ids(1, 3).map((key) => ({ key, fields: ['description', 'name'] })));
    const take = await b.take('window', ['50', '51'], 100);
    expect(take).toEqual({
      permit: { granted: true },
      takenFromMe: [],
      theirs: ids(1, 3).map((key) => ({ key, fields: ['description', 'name'] })),
    });
    expect(await a.taken(['1', '2', '3', '4'])).toEqual(['1', '2', '3']);
    expect(await a.taken(['1', '2', '3'])).toEqual([]);
  });

  it("takes nothing of another's without a permit, but says what was taken from the caller all the same", async () => {
    const { a, b } = await twoReplicas(1);
    await a.park([{ key: '1', fields: [] }]);
    await b.park([{ key: '2', fields: [] }]);
    // The one call of the window: A's, which carries B's key.
    expect(await a.take('window', ['1'], 100)).toMatchObject({ permit: { granted: true }, theirs: [{ key: '2', fields: [] }] });
    await a.park([{ key: '3', fields: [] }]);
    const refused = await b.take('window', ['2', '4'], 100);
    expect(refused).toEqual({ permit: { granted: false, retryInMs: 900_000, exhausted: true }, takenFromMe: ['2'], theirs: [] });
  });

  it('takes no permit when another replica took every key of the call, nor carries the parked keys of others for it', async () => {
    const { a, b } = await twoReplicas(2);
    await a.park([{ key: '1', fields: [] }]);
    // The first call of the window: B's, which carries A's key.
    expect(await b.take('window', ['9'], 100)).toMatchObject({ permit: { granted: true }, theirs: [{ key: '1', fields: [] }] });
    await b.park([{ key: '10', fields: [] }]);
    // A's call would carry nothing of its own: no call, so the window keeps its second call; B's parked key stays B's.
    const nothing = await a.take('window', ['1'], 100);
    expect(nothing).toEqual({ permit: NOTHING_TO_SEND, takenFromMe: ['1'], theirs: [] });
    // The very answer the planner tells apart from a refusal.
    expect(nothing.permit).toBe(NOTHING_TO_SEND);
    expect(await a.take('window', ['2'], 100)).toEqual({ permit: { granted: true }, takenFromMe: [], theirs: [{ key: '10', fields: [] }] });
  });

  it("never takes the caller's own parked keys as another's, and never more than the call's room", async () => {
    const { a, b } = await twoReplicas();
    await a.park(ids(1, 150).map((key) => ({ key, fields: [] })));
    await b.park([{ key: 'b-own', fields: [] }]);
    const take = await b.take('window', ids(1001, 10), 100);
    expect(take.theirs.map(({ key }) => key)).toEqual(ids(1, 90));
    // A's next call: its own keys (those not taken), and B's parked one.
    const next = await a.take('window', ids(85, 10), 100);
    expect(next.takenFromMe).toEqual(ids(85, 6));
    expect(next.theirs.map(({ key }) => key)).toEqual(['b-own']);
  });

  it('unparked keys are not taken', async () => {
    const { a, b } = await twoReplicas();
    await a.park(ids(1, 2).map((key) => ({ key, fields: [] })));
    await a.unpark(['1']);
    expect((await b.take('window', ['9'], 100)).theirs.map(({ key }) => key)).toEqual(['2']);
  });

  it('keeps every key under the ledger hash tag, each expiring by itself', async () => {
    const { a, b, prefix } = await twoReplicas();
    await a.park(ids(1, 2).map((key) => ({ key, fields: ['name'] })));
    // B's call has room for one of A's two: the queue keeps the other.
    await b.take('window', ids(1001, 99), 100);
    const keys = await keysUnder(admin, prefix);
    expect(keys.length).toBe(4);
    for (const key of keys) {
      expect(key).toContain('{x:}');
      expect(await admin.pttl(key)).toBeGreaterThan(0);
    }
  });

  // A redis-server of its own, killed: one node, whatever the topology the suite runs on (the default project runs it).
  it.skipIf(SHARED_REDIS_TOPOLOGY.kind !== 'node')(
    'answers as this replica alone when Redis is gone: a permit from its own ledger, nothing taken',
    async () => {
      const own = await startOwnRedis();
      const link = new RedisLink({ url: own.url, prefix: uniquePrefix('shared-queue'), commandTimeoutMs: 200, logger: silent });
      links.push(link);
      expect(await link.connect()).toBe(true);
      const ledger = link.key('{x:}', 'budget', 'GET /2/users');
      const local = new RedisWindowBudget(link, ledger, WINDOW, new ManualClock(), now);
      const queue = new RedisSharedQueue(link, ledger, `${link.key('{x:}')}:queue:users`, WINDOW, local, now, 'replica-a');
      await own.kill();
      await queue.park([{ key: '1', fields: [] }]);
      expect(await queue.take('window', ['1'], 100)).toEqual({ permit: { granted: true }, takenFromMe: [], theirs: [] });
      expect(await queue.taken(['1'])).toEqual([]);
      await own.close();
    },
  );
});
